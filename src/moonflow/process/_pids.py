"""PIDs of local processes.

A process on a process host prints as ``{<host entry id>|0x0000N}`` (the reference runtime's
``{node@host|uniq}`` without a node, reference-runtime.md §2.7; e.g. ``{app:processes|0x00002}``).
A workflow's PID keeps its own format, ``{client@worker|workflow id}`` (``moonflow.client``).
"""

from __future__ import annotations


def format_process_pid(host_id: str, number: int) -> str:
    """``{app:processes|0x00002}`` for process number 2 of host ``app:processes``."""
    return f"{{{host_id}|0x{number:05x}}}"


def parse_process_pid(text: str) -> tuple[str, int] | None:
    """``(host id, number)`` of a process PID, or None for anything else (a workflow PID,
    a registered name, a bare workflow id)."""
    if len(text) < 5 or text[0] != "{" or text[-1] != "}":
        return None
    head, sep, uniq = text[1:-1].partition("|")
    if not sep or "@" in head or not head or not uniq.startswith("0x"):
        return None
    try:
        return head, int(uniq, 16)
    except ValueError:
        return None
