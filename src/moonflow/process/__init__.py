"""Processes: ``process.lua`` actors and ``function.lua`` functions run outside workflows.

:class:`ProcessNode` runs them on the current event loop (see ``_node.py``); each is a
:class:`Process` (``_process.py``) whose commands ``_commands.py`` carries out. PIDs of local
processes print as ``{<host entry>|0x0000N}`` (``_pids.py``).
"""

from ._node import DEFAULT_HOST, ProcessNode, node_for
from ._pids import format_process_pid, parse_process_pid
from ._process import Process, Terminal
from ._services import Service, Supervisor, restart_delay

__all__ = [
    "DEFAULT_HOST",
    "Process",
    "Service",
    "Supervisor",
    "Terminal",
    "ProcessNode",
    "format_process_pid",
    "node_for",
    "parse_process_pid",
    "restart_delay",
]
