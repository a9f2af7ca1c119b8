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
    address: "{address}"
  - name: worker
    kind: temporal.worker
    client: app:temporal_client
    task_queue: "{tq}"
"""


def app_index(
    task_queue: str,
    entries_yaml: str = "",
    worker_extra: str = "",
    address: str = "localhost:7233",
) -> str:
    """An app's ``_index.yaml`` text (namespace ``app``).

    ``task_queue``: the queue of ``app:worker``, whose client is ``app:temporal_client``
    (at ``address``, host:port). ``worker_extra``: YAML lines added to the worker entry (e.g.
    ``"worker_options: {...}"``). ``entries_yaml``: the further entries as a YAML list (dedented,
    then put under ``entries:``). The header is ten lines (plus ``worker_extra``'s), as the
    files it replaced, so line numbers a test expects in the entries stay put.
    """
    out = _HEADER.format(tq=task_queue, address=address)
    if worker_extra:
        out += textwrap.indent(textwrap.dedent(worker_extra).rstrip("\n") + "\n", "    ")
    return out + textwrap.indent(textwrap.dedent(entries_yaml), "  ")
