"""App YAML shared by unit and integration tests: the standard header every test app starts with."""

from __future__ import annotations

import textwrap

#: The lines before the entries; the worker's block ends without a newline so that
#: ``worker_extra`` lines can follow it.
_HEADER = """\
version: "1.0"
namespace: app
entries:
  - name: temporal_client
    kind: temporal.client
    address: "localhost:7233"
  - name: worker
    kind: temporal.worker
    client: app:temporal_client
    task_queue: "{tq}"
"""


def app_index(task_queue: str, entries_yaml: str = "", worker_extra: str = "") -> str:
    """An app's ``_index.yaml`` text (namespace ``app``).

    ``task_queue``: the queue of ``app:worker``, whose client is ``app:temporal_client``
    (localhost:7233). ``worker_extra``: YAML lines added to the worker entry (e.g.
    ``"worker_options: {...}"``). ``entries_yaml``: the further entries as a YAML list (dedented,
    then put under ``entries:``). The header is always ten lines, so line numbers that a test
    expects in the entries do not depend on this helper.
    """
    out = _HEADER.format(tq=task_queue)
    if worker_extra:
        out += textwrap.indent(textwrap.dedent(worker_extra).rstrip("\n") + "\n", "    ")
    return out + textwrap.indent(textwrap.dedent(entries_yaml), "  ")
