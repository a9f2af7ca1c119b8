"""Process hosts and supervised services: ``process.host``, ``terminal.host``,
``process.service`` (lua-api.md §1.7), and the ``lifecycle`` block they share (§1.8).

``build`` validates everything a process host needs before it starts anything: host sizes,
the service's ``process``/``host`` references (checked by the loader from the kind table: the
entry exists and has the right kind, with a did-you-mean), its ``input`` arguments (JSON values)
and the ``lifecycle`` block with its defaults. Durations in ``lifecycle`` go through
:func:`moonflow.durations.option_duration`, like ``worker_options``: a Go string (``"10s"``,
``"1m30s"``) or a bare number of **milliseconds**.

Unknown keys inside ``host:``, ``lifecycle:`` and ``lifecycle.restart:`` are errors listing the
allowed keys (as for ``worker_options``); an unknown top-level field is a warning, as for every
kind (``moonflow.kinds._fields``).
"""

from __future__ import annotations

import datetime
import difflib
import json
import math
import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from moonflow.durations import DurationError, format_ns, option_duration

from ._fields import Field, lifecycle_fields
from ._lua import FUNCTION_KIND, PROCESS_KIND
from ._spec import AppView, KindSpec, RefField, opt_map, register

if TYPE_CHECKING:
    from moonflow.registry._entry import Entry

PROCESS_HOST_KIND = "process.host"
TERMINAL_HOST_KIND = "terminal.host"
SERVICE_KIND = "process.service"
HOST_KINDS = (PROCESS_HOST_KIND, TERMINAL_HOST_KIND)
#: kinds a ``process.service`` may run (its ``process:`` field)
SERVICE_PROCESS_KINDS = (PROCESS_KIND, FUNCTION_KIND)

#: keys of ``lifecycle:`` (``requires`` is an alias of ``depends_on``; ``security`` is kept as
#: written and not enforced)
LIFECYCLE_KEYS: tuple[str, ...] = (
    "auto_start",
    "start_timeout",
    "stop_timeout",
    "stable_threshold",
    "depends_on",
    "requires",
    "restart",
    "security",
)
#: keys of ``lifecycle.restart:``
RESTART_KEYS: tuple[str, ...] = (
    "initial_delay",
    "max_delay",
    "backoff_factor",
    "jitter",
    "max_attempts",
)
#: keys of a ``process.host``'s ``host:``
HOST_KEYS: tuple[str, ...] = ("workers", "queue_size", "local_queue_size")


@dataclass(frozen=True)
class RestartPolicy:
    """How a failed service is restarted (``lifecycle.restart``): exponential backoff.

    The n-th restart (n = 1, 2...) waits ``min(initial_delay * backoff_factor ** (n - 1),
    max_delay)``, moved by a random fraction up to ``±jitter`` of itself.

    Attributes:
        initial_delay: wait before the first restart (default 1s).
        max_delay: the longest wait (default 90s); never shorter than ``initial_delay``.
        backoff_factor: growth of the wait per failure, >= 1 (default 2.0).
        jitter: fraction in [0, 1] (default 0.1).
        max_attempts: restarts allowed before the service stays failed; 0 = unlimited
            (default 0). The count resets once a run lasts ``Lifecycle.stable_threshold``.
    """

    initial_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(seconds=90)
    backoff_factor: float = 2.0
    jitter: float = 0.1
    max_attempts: int = 0


@dataclass(frozen=True)
class Lifecycle:
    """The ``lifecycle`` block of a host or service, with its defaults (lua-api.md §1.8).

    Attributes:
        auto_start: start when the app starts (default False).
        start_timeout: how long starting may take (default 10s; > 0).
        stop_timeout: how long a graceful stop may take (default 10s; > 0).
        stable_threshold: a run lasting this long resets the restart count (default 5s).
        depends_on: full ids of the entries to start first: ``depends_on`` then ``requires``
            (alias), merged in that order without duplicates. Each names an entry of the app
            (checked at load); ids of entries moonflow skips are dropped (nothing to wait for).
        restart: the :class:`RestartPolicy`.
        security: the ``security`` mapping as written (``actor``, ``groups``, ``policies``) or
            None; moonflow does not enforce it.
    """

    auto_start: bool = False
    start_timeout: timedelta = timedelta(seconds=10)
    stop_timeout: timedelta = timedelta(seconds=10)
    stable_threshold: timedelta = timedelta(seconds=5)
    depends_on: tuple[str, ...] = ()
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    security: dict[str, Any] | None = None


@dataclass(frozen=True)
class ProcessHostSpec:
    """A ``process.host``: where Lua processes run (its id is in their PIDs).

    The pool sizes are the reference runtime's, checked and kept for compatibility; moonflow
    does not use them (every process of a ``moonflow run`` runs on one asyncio event loop).

    Attributes:
        entry: the registry entry.
        workers: number of workers, >= 1 (``host.workers``; default: the machine's CPU count).
        queue_size: capacity of the host's shared run queue, >= 1 (default 1024).
        local_queue_size: capacity of each worker's own queue, >= 1 (default 256).
        lifecycle: the :class:`Lifecycle` (defaults when absent); only ``depends_on`` (start
            order) is used.
    """

    entry: Entry
    workers: int
    queue_size: int = 1024
    local_queue_size: int = 256
    lifecycle: Lifecycle = field(default_factory=Lifecycle)


@dataclass(frozen=True)
class TerminalHostSpec:
    """A ``terminal.host``: a single-process host attached to the terminal's stdio.

    Attributes:
        entry: the registry entry.
        lifecycle: the :class:`Lifecycle` (defaults when absent).
    """

    entry: Entry
    lifecycle: Lifecycle = field(default_factory=Lifecycle)


@dataclass(frozen=True)
class ProcessServiceSpec:
    """A ``process.service``: a supervised long-running process.

    Attributes:
        entry: the registry entry.
        process: full id of the ``process.lua`` or ``function.lua`` entry to run.
        host: full id of the ``process.host`` or ``terminal.host`` entry it runs on.
        input: the arguments the process is started with (``input:``), JSON values (None,
            bool, int, finite float, str, lists, mappings with string keys); () when absent.
        lifecycle: the :class:`Lifecycle` (defaults when absent).
    """

    entry: Entry
    process: str
    host: str
    input: tuple[Any, ...] = ()
    lifecycle: Lifecycle = field(default_factory=Lifecycle)


# --- field checks --------------------------------------------------------------------------------


def _check_keys(entry: Entry, path: str, value: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in value:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise entry.error(
                f"unknown {path} key {key!r}: {hint}allowed keys are {', '.join(allowed)}",
                f"{path}.{key}",
            )


def _int(entry: Entry, path: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise entry.error(f"{path} must be a whole number >= {minimum}, not {value!r}", path)
    return value


def _number(entry: Entry, path: str, value: Any, low: float, high: float | None) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and (math.isnan(value) or value < low or (high is not None and value > high)):
        ok = False
    if not ok:
        bounds = f">= {low:g}" if high is None else f"between {low:g} and {high:g}"
        raise entry.error(f"{path} must be a number {bounds}, not {value!r}", path)
    return float(value)


def _duration(entry: Entry, path: str, value: Any, default: timedelta, positive: bool) -> timedelta:
    if value is None:
        return default
    try:
        out = option_duration(value, path)
    except DurationError as exc:
        message = str(exc)
        if not message.startswith(path):
            message = f"{path}: {message}"
        raise entry.error(message, path) from None
    if out < timedelta(0) or (positive and out == timedelta(0)):
        want = "longer than 0s" if positive else "0s or longer"
        raise entry.error(
            f"{path} must be {want}, not {value!r}: e.g. {path.rpartition('.')[2]}: "
            f"{format_ns(_ns(default))}",
            path,
        )
    return out


def _ids(entry: Entry, app: AppView, path: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise entry.error(
            f"{path} must be a list of entry ids, e.g. {path.rpartition('.')[2]}: [app:db], "
            f"not {type(value).__name__}",
            path,
        )
    # the loader already checked each item is a string naming an entry of the app
    return [app.resolve(ref, entry.namespace) for ref in value]


def _restart(entry: Entry) -> RestartPolicy:
    raw = opt_map(entry, "lifecycle.restart")
    if raw is None:
        return RestartPolicy()
    _check_keys(entry, "lifecycle.restart", raw, RESTART_KEYS)
    p = "lifecycle.restart"
    base = RestartPolicy()
    initial = _duration(
        entry, f"{p}.initial_delay", raw.get("initial_delay"), base.initial_delay, False
    )
    maximum = _duration(entry, f"{p}.max_delay", raw.get("max_delay"), base.max_delay, False)
    if maximum < initial:
        raise entry.error(
            f"{p}.max_delay ({format_ns(_ns(maximum))}) is shorter than {p}.initial_delay "
            f"({format_ns(_ns(initial))}): raise max_delay or lower initial_delay",
            f"{p}.max_delay" if "max_delay" in raw else f"{p}.initial_delay",
        )
    factor = raw.get("backoff_factor")
    jitter = raw.get("jitter")
    attempts = raw.get("max_attempts")
    return RestartPolicy(
        initial_delay=initial,
        max_delay=maximum,
        backoff_factor=base.backoff_factor
        if factor is None
        else _number(entry, f"{p}.backoff_factor", factor, 1.0, None),
        jitter=base.jitter if jitter is None else _number(entry, f"{p}.jitter", jitter, 0.0, 1.0),
        max_attempts=base.max_attempts
        if attempts is None
        else _int(entry, f"{p}.max_attempts", attempts, 0),
    )


def _ns(value: timedelta) -> int:
    return value // timedelta(microseconds=1) * 1000


def parse_lifecycle(entry: Entry, app: AppView) -> Lifecycle:
    """The entry's ``lifecycle`` block, validated, with defaults (:class:`Lifecycle` when absent).

    Raises:
        AppError: a value of the wrong type or range, or an unknown key (one line naming the
            field, its file and line).
    """
    raw = opt_map(entry, "lifecycle")
    if raw is None:
        return Lifecycle()
    _check_keys(entry, "lifecycle", raw, LIFECYCLE_KEYS)
    auto_start = raw.get("auto_start", False)
    if auto_start is None:
        auto_start = False
    if not isinstance(auto_start, bool):
        raise entry.error(
            f"lifecycle.auto_start must be true or false, not {auto_start!r}",
            "lifecycle.auto_start",
        )
    base = Lifecycle()
    deps: list[str] = []
    for key in ("depends_on", "requires"):
        for dep in _ids(entry, app, f"lifecycle.{key}", raw.get(key)):
            if dep not in deps and app.why_skipped(dep) is None:
                deps.append(dep)
    return Lifecycle(
        auto_start=auto_start,
        start_timeout=_duration(
            entry, "lifecycle.start_timeout", raw.get("start_timeout"), base.start_timeout, True
        ),
        stop_timeout=_duration(
            entry, "lifecycle.stop_timeout", raw.get("stop_timeout"), base.stop_timeout, True
        ),
        stable_threshold=_duration(
            entry,
            "lifecycle.stable_threshold",
            raw.get("stable_threshold"),
            base.stable_threshold,
            False,
        ),
        depends_on=tuple(deps),
        restart=_restart(entry),
        security=opt_map(entry, "lifecycle.security"),
    )


def _json_problem(value: Any, path: str) -> tuple[str, str] | None:
    """``(path, what is wrong)`` for the first non-JSON value inside ``value``, else None."""
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return (path, f"is {value}, not a JSON value (JSON numbers are finite)")
        return None
    if isinstance(value, list):
        for i, item in enumerate(value):
            problem = _json_problem(item, f"{path}.{i}")
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return (path, f"has the key {key!r}, which is not a string: quote it")
            problem = _json_problem(item, f"{path}.{key}")
            if problem:
                return problem
        return None
    if isinstance(value, (datetime.date, datetime.datetime)):
        return (path, f"is a date ({value}), not a JSON value: quote it")
    return (path, f"is a {type(value).__name__} ({value!r}), not a JSON value")


def _yaml_words(value: Any) -> str:
    """What a YAML value is, in YAML's words (``a string``, ``a mapping``), not Python's."""
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, datetime.date):
        return "a date"
    return f"a {type(value).__name__}"


def _input(entry: Entry) -> tuple[Any, ...]:
    raw = entry.data.get("input")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        try:  # the value as one argument, in YAML flow style (JSON is YAML)
            item = json.dumps(raw, ensure_ascii=False)
        except (TypeError, ValueError):
            item = "..."
        if len(item) > 60:
            item = "..."
        raise entry.error(
            f"input must be a list (one item per argument of the process), not "
            f"{_yaml_words(raw)}: write input: [{item}]",
            "input",
        )
    problem = _json_problem(raw, "input")
    if problem:
        path, what = problem
        raise entry.error(f"{path} {what}", path)
    return tuple(raw)


def _ref(entry: Entry, app: AppView, name: str, what: str) -> str:
    value = entry.data.get(name)
    if value is None:
        raise entry.error(
            f"missing required field {name!r} for a {entry.kind} entry: add {name}: ns:name "
            f"of a {what} entry"
        )
    if not isinstance(value, str):
        raise entry.error(
            f"{name} must be one entry id (ns:name of a {what} entry), not {type(value).__name__}",
            name,
        )
    # the loader already checked it names an entry of the right kind (kind table references)
    return app.resolve(value, entry.namespace)


# --- build ---------------------------------------------------------------------------------------


def build_process_host(entry: Entry, app: AppView) -> ProcessHostSpec:
    """Validate a ``process.host`` entry and build its :class:`ProcessHostSpec`."""
    raw = opt_map(entry, "host") or {}
    _check_keys(entry, "host", raw, HOST_KEYS)
    workers = raw.get("workers")
    queue_size = raw.get("queue_size")
    local_queue_size = raw.get("local_queue_size")
    return ProcessHostSpec(
        entry=entry,
        workers=(os.cpu_count() or 1)
        if workers is None
        else _int(entry, "host.workers", workers, 1),
        queue_size=1024 if queue_size is None else _int(entry, "host.queue_size", queue_size, 1),
        local_queue_size=256
        if local_queue_size is None
        else _int(entry, "host.local_queue_size", local_queue_size, 1),
        lifecycle=parse_lifecycle(entry, app),
    )


def build_terminal_host(entry: Entry, app: AppView) -> TerminalHostSpec:
    """Validate a ``terminal.host`` entry and build its :class:`TerminalHostSpec`."""
    return TerminalHostSpec(entry=entry, lifecycle=parse_lifecycle(entry, app))


def build_service(entry: Entry, app: AppView) -> ProcessServiceSpec:
    """Validate a ``process.service`` entry and build its :class:`ProcessServiceSpec`."""
    return ProcessServiceSpec(
        entry=entry,
        process=_ref(entry, app, "process", " or ".join(SERVICE_PROCESS_KINDS)),
        host=_ref(entry, app, "host", " or ".join(HOST_KINDS)),
        input=_input(entry),
        lifecycle=parse_lifecycle(entry, app),
    )


PROCESS_HOST_SPEC = register(
    KindSpec(
        kind=PROCESS_HOST_KIND,
        summary="host of Lua processes (the id in their PIDs)",
        required=(),
        references=(),
        build=build_process_host,
        # moonflow runs every process of a `moonflow run` on one asyncio event loop: the
        # reference runtime's pool sizes are checked (a typo is an error) but not used, and a
        # host is no process to start or restart, so of its lifecycle only the start order
        # (depends_on/requires: the services on it start after those) is used
        fields=(
            Field("host", "the reference runtime's pool sizes (a mapping); not used", ignored=True),
            Field(
                "host.workers",
                "workers running processes, >= 1; accepted for compatibility with the reference "
                "runtime, not used (every process runs on moonflow's one event loop)",
                ignored=True,
            ),
            Field(
                "host.queue_size",
                "capacity of the shared run queue, >= 1; accepted, not used",
                ignored=True,
            ),
            Field(
                "host.local_queue_size",
                "capacity of each worker's own queue, >= 1; accepted, not used",
                ignored=True,
            ),
            *lifecycle_fields(supervised=False),
        ),
    )
)

TERMINAL_HOST_SPEC = register(
    KindSpec(
        kind=TERMINAL_HOST_KIND,
        summary="single-process host attached to the terminal's stdio",
        required=(),
        references=(),
        build=build_terminal_host,
        # like a process.host, a terminal host is not started or restarted: only the start
        # order of its lifecycle is used
        fields=lifecycle_fields(supervised=False),
    )
)

SERVICE_SPEC = register(
    KindSpec(
        kind=SERVICE_KIND,
        summary="supervised long-running Lua process on a process host",
        # required fields are checked in build_service, for a message that says what to write
        required=(),
        references=(RefField("process", SERVICE_PROCESS_KINDS), RefField("host", HOST_KINDS)),
        build=build_service,
        fields=(
            Field("process", "id of the process.lua or function.lua entry to run", required=True),
            Field("host", "id of the process.host or terminal.host it runs on", required=True),
            Field("input", "the process's arguments: a list of JSON values (default none)"),
            *lifecycle_fields(supervised=True),
        ),
    )
)
