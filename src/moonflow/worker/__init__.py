"""Temporal workers for moonflow apps: the workflow driver, the Lua activity executor and
worker assembly."""

from ._assembly import build_workers
from ._driver import DriverConfig, WorkflowDriver

__all__ = ["DriverConfig", "WorkflowDriver", "build_workers"]
