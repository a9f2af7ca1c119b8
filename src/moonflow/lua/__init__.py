"""Sandboxed Lua 5.4 states (lupa), value conversion and the ``require`` loader."""

from ._convert import ConversionError, Converter
from ._host import BaseHost, MachineHost
from ._outcome import Outcome
from ._run import (
    DEFAULT_ACTIVITY_INSTRUCTION_BUDGET,
    DEFAULT_INSTRUCTION_BUDGET,
    DEFAULT_MAX_MEMORY,
    LuaRun,
    RunStopped,
)

__all__ = [
    "DEFAULT_ACTIVITY_INSTRUCTION_BUDGET",
    "DEFAULT_INSTRUCTION_BUDGET",
    "DEFAULT_MAX_MEMORY",
    "BaseHost",
    "ConversionError",
    "Converter",
    "LuaRun",
    "MachineHost",
    "Outcome",
    "RunStopped",
]
