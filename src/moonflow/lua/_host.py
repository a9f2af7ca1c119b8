"""Host functions shared by every Lua context (workflow, activity, tests).

Subclasses provide the clock and randomness: the workflow host reads Temporal's deterministic
workflow state, the activity host the real machine. Every method is called from Lua; methods
that can fail return ``(None, message)`` instead of raising (a Python exception crossing into
Lua would reach user code as an opaque value).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from datetime import datetime
from typing import Any

from .. import durations

log = logging.getLogger("moonflow.lua")  # Lua print() and the logger module


class BaseHost:
    """Shared host behaviour; ``state`` is set by the owner once the LuaState exists."""

    state: Any = None

    def parse_duration(self, value: Any) -> Any:
        """Go duration string (or number of ns) -> integer nanoseconds, or (None, message)."""
        try:
            return durations.lua_duration_ns(value)
        except durations.DurationError as e:
            return None, str(e)

    def format_duration(self, ns: int) -> str:
        return durations.format_ns(int(ns))

    def parse_time(self, text: Any) -> Any:
        """RFC 3339 text -> Unix nanoseconds, or (None, message)."""
        if not isinstance(text, str):
            return None, 'expected an RFC 3339 time string like "2026-01-02T15:04:05Z"'
        s = text.strip()
        frac_ns = 0
        try:
            # Split off fractional seconds ourselves: datetime keeps only microseconds.
            main, _, rest = s.partition(".")
            if rest:
                digits = "".join(c for c in rest if c.isdigit())
                tz = rest[len(digits) :]
                frac_ns = int((digits + "000000000")[:9])
                s = main + tz
            s = s.replace("Z", "+00:00").replace("z", "+00:00")
            dt = datetime.fromisoformat(s)
        except ValueError:
            return None, f"invalid RFC 3339 time {text!r}"
        if dt.tzinfo is None:
            return None, f"time {text!r} has no time zone: add Z or an offset like +02:00"
        return int(dt.timestamp()) * durations.SECOND + frac_ns

    def log(self, level: str, message: str, fields: Any = None) -> None:
        extra = ""
        if fields is not None and self.state is not None:
            try:
                extra = " " + repr(self.state.to_python(fields, "fields"))
            except Exception:  # noqa: BLE001 - logging must never fail the caller
                extra = ""
        lvl = getattr(logging, str(level).upper(), logging.INFO)
        self._logger().log(lvl, "%s%s", message, extra)

    def _logger(self) -> Any:
        return log

    def context(self) -> dict[str, Any]:
        """The context values the running code sees (``ctx`` module): none here."""
        return {}


class MachineHost(BaseHost):
    """Real clock and randomness (activities, tests)."""

    def now_ns(self) -> int:
        return time.time_ns()

    def random_seed(self) -> int:
        return random.getrandbits(63)

    def time_left(self) -> float | None:
        """Seconds until the current activity attempt's deadline, or None without one."""
        return None

    def sleep(self, ns: int) -> None:
        if ns > 0:
            time.sleep(ns / durations.SECOND)

    def uuid4(self) -> str:
        return str(uuid.uuid4())

    def call_function(self, entry_id: str, args: Any, context: Any) -> Any:
        err = self.state.new_error(
            "Unavailable",
            f"funcs.call({entry_id}) from activity code is not supported yet: call it from the "
            "workflow instead",
            False,
        )
        return None, err
