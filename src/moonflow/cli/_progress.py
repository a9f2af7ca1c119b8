"""What ``moonflow execute`` / ``result`` show while they wait, and the connection watch of every
long-running command (issue 17 items 3 and 5).

* :class:`Display` writes to stderr: on a terminal one status line (``rich``) redrawn in place,
  with notices printed above it; otherwise plain lines. Stdout is never touched (it carries the
  result alone).
* :class:`WorkflowWatch` polls the workflow about once a second (``DescribeWorkflowExecution``:
  pending activities with their attempt and last failure, pending children, the pending
  workflow task) and follows its history with one long poll (timers, activities that failed for
  good, failed workflow tasks). Off a terminal it logs one line per notable event.
* :class:`ConnectionWatch` asks the server for its system info every two seconds and says once
  when the connection is lost and once when it is back, with the address (the SDK's workers
  retry in silence).

Polling is read-only and its errors never end a command: a watch that cannot reach the server
says so through :class:`ConnectionWatch` and tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from moonflow.cli._output import Streams, one_line

#: Seconds between two describes of the waited-for workflow.
POLL_INTERVAL_S = 1.0
#: Seconds between two connection checks, and the check's own timeout.
HEALTH_INTERVAL_S = 2.0
HEALTH_TIMEOUT_S = 5.0
#: Failed checks in a row before the connection counts as lost (one slow answer on a busy
#: machine is not a lost server).
LOST_AFTER = 2
#: Timers shorter than this are not logged (a polling loop would print one line per tick).
LOG_TIMERS_FROM_S = 1.0
#: Seconds an activity may stay scheduled before the status line says no worker picked it up.
NO_WORKER_AFTER_S = 5.0
#: Characters of a failure message kept on the status line / in a log line.
MESSAGE_CHARS = 200

_log = logging.getLogger("moonflow.cli")


def _short(message: str) -> str:
    text = one_line(message)
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def _clock(when: datetime) -> str:
    """``HH:MM:SS`` in local time (with the date when it is not today)."""
    local = when.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M:%S")


def _span(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h03m``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _until(when: datetime) -> str:
    left = (when - datetime.now(UTC)).total_seconds()
    return f"{_clock(when)} (in {_span(left)})" if left >= 1 else _clock(when)


def _time(stamp: Any) -> datetime | None:
    """A protobuf Timestamp as an aware datetime (None when unset)."""
    if stamp is None or (stamp.seconds == 0 and stamp.nanos == 0):
        return None
    return stamp.ToDatetime(tzinfo=UTC)


def is_unavailable(exc: BaseException) -> bool:
    """True for an RPC error that means "no server answered" (not a refusal by the server)."""
    import temporalio.service

    if not isinstance(exc, temporalio.service.RPCError):
        return False
    status = temporalio.service.RPCStatusCode
    return exc.status in (status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.UNKNOWN)


class Display:
    """Where waiting commands write to stderr: a live status line on a terminal, else lines.

    Args:
        streams: the command's streams (only ``err`` is written).
        quiet: no status line and no progress lines (notices from :meth:`note` still print:
            they say something is wrong).
        tty: force terminal mode on/off (default: ``streams.err`` is a terminal that is not
            ``TERM=dumb``).
    """

    def __init__(self, streams: Streams, *, quiet: bool = False, tty: bool | None = None) -> None:
        from rich.console import Console

        self.streams = streams
        self.quiet = quiet
        self._console = Console(file=streams.err, highlight=False, soft_wrap=True)
        if tty is None:
            tty = self._console.is_terminal and not self._console.is_dumb_terminal
        self.tty = tty
        self._status: Callable[[int], str] | None = None
        self._live: Any = None
        self._spinner: Any = None
        self._started = time.monotonic()
        self._handlers: list[tuple[logging.StreamHandler[Any], Any]] = []

    @property
    def live(self) -> bool:
        """True while the status line is shown."""
        return self._live is not None

    def note(self, line: str) -> None:
        """Print one notice line (above the status line when it is shown); never quiet."""
        if self._live is not None:
            self._console.print(line, markup=False, emoji=False)
        else:
            self.streams.note(line)

    def event(self, line: str) -> None:
        """One notable event: a line off a terminal; on a terminal the status line tells it."""
        if not self.quiet and not self.tty:
            self.streams.note(line)

    def show(self, status: Callable[[int], str]) -> None:
        """Start the status line (terminal only); ``status(width)`` gives its text at each
        redraw, fitting ``width`` characters when it can (the rest is cut with an ellipsis)."""
        if self.quiet or not self.tty or self._live is not None:
            return
        from rich.file_proxy import FileProxy
        from rich.live import Live

        self._status = status
        self._started = time.monotonic()
        # Log records (Lua print/logger, the workers' one-line reports) go above the status line
        # instead of through it. Stdout is not redirected: it carries the result alone.
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in (
                self.streams.err,
                sys.stderr,
            ):
                self._handlers.append((handler, handler.stream))
                handler.setStream(FileProxy(self._console, handler.stream))
        self._live = Live(
            console=self._console,
            get_renderable=self._render,
            refresh_per_second=4,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    def hide(self) -> None:
        """Remove the status line (before the result, a failure or an interrupt is printed)."""
        live, self._live = self._live, None
        if live is not None:
            with contextlib.suppress(Exception):
                live.stop()
        for handler, stream in self._handlers:
            handler.setStream(stream)
        self._handlers.clear()

    def _render(self) -> Any:
        from rich.spinner import Spinner
        from rich.text import Text

        elapsed = _span(time.monotonic() - self._started)
        if self._spinner is None:
            self._spinner = Spinner("dots")
        frame = self._spinner.render(time.monotonic())
        width = self._console.width - len(frame) - len(elapsed) - 2
        try:
            text = self._status(width) if self._status is not None else ""
        except Exception as exc:  # a display bug must not end the command
            text = f"({type(exc).__name__} in the status line)"
        line = Text.assemble(frame, f" {elapsed} ", text, no_wrap=True, overflow="ellipsis")
        return line


class ConnectionWatch:
    """Says once when the server stops answering and once when it answers again.

    Args:
        client: a connected ``temporalio.client.Client``.
        address: ``host:port`` named in the messages.
        note: prints one line (e.g. :meth:`Display.note` or ``Streams.note``).
        interval: seconds between checks.

    The check is ``GetSystemInfo`` (every Temporal server, the time-skipping one too, answers
    it) with no retry. :attr:`ok` is set while the server answers.
    """

    def __init__(
        self,
        client: Any,
        address: str,
        note: Callable[[str], None],
        *,
        interval: float = HEALTH_INTERVAL_S,
    ) -> None:
        self.client = client
        self.address = address
        self.note = note
        self.interval = interval
        self.ok = asyncio.Event()
        self.ok.set()
        self.lost_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ConnectionWatch:
        self._task = asyncio.create_task(self._run(), name=f"connection watch {self.address}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _check(self) -> str | None:
        """None when the server answered, else why not (one line)."""
        from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

        try:
            await self.client.workflow_service.get_system_info(
                GetSystemInfoRequest(), retry=False, timeout=timedelta(seconds=HEALTH_TIMEOUT_S)
            )
        except Exception as exc:
            if not is_unavailable(exc) and not isinstance(exc, asyncio.TimeoutError):
                return None  # the server answered, with a refusal: it is there
            return _short(getattr(exc, "message", "") or str(exc) or type(exc).__name__)
        return None

    async def _run(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self.interval)
            reason = await self._check()
            if reason is None:
                failures = 0
                if self.lost_at is not None:
                    down = _span(time.monotonic() - self.lost_at)
                    self.note(
                        f"moonflow: the connection to the Temporal server at {self.address} is "
                        f"back (down for about {down})"
                    )
                    self.lost_at = None
                    self.ok.set()
                continue
            failures += 1
            if failures == LOST_AFTER and self.lost_at is None:
                self.lost_at = time.monotonic() - self.interval * (LOST_AFTER - 1)
                self.ok.clear()
                self.note(
                    f"moonflow: lost the connection to the Temporal server at {self.address} "
                    f"({reason}); retrying until it is back"
                )


@contextlib.asynccontextmanager
async def watching_connections(clients: Iterable[Any], note: Callable[[str], None]) -> Any:
    """A :class:`ConnectionWatch` per distinct server address among ``clients`` (``run``)."""
    async with contextlib.AsyncExitStack() as stack:
        seen: set[str] = set()
        for client in clients:
            address = client.service_client.config.target_host
            if address not in seen:
                seen.add(address)
                await stack.enter_async_context(ConnectionWatch(client, address, note))
        yield


class WorkflowWatch:
    """What one workflow waits on, from polling the server (read-only).

    Args:
        client: a client of the workflow's namespace.
        workflow_id: the workflow; describes follow its latest run (continue-as-new too).
        run_id: the run whose history to follow first (None: the latest).
        display: where events and the status go.
        local_workers: True when this process runs the workers (``execute``): they report a
            failed workflow task themselves, so it is not logged twice.
    """

    def __init__(
        self,
        client: Any,
        workflow_id: str,
        run_id: str | None,
        display: Display,
        *,
        local_workers: bool = False,
        interval: float = POLL_INTERVAL_S,
    ) -> None:
        self.client = client
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.display = display
        self.local_workers = local_workers
        self.interval = interval
        # activity id -> (type, attempt, maximum attempts, state name, last failure, next try)
        self.activities: dict[str, Activity] = {}
        self.task_pending = False
        self.described = False  # no describe answered yet
        self.children: dict[str, str] = {}  # workflow id -> type
        self.timers: dict[str, datetime] = {}  # timer id -> when it fires
        self.workflow_task: tuple[int, str] | None = None  # (attempt, last failure)
        self._logged_attempts: set[tuple[str, int]] = set()
        self._scheduled: dict[int, tuple[str, str]] = {}  # event id -> (activity type, id)
        self._started_attempt: dict[int, int] = {}  # scheduled event id -> attempt
        self._wft_failure = ""
        self._closed = False
        #: "" for the waited-for workflow; "child workflow T (ID): " for the child it waits on
        self.label = ""
        self.child: WorkflowWatch | None = None

    async def run(self) -> None:
        """Poll until cancelled (never raises otherwise)."""
        await asyncio.gather(self._poll(), self._follow(), return_exceptions=True)

    # -- describe: activities, children, the workflow task ------------------------------------

    async def _poll(self) -> None:
        while True:
            try:
                await self._describe()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection watch reports a lost server
                _log.debug("describe %s: %s", self.workflow_id, exc)
            await asyncio.sleep(self.interval)

    async def _describe(self) -> None:
        """One describe of the workflow, and of the first child it waits on (one level: what
        a parent waits on is most often what its child waits on)."""
        handle = self.client.get_workflow_handle(self.workflow_id)
        desc = await handle.describe(rpc_timeout=timedelta(seconds=HEALTH_TIMEOUT_S))
        self._update(desc.raw_description)
        if self.label or not self.children:
            self.child = None
            return
        wf_id, kind = next(iter(self.children.items()))
        if self.child is None or self.child.workflow_id != wf_id:
            self.child = WorkflowWatch(self.client, wf_id, None, self.display)
            self.child.label = f"child workflow {kind} ({wf_id}): "
        await self.child._describe()

    def _update(self, raw: Any) -> None:
        from temporalio.api.enums.v1 import PendingActivityState

        activities = {}
        for info in raw.pending_activities:
            failure = _short(info.last_failure.message) if info.HasField("last_failure") else ""
            state = PendingActivityState.Name(info.state).removeprefix("PENDING_ACTIVITY_STATE_")
            act = Activity(
                kind=info.activity_type.name,
                attempt=info.attempt or 1,
                maximum=info.maximum_attempts,
                state=state,
                failure=failure,
                next_try=_time(info.next_attempt_schedule_time),
                scheduled=_time(info.scheduled_time),
                started=_time(info.last_started_time),
            )
            activities[info.activity_id] = act
            key = (info.activity_id, act.attempt)
            if failure and act.attempt > 1 and key not in self._logged_attempts:
                self._logged_attempts.add(key)
                of = f" of {act.maximum}" if act.maximum else ""
                retry = f"; attempt {act.attempt}{of} at {_clock(act.next_try)}"
                self.display.event(
                    f"moonflow: {self.label}activity {act.kind} attempt {act.attempt - 1} "
                    f"failed: {failure}{retry if act.next_try else ''}"
                )
        self.activities = activities
        self.described = True
        children = {c.workflow_id: c.workflow_type_name for c in raw.pending_children}
        for wf_id, kind in children.items():
            if wf_id not in self.children:
                self.display.event(f"moonflow: {self.label}child workflow {kind} started ({wf_id})")
        self.children = children
        task = raw.pending_workflow_task if raw.HasField("pending_workflow_task") else None
        self.task_pending = task is not None
        if task is not None and task.attempt > 1:
            self.workflow_task = (task.attempt, self._wft_failure)
        else:
            self.workflow_task = None

    # -- history: timers, activities that failed for good, failed workflow tasks -------------

    async def _follow(self) -> None:
        """Follow the run's history with a long poll (``wait_new_event``); new runs after a
        continue-as-new; start over (skipping seen events) when a poll ends early."""
        seen = 0
        while True:
            handle = self.client.get_workflow_handle(self.workflow_id, run_id=self.run_id)
            try:
                async for event in handle.fetch_history_events(wait_new_event=True):
                    if event.event_id <= seen:
                        continue
                    seen = event.event_id
                    new_run = self._event(event)
                    if new_run:
                        self.run_id, seen = new_run, 0
                        self.timers.clear()
                        break
                else:
                    if self._closed:
                        return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.debug("history of %s: %s", self.workflow_id, exc)
                await asyncio.sleep(self.interval)

    def _event(self, event: Any) -> str | None:
        """Take one history event; the new run id after a continue-as-new, else None."""
        from temporalio.api.enums.v1 import EventType as E

        kind = event.event_type
        if kind == E.EVENT_TYPE_TIMER_STARTED:
            attrs = event.timer_started_event_attributes
            seconds = attrs.start_to_fire_timeout.ToTimedelta().total_seconds()
            started = _time(event.event_time) or datetime.now(UTC)
            fires = started + timedelta(seconds=seconds)
            self.timers[attrs.timer_id] = fires
            if seconds >= LOG_TIMERS_FROM_S:
                self.display.event(
                    f"moonflow: timer started: {_span(seconds)}, fires at {_clock(fires)}"
                )
        elif kind == E.EVENT_TYPE_TIMER_FIRED:
            self.timers.pop(event.timer_fired_event_attributes.timer_id, None)
        elif kind == E.EVENT_TYPE_TIMER_CANCELED:
            self.timers.pop(event.timer_canceled_event_attributes.timer_id, None)
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            self._scheduled[event.event_id] = (attrs.activity_type.name, attrs.activity_id)
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            self._started_attempt[attrs.scheduled_event_id] = attrs.attempt
        elif kind in (E.EVENT_TYPE_ACTIVITY_TASK_FAILED, E.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT):
            attrs = (
                event.activity_task_failed_event_attributes
                if kind == E.EVENT_TYPE_ACTIVITY_TASK_FAILED
                else event.activity_task_timed_out_event_attributes
            )
            name, _ = self._scheduled.get(attrs.scheduled_event_id, ("?", ""))
            attempt = self._started_attempt.get(attrs.scheduled_event_id, 0)
            at = f" attempt {attempt}" if attempt else ""
            self.display.event(
                f"moonflow: activity {name}{at} failed, no more retries: "
                f"{_short(attrs.failure.message)} (the workflow gets the error)"
            )
        elif kind == E.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            self._wft_failure = _short(event.workflow_task_failed_event_attributes.failure.message)
            if not self.local_workers:
                self.display.event(f"moonflow: workflow task failed: {self._wft_failure}")
        elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            new_run = event.workflow_execution_continued_as_new_event_attributes
            self.display.event(f"moonflow: workflow {self.workflow_id} continued as new")
            return str(new_run.new_execution_run_id) or None
        elif kind in _CLOSED:
            self._closed = True
        return None

    # -- the status line ----------------------------------------------------------------------

    def waits(self, compact: bool = False) -> list[str]:
        """What the workflow waits on, most telling first (empty: nothing pending);
        ``compact``: the short forms of :meth:`Activity.describe`."""
        parts = []
        if self.workflow_task is not None:
            attempt, failure = self.workflow_task
            text = f"its workflow task, failing (attempt {attempt})"
            parts.append(text + (f": {failure}" if failure else ""))
        for act in self.activities.values():
            parts.append(act.describe(compact))
        for wf_id, kind in self.children.items():
            text = f"child workflow {kind} ({wf_id})"
            inner = self.child.waits() if self.child and self.child.workflow_id == wf_id else []
            parts.append(text + (f" -> {inner[0]}" if inner else ""))
        for fires in sorted(self.timers.values()):
            parts.append(f"timer until {_until(fires)}")
        return parts

    def status(self, width: int | None = None) -> str:
        """One line: what the workflow waits on now. Longer than ``width`` characters, the
        short form: no workflow id (printed when it started), no next-try time, abbreviated
        words, so that the last failure message, what a person can act on, keeps the room."""
        full = self._status(compact=False)
        if width is None or len(full) <= width:
            return full
        return self._status(compact=True)

    def _status(self, compact: bool) -> str:
        parts = self.waits(compact)
        head = "" if compact else f"{self.workflow_id}: "
        if not parts:
            if self.task_pending:
                return head + "running"
            if not self.described:
                return head + "starting"
            return head + "no activity, timer or child pending (a message would wake it)"
        if compact:
            more = f" (+{len(parts) - 1})" if len(parts) > 1 else ""
            return "waiting on " + parts[0] + more
        more = f" (+{len(parts) - 1} more)" if len(parts) > 1 else ""
        return head + "waiting on " + parts[0] + more


@dataclass
class Activity:
    """A pending activity as the last describe showed it."""

    kind: str
    attempt: int
    maximum: int  # 0: no limit
    state: str  # SCHEDULED, STARTED, CANCEL_REQUESTED
    failure: str  # the last attempt's failure message ("" for none)
    next_try: datetime | None
    scheduled: datetime | None
    started: datetime | None = None  # when the current attempt started (STARTED)

    def describe(self, compact: bool = False) -> str:
        """``activity T attempt N of M, next try ...; last failure: MESSAGE``; ``compact``:
        ``T try N/M; failed: MESSAGE`` (the failure keeps the room on a narrow terminal)."""
        if compact:
            return self._compact()
        of = f" of {self.maximum}" if self.maximum else ""
        text = f"activity {self.kind} attempt {self.attempt}{of}"
        if self.state == "SCHEDULED" and self.next_try is not None and self.failure:
            text += f", next try {_until(self.next_try)}"
        elif self.state == "SCHEDULED" and self.scheduled is not None:
            waited = (datetime.now(UTC) - self.scheduled).total_seconds()
            if waited >= NO_WORKER_AFTER_S:  # not just scheduled: nobody polls its task queue
                text += f", no worker has picked it up for {_span(waited)}"
        elif self.state == "STARTED" and self.started is not None:
            running = (datetime.now(UTC) - self.started).total_seconds()
            if running >= NO_WORKER_AFTER_S:
                text += f", running for {_span(running)}"
        elif self.state == "CANCEL_REQUESTED":
            text += ", cancel requested"
        if self.failure:
            text += f"; last failure: {self.failure}"
        return text

    def _compact(self) -> str:
        of = f"/{self.maximum}" if self.maximum else ""
        text = f"{self.kind} try {self.attempt}{of}"
        if self.failure:
            return f"{text}; failed: {self.failure}"
        if self.state == "SCHEDULED" and self.scheduled is not None:
            waited = (datetime.now(UTC) - self.scheduled).total_seconds()
            if waited >= NO_WORKER_AFTER_S:
                text += f", no worker for {_span(waited)}"
        elif self.state == "STARTED" and self.started is not None:
            running = (datetime.now(UTC) - self.started).total_seconds()
            if running >= NO_WORKER_AFTER_S:
                text += f", running {_span(running)}"
        elif self.state == "CANCEL_REQUESTED":
            text += ", cancelling"
        return text


def _closed_types() -> frozenset[int]:
    from temporalio.api.enums.v1 import EventType as E

    return frozenset(
        {
            E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
            E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
            E.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
            E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
            E.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        }
    )


_CLOSED = _closed_types()


async def wait_for_result(
    client: Any,
    workflow_id: str,
    display: Display,
    *,
    address: str,
    run_id: str | None = None,
    local_workers: bool = False,
) -> Any:
    """Wait for the workflow's result as ``client.get_result`` does, showing progress, and
    riding out a lost server (the wait resumes when it answers again).

    Args:
        client: a client of the workflow's namespace.
        workflow_id: the workflow (its latest run's result, following continue-as-new).
        display: where progress goes (:meth:`Display.hide` is called before returning).
        address: the server's ``host:port``, named when the connection is lost.
        run_id: the run started (its history is followed first).
        local_workers: this process runs the workers (``execute``).

    Returns:
        The decoded result.

    Raises:
        WorkflowFailure: the workflow failed, timed out, was canceled or terminated.
        WorkflowNotFound: no such workflow.
    """
    from moonflow.client import get_result

    watch = WorkflowWatch(client, workflow_id, run_id, display, local_workers=local_workers)
    poller = asyncio.create_task(watch.run(), name=f"watch {workflow_id}")
    display.show(watch.status)
    try:
        async with ConnectionWatch(client, address, display.note) as connection:
            while True:
                try:
                    return await get_result(client, workflow_id)
                except Exception as exc:
                    if not is_unavailable(exc):
                        raise
                # The SDK gave up retrying: wait for the server (the watch says when it is
                # lost and back), then wait for the result again.
                await asyncio.sleep(POLL_INTERVAL_S)
                await connection.ok.wait()
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await poller
        display.hide()
