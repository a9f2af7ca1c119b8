"""Shared helpers of the registry tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from moonflow.errors import AppError

APPS = Path(__file__).parent / "apps"

#: A Lua file exporting ``main``.
MAIN_LUA = "local function main(input)\n    return input\nend\n\nreturn { main = main }\n"

#: A client + worker, lines 1-9; tests append entries from line 10 on.
BASE_YAML = """\
namespace: app
entries:
  - name: client
    kind: temporal.client
    address: localhost:7233
  - name: worker
    kind: temporal.worker
    client: client
    task_queue: q
"""


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def more(text: str) -> str:
    """Entries to append to :data:`BASE_YAML` (dedented, then indented under ``entries:``)."""
    return textwrap.indent(dedent(text), "  ")


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the ``nth`` line of ``text`` containing ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) >= nth, f"{needle!r} not found {nth} times"
    return hits[nth - 1]


def assert_error(
    err: AppError, file: str, line: int | None, entry_id: str | None, *fragments: str
) -> None:
    """``err`` names exactly ``file``/``line``/``entry_id``, is one line, and says each fragment."""
    text = str(err)
    assert "\n" not in text, text
    assert err.file == file, text
    assert err.line == line, text
    assert err.entry_id == entry_id, text
    where = file if line is None else f"{file}:{line}"
    prefix = ": ".join(p for p in (where, entry_id) if p)
    assert text.startswith(prefix + ": "), text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
