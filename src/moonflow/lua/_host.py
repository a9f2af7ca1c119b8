"""The host: what Lua modules may ask of their environment, declared per host kind.

Modules (``modules/*.lua``, the Python module builders, ``sandbox.lua``) reach the outside
world only through the run's *host*, a Python object the run's owner provides. Lua fetches a
host method by name on first use (sandbox.lua's ``run.host`` table, filled by
``_run._host_getter``), and gets only the names the host's *kind* declares:

- :class:`HostAPI`: what every host provides (clock, randomness, UUIDs, logging, context
  values, duration and time parsing);
- :class:`WorkflowHostAPI` (:data:`WORKFLOW_API`): a workflow run's host
  (``worker._workflow_host.WorkflowHost``): answers from Temporal's deterministic workflow
  state, plus the ``workflow`` and ``process`` modules' needs;
- :class:`ActivityHostAPI` (:data:`ACTIVITY_API`): an activity call's host (:class:`MachineHost`,
  ``worker._activity.ActivityHost``): the real machine, plus blocking sleeps, the attempt's
  deadline and ``funcs.call``.

Each host class says which kind it is with the class attribute ``LUA_API`` (one of the
frozensets of :data:`HOST_APIS`); a run whose host class declares none fails at creation.
``tests/unit/lua/test_host_interface.py`` checks that every ``host.<name>`` a module calls is
declared for each kind whose code can load that module, and that each host class implements
every name its kind declares.

Adding a host kind (the process host, say) takes three things, next to the kind's host class
(here, or in the kind's own package):

1. a Protocol, ``class ProcessHostAPI(HostAPI, Protocol)`` (or based on another kind's
   Protocol, to include its methods), listing the methods the kind adds, each with a docstring
   (argument and result shapes, units, errors);
2. its names, ``PROCESS_API = host_api("process", ProcessHostAPI)``: this registers the kind in
   :data:`HOST_APIS` (and :data:`HOST_PROTOCOLS`), keyed by the run context that uses it;
3. ``LUA_API = PROCESS_API`` on the host class.

The test imports every moonflow module that calls ``host_api(`` or sets ``LUA_API =``, and
fails until its ``KINDS`` table says which catalogue column and module files the new kind's
runs load.

Conventions for every method: durations are integer nanoseconds, times integer Unix
nanoseconds; Lua tables arrive as Lua tables (convert with ``state.to_python``); methods that
can fail return ``(None, message)`` or ``(None, error)`` (an error made with
``state.new_error``) instead of raising: a Python exception crossing into Lua reaches user code
as an ``Internal`` error naming the method.

The classes below: :class:`BaseHost` (what all hosts share) and :class:`MachineHost` (the real
clock and randomness: activity calls, tests). Subclasses provide the clock and randomness: the
workflow host reads Temporal's deterministic workflow state, the activity host the real machine.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
import uuid
from datetime import datetime
from typing import Any, ClassVar, Protocol

from .. import durations

log = logging.getLogger("moonflow.lua")  # Lua print() and the logger module


class HostAPI(Protocol):
    """What every host provides, whatever its kind (all synchronous)."""

    def now_ns(self) -> int:
        """The current time as integer Unix nanoseconds: workflow time in workflows (the same
        on every replay), the machine's clock elsewhere."""
        ...

    def random_seed(self) -> int:
        """A fresh random non-negative integer below 2**63 (seeds ``math.random``, ``uuid``,
        ``crypto``): from the workflow's deterministic randomness in workflows, the machine's
        elsewhere."""
        ...

    def uuid4(self) -> str:
        """A random version 4 UUID as 36-character canonical text
        (``"xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"``); deterministic on replay in workflows."""
        ...

    def log(self, level: str, message: str, fields: Any = None) -> None:
        """Write one log line (``print``, the ``logger`` module). Never raises.

        Args:
            level: ``"debug"``, ``"info"``, ``"warn"`` or ``"error"`` (anything else: info).
            message: the text.
            fields: a Lua map table of structured fields, or None.
        """
        ...

    def context(self) -> dict[str, Any]:
        """The context values the running code sees (``ctx`` module), as a Python dict of
        JSON values (string keys); empty when there are none."""
        ...

    def refuse_in_query(self, what: str) -> None:
        """Raise ``RuntimeError`` naming ``what`` while a workflow's query handler runs (a
        draw from the workflow's randomness there would differ from a replay); a no-op
        elsewhere. Called by the Python modules that keep generators (uuid, crypto)."""
        ...

    def parse_duration(self, value: Any) -> Any:
        """A Go duration string (``"1h30m"``, ``"250ms"``) or a number of nanoseconds ->
        integer nanoseconds, or ``(None, message)``."""
        ...

    def format_duration(self, ns: int) -> str:
        """Integer nanoseconds -> Go duration text (``"1h30m0s"``)."""
        ...

    def parse_time(self, text: Any) -> Any:
        """RFC 3339 text with a time zone (``"2026-01-02T15:04:05.5Z"``) -> integer Unix
        nanoseconds, or ``(None, message)``."""
        ...


class WorkflowHostAPI(HostAPI, Protocol):
    """A workflow run's host: every answer comes from Temporal's deterministic workflow state,
    so a replay gets the same answers. Waiting (sleeps, activities, children) is not asked of
    the host: kernel runs yield commands the driver carries out."""

    def pid(self) -> str:
        """The run's PID text (``{client@worker|workflow id}``), or ``""`` when the run has no
        mailbox (unit tests)."""
        ...

    def update_reply(self, pid: str, topic: str, values: Any) -> Any:
        """Answer the pending update ``pid`` (``{update|...}``) with ``process.send``.

        Args:
            pid: the update's PID.
            topic: ``"ack"``, ``"nak"``, ``"ok"`` or ``"error"``.
            values: the sent values as a packed Lua table (``{n = count, ...}``); the first
                one, converted to JSON, is the reply.

        Returns:
            True, or ``(None, error)`` of kind ``Invalid`` (no such pending update, a reply out
            of order, a value that does not convert).
        """
        ...

    def all_handlers_finished(self) -> bool:
        """``workflow.all_handlers_finished``: True when every update this run received has
        been answered (``ok``, ``error`` or ``nak``); an update still waiting for Lua's answer,
        or not yet received from the mailbox, makes it False. (Signals have no handlers of
        their own here: they are messages.)"""
        ...

    def info(self) -> Any:
        """The run's facts as a Lua map table: ``workflow_id``, ``run_id``, ``workflow_type``,
        ``task_queue``, ``namespace`` (strings), ``attempt``, ``history_length`` (events),
        ``history_size`` (bytes), ``start_time_ns`` (Unix nanoseconds) (integers)."""
        ...

    def history_length(self) -> int:
        """The number of events in the run's history so far."""
        ...

    def history_size(self) -> int:
        """The size of the run's history so far, in bytes."""
        ...

    def version(self, change_id: str, min_v: int, max_v: int) -> int:
        """``workflow.version``: the version of ``change_id`` this run uses (Go GetVersion).

        A new run records ``max_v``; a replay gets what its history recorded; a history from
        before the call gives -1. A version outside ``min_v..max_v`` raises (fails the workflow
        *task*, so the run resumes once the code supports it again), even under ``pcall``.
        """
        ...

    def upsert_attrs(self, search: Any, memo: Any) -> Any:
        """``workflow.attrs``: upsert search attributes and memo fields.

        Args:
            search: a Lua map table (name -> value; nil value: unset), or None. Every name must
                be declared in the temporal.client entry.
            memo: a Lua map table of JSON values, or None.

        Returns:
            True, or ``(None, error)`` of kind ``Invalid`` (undeclared attribute, wrong type).
        """
        ...


class ActivityHostAPI(HostAPI, Protocol):
    """An activity call's host: the real machine. Runs without a kernel wait on their thread,
    so the host sleeps and calls functions itself."""

    def time_left(self) -> float | None:
        """Seconds (float) until the attempt's deadline, or None without one (``http_client``
        caps its timeouts with it)."""
        ...

    def sleep(self, ns: int) -> None:
        """Block for ``ns`` nanoseconds (nothing for ``ns <= 0``); may return early when the
        call is stopped (deadline passed, cancelled), the run's stop check then ends it."""
        ...

    def call_function(self, entry_id: str, args: Any, context: Any) -> Any:
        """``funcs.call`` from activity code.

        Args:
            entry_id: the function entry's id (``"ns:name"``).
            args: the arguments as a packed Lua table (``{n = count, ...}``).
            context: a Lua map table of per-call context values, or None.

        Returns:
            The function's result, or ``(None, error)`` (today always ``Unavailable``: call it
            from the workflow instead).
        """
        ...

    def heartbeat(self, details: Any = None) -> Any:
        """``activity.heartbeat``: tell Temporal the attempt makes progress, with ``details``
        (a JSON-like Python value, or None for none) for the next attempt to read; moves the
        attempt's heartbeat deadline. Returns True, or ``(None, error)`` of kind ``NotFound``
        outside an activity (a process)."""
        ...

    def activity_info(self) -> Any:
        """``activity.info``: the attempt's facts as a Lua map table (see the ``activity``
        module), or ``(None, error)`` of kind ``NotFound`` outside an activity (a process)."""
        ...

    def is_cancelled(self) -> bool:
        """``activity.is_cancelled``: whether Temporal cancelled the attempt (its workflow
        cancelled it, or the worker is stopping); False outside an activity."""
        ...


_PROTOCOL_BASES = frozenset({"Protocol", "Generic", "object"})


def protocol_methods(protocol: type) -> frozenset[str]:
    """The public method names ``protocol`` declares, its own and its bases'."""
    names: set[str] = set()
    for klass in protocol.__mro__:
        if klass.__name__ in _PROTOCOL_BASES and klass.__module__ in ("typing", "builtins"):
            continue
        names.update(n for n, v in vars(klass).items() if not n.startswith("_") and callable(v))
    return frozenset(names)


#: Host kind (the run context that uses it) -> the method names Lua may call on its host.
HOST_APIS: dict[str, frozenset[str]] = {}
#: Host kind -> the Protocol that declares (and documents) its methods.
HOST_PROTOCOLS: dict[str, type] = {}


def host_api(kind: str, protocol: type) -> frozenset[str]:
    """Declare host kind ``kind``: its names are ``protocol``'s methods (registered in
    :data:`HOST_APIS`). Returns them, for the host classes' ``LUA_API``."""
    names = protocol_methods(protocol)
    HOST_APIS[kind] = names
    HOST_PROTOCOLS[kind] = protocol
    return names


#: What all hosts share (not a kind of its own: no host class is only this).
COMMON_API: frozenset[str] = protocol_methods(HostAPI)
WORKFLOW_API: frozenset[str] = host_api("workflow", WorkflowHostAPI)
ACTIVITY_API: frozenset[str] = host_api("activity", ActivityHostAPI)


def host_kind(api: Any) -> str | None:
    """The kind whose declared names ``api`` is (a host class's ``LUA_API``), or None."""
    for kind, names in HOST_APIS.items():
        if api is names:
            return kind
    return None


class BaseHost:
    """Shared host behaviour (the :class:`HostAPI` methods that need no clock or randomness);
    ``state`` is set by the owner once the LuaRun exists.

    Not a host kind by itself: a subclass sets ``LUA_API`` (see the module docstring).
    """

    #: The names Lua may call on this host: one of the frozensets of :data:`HOST_APIS`.
    LUA_API: ClassVar[frozenset[str]]
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
        """One line: ``message key=value ...`` (logfmt, :func:`logfmt`); the fields as a
        dict are the record's ``fields`` attribute (``extra``) for Python log handlers."""
        text, py = "", None
        if fields is not None and self.state is not None:
            try:
                py = self.state.to_python(fields, "fields")
                text = " " + logfmt(py)
            except Exception:  # noqa: BLE001 - logging must never fail the caller
                text, py = "", None
        lvl = getattr(logging, str(level).upper(), logging.INFO)
        self._logger().log(lvl, "%s%s", message, text, extra={"fields": py})

    def _logger(self) -> Any:
        return log

    def context(self) -> dict[str, Any]:
        """The context values the running code sees (``ctx`` module): none here."""
        return {}

    def refuse_in_query(self, what: str) -> None:
        """No query handlers outside workflows: nothing to refuse."""


#: A logfmt value written as it is: no spaces, quotes, ``=`` or control characters.
_PLAIN = re.compile(r"[A-Za-z0-9_.:/@+\-]+")


def logfmt(fields: Any) -> str:
    """Log fields as logfmt text: ``key=value`` pairs, keys sorted (a Lua table has no
    order), a value as it is when plain (``o-1``, ``12.5``), else JSON (``"two words"``,
    ``{"a":1}``, ``true``). Fields that are not a map (a Lua list): their JSON."""
    if not isinstance(fields, dict):
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"), default=str)
    parts = []
    for key in sorted(fields, key=str):
        value = fields[key]
        if isinstance(value, str) and _PLAIN.fullmatch(value):
            text = value
        else:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        parts.append(f"{key}={text}")
    return " ".join(parts)


class MachineHost(BaseHost):
    """Real clock and randomness (activities, tests): a complete activity host."""

    LUA_API = ACTIVITY_API

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

    # Not an activity (processes, tests): the ``activity`` module's answers there.
    def _not_an_activity(self, what: str) -> tuple[None, Any]:
        return None, self.state.new_error(
            "NotFound",
            f"activity.{what}: this code is not running as a Temporal activity (it runs as a "
            "process); only activity calls have heartbeats and attempt facts",
            False,
        )

    def heartbeat(self, details: Any = None) -> Any:
        return self._not_an_activity("heartbeat")

    def activity_info(self) -> Any:
        return self._not_an_activity("info")

    def is_cancelled(self) -> bool:
        return False
