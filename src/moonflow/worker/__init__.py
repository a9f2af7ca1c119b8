"""Temporal workers for moonflow apps: the workflow driver, the Lua activity executor and
worker assembly."""

from ._assembly import build_workers, replayer_options
from ._driver import DriverConfig, IssuedCommand, WorkflowDriver

__all__ = ["DriverConfig", "IssuedCommand", "WorkflowDriver", "build_workers", "replayer_options"]
