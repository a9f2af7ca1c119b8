"""The process node: every process of one ``moonflow run``, on one asyncio event loop.

The node owns the Lua state its processes run in (touched only from the loop thread), hands
out PIDs, keeps the local name registry, monitors and links, and reaches Temporal through the
app's clients for what processes do with workflows (start, message, monitor, cancel). What each
process command does is in :mod:`._commands`; a process itself is :class:`._process.Process`.
A process spawned by another process may start without one ("light", ``scheduler.lua``
N.spawn): it gets its :class:`Process` when it first needs Python or Python needs it
(:meth:`ProcessNode.find`); one that never does lives and ends in Lua.

Scope (architecture.md, "Beyond workflows"): processes exist to drive and test durable
workflows the way the reference runtime's apps do. One node per OS process; PIDs are local to
it (a process PID sent to another machine's workflow worker cannot be delivered there).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import errors as mferrors
from ..errors import ErrorInfo
from ..lua._outcome import Outcome
from ..lua._run import (
    DEFAULT_INSTRUCTION_BUDGET,
    DEFAULT_MAX_MEMORY,
    LuaRun,
    _run_maker,
    weak_method,
)
from ..lua._vm import KERNEL, LuaVM, read_source
from ..modules._catalogue import PROCESS
from ._pids import format_process_pid, parse_process_pid
from ._process import Process, ProcessLuaHost, Terminal

if TYPE_CHECKING:
    import temporalio.client

    from ..registry import App

log = logging.getLogger("moonflow.process")

#: How many ended processes the node remembers, for a monitor or link that comes late, and
#: about how many bytes of their results at most (the oldest are forgotten first).
EXITED_KEPT = 10_000
EXITED_BYTES = 4 * 1024 * 1024
#: Kinds a process may run: an actor, or a function called outside a workflow.
RUNNABLE_KINDS = ("process.lua", "function.lua")
#: The host id in PIDs when the app declares no process.host / terminal.host entry.
DEFAULT_HOST = "moonflow:processes"
#: The terminal host of an app that declares none (lua-api.md §1.7: `run -x` needs one).
DEFAULT_TERMINAL = "moonflow:terminal"

#: Steps one pump of the scheduler runs at most before the loop's other callbacks get a turn,
#: and the CPU seconds after which it stops (timers and I/O wait while it runs).
PUMP_STEPS = 100
PUMP_SLICE = 0.002
#: The Lua half of the node: the ready queue, local messages and the pump.
SCHEDULER = Path(__file__).with_name("scheduler.lua")

#: Nodes of this OS process (a workflow worker delivers its messages to process PIDs here).
_NODES: weakref.WeakSet[ProcessNode] = weakref.WeakSet()


def node_for(pid: str) -> ProcessNode | None:
    """The node of this OS process that runs the process ``pid`` (None: none does)."""
    for node in list(_NODES):
        if node.find(pid) is not None:
            return node
    return None


class ProcessNode:
    """Runs processes of ``app`` on the running event loop.

    Args:
        app: the loaded app.
        clients: connected Temporal clients by ``temporal.client`` entry id (for workflows
            started, messaged and monitored from processes); may be empty when the app's
            processes never touch a workflow.
        instruction_budget: Lua instructions one step of a process may run (a step runs until
            every task of the process waits); 0: none.
        max_memory: bytes one step may allocate (up to an eighth more when one pump of the
            scheduler runs several steps); None: no cap.
        terminal: the console of processes on the terminal host (``io``), or None.

    Use as ``async with ProcessNode(app, clients) as node: outcome = await node.run(...)``;
    leaving terminates every process still running.
    """

    def __init__(
        self,
        app: App,
        clients: dict[str, temporalio.client.Client] | None = None,
        *,
        instruction_budget: int = DEFAULT_INSTRUCTION_BUDGET,
        max_memory: int | None = DEFAULT_MAX_MEMORY,
        terminal: Terminal | None = None,
    ) -> None:
        from ._commands import Commands

        self.app = app
        self.clients = dict(clients or {})
        self.instruction_budget = instruction_budget
        self.max_memory = max_memory
        self.loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()  # the loop's: the only one touching self.vm
        self.vm = LuaVM(PROCESS, max_memory=None)
        # The scheduler (scheduler.lua), reached by the runs' process module as sys.node; its
        # functions are captured now (lupa 2.8: see LuaVM).
        sched = self.vm.chunk(SCHEDULER, self.vm.module_env)(self.vm.sys)
        self.vm.sys.node = sched
        self._sched_add, self._sched_remove = sched.add, sched.remove
        self._sched_wake, self._sched_pump = sched.wake, sched.pump
        self._sched_interrupted = sched.interrupted
        self._sched_number, self._sched_learn = sched.next_number, sched.learn
        self._sched_take, self._sched_adopted = sched.take, sched.adopted
        self._sched_ended, self._sched_unmonitor = sched.ended, sched.unmonitor
        self._sched_close = sched.close
        self._learned: set[str] = set()  # entries the scheduler may spawn light (N.learn)
        self._sources: dict[str, str] = {}  # entry id -> its file's text (source_of)
        # the memory cap of a pump: one step's allowance plus this much, after which the
        # pump stops (every step starts with at least its allowance)
        self._slack = max_memory // 8 if max_memory else None
        self._to_feed: list[Process] = []
        self._pump_scheduled = False
        # processes with a Python side; a light one (scheduler.lua N.spawn) is found by find()
        self.processes: dict[str, Process] = {}
        self.registry: dict[str, str] = {}  # name -> pid
        self._names_of: dict[str, set[str]] = {}  # pid -> names it holds
        self.monitors: dict[str, set[str]] = {}  # watched pid -> pids monitoring it
        self._watching: dict[str, set[str]] = {}  # pid -> pids it monitors (forgotten at exit)
        self._exited_bytes = 0  # about what `exited` holds of results (EXITED_BYTES)
        self._exited_sizes: dict[str, int] = {}
        self.links: dict[str, set[str]] = {}  # pid -> linked pids (both directions)
        self.workflow_watchers: dict[tuple[str, str], asyncio.Task[Any]] = {}
        self._delivered: set[str] = set()  # keys of workflow messages delivered (deliver_once)
        #: how the most recent processes ended (monitor/link of one that already exited)
        self.exited: collections.OrderedDict[str, Outcome] = collections.OrderedDict()
        self.commands = Commands(self)
        self.default_host = _default_host(app)
        self.terminal = terminal
        self.terminal_host = next(
            (e.id for e in app.entries.values() if e.kind == "terminal.host"), DEFAULT_TERMINAL
        )
        self._closed = False
        self._unwatched = _UnwatchedFailures()
        # Light processes (scheduler.lua N.spawn): runs made the way LuaRun makes them, on the
        # hosts a process may run on without a terminal.
        hosts = [e.id for e in app.entries.values() if e.kind == "process.host"]
        if self.default_host == DEFAULT_HOST:
            hosts.append(DEFAULT_HOST)
        with self.vm.uncapped():
            sched.setup(
                _run_maker(self.vm)[0],
                self.vm.chunk(KERNEL, self.vm.module_env),
                instruction_budget,
                int(instruction_budget or 0),
                # weakly: Lua holding the node (or its vm) would be a cycle through the Lua
                # registry that Python's collector cannot see (a closed node never freed)
                weak_method(weakref.ref(self), "_materialize_from_lua"),
                weak_method(weakref.ref(self.vm), "credit_memory"),
                self.default_host,
                self.vm.rt.table_from(hosts),
            )
        _NODES.add(self)

    async def __aenter__(self) -> ProcessNode:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Terminate every process still running and stop watching workflows."""
        self._closed = True
        self._sched_close()  # light processes end with the node (nothing of them is in Python)
        for process in list(self.processes.values()):
            process.exit(
                Outcome(
                    False,
                    error=ErrorInfo(mferrors.TERMINATED, "process host stopped", False),
                )
            )
        self._unwatched.flush()
        for task in list(self.workflow_watchers.values()):
            task.cancel()
        self.workflow_watchers.clear()
        _NODES.discard(self)

    # ---- starting processes -----------------------------------------------------------
    def spawn(
        self,
        entry_id: str,
        args: Sequence[Any] = (),
        *,
        host_id: str | None = None,
        context: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> Process:
        """Start a ``process.lua`` or ``function.lua`` entry as a new process.

        Args:
            entry_id: the entry (``"app:worker_pool"``).
            args: its arguments (JSON-like values, one per Lua argument).
            host_id: the process.host / terminal.host entry it runs on (names it in the PID);
                default the app's first host entry.
            context: context values (``ctx``).
            name: register the new process under this name (``:with_name``).

        Returns:
            The started :class:`Process` (``await process.done`` for its outcome).

        Raises:
            mferrors.AppError: no such entry, not a process/function, or it fails to load.
            ConversionError: an argument cannot enter Lua.
        """
        if self._closed:
            raise mferrors.AppError("the process host is stopping")
        code = self.runnable(entry_id)
        if name is not None and name in self.registry:
            raise mferrors.AppError(f"the name {name!r} is already registered")
        pid = format_process_pid(host_id or self.default_host, self._sched_number())
        process = Process(self, pid, code, list(args), context)
        if host_id is not None and host_id == self.terminal_host:
            process.terminal = self.terminal
        self.processes[pid] = process
        try:
            process.start()
        except BaseException:
            self.processes.pop(pid, None)
            raise
        if name is not None:
            self.register(name, pid, process)
        if entry_id not in self._learned:
            # started once: later spawns of it from processes may be light (N.spawn)
            self._learned.add(entry_id)
            assert process.state is not None
            self._sched_learn(
                entry_id, self.source_of(code), process.state._chunk_name(code), code.method
            )
        return process

    def source_of(self, code: Any) -> str:
        """The text of ``code``'s file (an entry's or a library's) as this node runs it: read
        on first use and kept for the node's life, so that every process runs the same code
        whichever way it was spawned (light ones from the scheduler's copy) and with the
        libraries it ran with. An edit takes effect at the next ``moonflow run``."""
        text = self._sources.get(code.entry.id)
        if text is None:
            text = self._sources[code.entry.id] = read_source(code.source)
        return text

    def runnable(self, entry_id: str) -> Any:
        """The ``LuaCode`` of a process/function entry.

        Raises:
            mferrors.AppError: no such entry, or one of another kind (one line saying which).
        """
        entry = self.app.entries.get(entry_id)
        if entry is None:
            self.app.get(entry_id)  # raises with a did-you-mean
        assert entry is not None
        if entry.kind not in RUNNABLE_KINDS:
            raise mferrors.AppError(
                f"{entry_id} is a {entry.kind} entry; a process runs a process.lua or "
                "function.lua entry",
                entry_id=entry_id,
            )
        return self.app.spec(entry_id)

    # ---- light processes (scheduler.lua N.spawn) ----------------------------------------
    def find(self, pid: str) -> Process | None:
        """The running process ``pid`` of this node, or None. A light process (made in Lua by
        another process's spawn, scheduler.lua N.spawn) gets its Python side now; from a
        thread other than the node's (which must not touch its Lua state) only processes that
        have their Python side are found."""
        process = self.processes.get(pid)
        if (
            process is None
            and not self._closed
            and pid.startswith("{")
            and threading.get_ident() == self._thread
        ):
            process = self._materialize(pid)
        return process

    def _materialize(self, pid: str) -> Process | None:
        """Make the Python side of the light process ``pid`` (None: ``pid`` is not one)."""
        with self.vm.uncapped():
            parts = self._sched_take(pid)
            if parts is None:
                return None
            run_sys, kernel, guard, entry_id, parent, monitor = parts
            code = self.app.spec(str(entry_id))
            process = Process(self, pid, code, [], None)
            process.spawned_by = str(parent)
            host = ProcessLuaHost(process)
            state, link = LuaRun.adopt(
                host, self.app, self.vm, (run_sys, kernel, guard), max_memory=self.max_memory
            )
            host.state = state
            process.state = state
            state.source_of = self.source_of
            self._sched_adopted(pid, link, state.require_for(code))
        self.processes[pid] = process
        if monitor and parent in self.processes:
            self.add_monitor(str(parent), pid)
        return process

    def _materialize_from_lua(self, pid: str) -> None:
        """The light process ``pid`` asks for Python (a host call, a module, require)."""
        try:
            self._materialize(pid)
        except Exception:  # noqa: BLE001 - the process then fails on the missing link
            log.exception("process %s: could not make its Python side", pid)

    def _ended(self, pid: str) -> Outcome | None:
        """How the process ``pid`` ended, if the node remembers it (see :data:`EXITED_KEPT`)."""
        ended = self.exited.get(pid)
        parsed = parse_process_pid(pid)
        if ended is None and parsed is not None and format_process_pid(*parsed) == pid:
            found, value = self._sched_ended(parsed[0], parsed[1])
            if found:
                ended = Outcome(True, value=self.vm.convert.to_python(value, "result"))
        return ended

    async def run(
        self,
        entry_id: str,
        args: Sequence[Any] = (),
        *,
        host_id: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> Outcome:
        """Run an entry as a process to its end and return its outcome."""
        process = self.spawn(entry_id, args, host_id=host_id, context=context)
        return await process.done

    # ---- scheduling ----------------------------------------------------------------------
    def joined(self, process: Process) -> None:
        """``process`` started: the scheduler steps it in the next pump, and when it is
        ready again."""
        state = process.state
        assert state is not None
        self._sched_add(process.pid, state.kernel, state.sys)
        self._reschedule()

    def left(self, process: Process, *, in_lua: bool = True) -> None:
        """``process`` exits: no step and no local message reaches it any more (``in_lua``
        False: the scheduler has let it go already, its step ended it)."""
        if in_lua:
            self._sched_remove(process.pid)

    def wake(self, process: Process) -> None:
        """Something arrived for ``process`` from Python (a completion, an event, a message):
        feed it to Lua and step it in the next pump."""
        self._to_feed.append(process)
        self._reschedule()

    def _pump(self) -> None:
        """Feed the processes woken from Python, then let the scheduler step every ready
        process (up to :data:`PUMP_STEPS`) and act on the steps it reports."""
        self._pump_scheduled = False
        feed, self._to_feed = self._to_feed, []
        for process in feed:
            if process.feed():
                self._sched_wake(process.pid)
        if self._slack is not None:
            self.vm.arm_memory(self.max_memory + self._slack)  # type: ignore[operator]
            slack_kb = self._slack // 1024
        else:
            slack_kb = 1 << 40
        try:
            reports, n, more = self._sched_pump(PUMP_STEPS, PUMP_SLICE, slack_kb, time.time())
        except Exception as exc:  # noqa: BLE001 - out of memory in the pump itself
            self.vm.disarm_memory()
            pid, reports, n = self._sched_interrupted()
            log.error("process scheduler: the step of %s failed: %s", pid, exc)
            if n:  # the steps before it ran to their end: act on them
                self._stepped(reports, n)
            process = self.processes.get(pid) if pid is not None else None
            if process is not None:
                process.ended_in_step = False  # still in the scheduler: N.remove it
                process.stepped("internal", str(exc))
            self._reschedule()
            return
        if self._slack is not None:
            # The cap is the steps' only: what they left (results, commands' values) is
            # converted now, and those conversions allocate in Lua too (a 25 MB result the
            # step could hold must leave, not fail in its conversion). The next pump arms
            # it again.
            self.vm.disarm_memory()
        if n:
            self._stepped(reports, n)
        if more:
            self._reschedule()

    @property
    def settled(self) -> bool:
        """True when no process is ready to step: every one waits for something (a message,
        a timer, a call) or has exited (benchmarks and tests wait for this)."""
        return not self._pump_scheduled and not self._to_feed

    def _stepped(self, reports: Any, n: int) -> None:
        for i in range(1, n + 1, 3):
            pid = reports[i]
            process = self.processes.get(pid) or self._materialize(pid)
            if process is not None:
                status = reports[i + 1]
                if status != "blocked":
                    process.ended_in_step = True  # scheduler.lua N.pump let it go
                try:
                    process.stepped(status, reports[i + 2])
                except Exception as exc:  # noqa: BLE001 - a bug of ours must not take the node down
                    log.exception("process %s: internal error", process.pid)
                    process.exit(
                        Outcome(
                            False,
                            error=ErrorInfo(mferrors.INTERNAL, f"internal error: {exc}"),
                        )
                    )

    def _reschedule(self) -> None:
        if not self._pump_scheduled:
            self._pump_scheduled = True
            self.loop.call_soon(self._pump)

    # ---- exits, monitors, links ---------------------------------------------------------
    def process_exited(self, process: Process, outcome: Outcome) -> None:
        """Called once by :meth:`Process.exit`: EXIT to monitors, LINK_DOWN (or death) to links,
        names released."""
        pid = process.pid
        self.processes.pop(pid, None)
        self._keep_exited(pid, outcome)
        if (
            not outcome.ok
            and process.spawned_by is not None
            and not self.monitors.get(pid)
            and not self.links.get(pid)
        ):
            self._unwatched.failed(process, outcome)
        for target in self._watching.pop(pid, ()):
            watchers = self.monitors.get(target)
            if watchers is not None:
                watchers.discard(pid)
                if not watchers:
                    del self.monitors[target]
        for name in self._names_of.pop(pid, set()):
            if self.registry.get(name) == pid:
                del self.registry[name]
        for watcher in self.monitors.pop(pid, set()):
            self._watching.get(watcher, set()).discard(pid)
            target = self.processes.get(watcher)
            if target is not None:
                target.add_event(exit_event_maker(pid, outcome))
        for other in self.links.pop(pid, set()):
            self.links.get(other, set()).discard(pid)
            if outcome.ok:
                continue
            linked = self.processes.get(other)
            if linked is not None:
                self.link_failed(linked, pid, outcome.error)
        for key in [k for k in self.workflow_watchers if k[0] == pid]:
            self.workflow_watchers.pop(key).cancel()

    def _keep_exited(self, pid: str, outcome: Outcome) -> None:
        """Remember how ``pid`` ended, for a monitor or link that comes late: the last
        :data:`EXITED_KEPT` ends, with results and errors of at most :data:`EXITED_BYTES` in
        all; one over a quarter of that is not remembered (a late monitor of an end not
        remembered gets NotFound, as for a PID that never ran)."""
        size = _size_of(outcome.value) + _size_of(outcome.stack)
        if outcome.error is not None:
            info = outcome.error
            size += _size_of(info.message) + _size_of(info.details) + _size_of(info.extra)
        if size > EXITED_BYTES // 4:
            return  # not remembered (as if long ago) rather than making room for it
        self.exited[pid] = outcome
        self._exited_sizes[pid] = size
        self._exited_bytes += size
        while self.exited and (len(self.exited) > EXITED_KEPT or self._exited_bytes > EXITED_BYTES):
            old, _ = self.exited.popitem(last=False)
            self._exited_bytes -= self._exited_sizes.pop(old, 0)

    def link_failed(self, process: Process, from_pid: str, error: ErrorInfo | None) -> None:
        """``from_pid`` (a linked process or workflow) ended abnormally: a LINK_DOWN event when
        ``process`` traps links, else ``process`` exits with a LinkDown-style error."""
        info = error or ErrorInfo(mferrors.INTERNAL, "linked process failed", False)
        if process.trap_links:
            process.add_event(link_down_maker(from_pid, info))
            return
        process.exit(
            Outcome(
                False,
                error=ErrorInfo(
                    info.kind or mferrors.INTERNAL,
                    f"linked {from_pid} failed: {info.message}",
                    False,
                    info.details,
                ),
            )
        )

    def cancel(self, process: Process, reason: str | None, from_pid: str | None) -> None:
        """Ask ``process`` to cancel: a CANCEL event (``reason``, ``from``) when it reads
        ``process.events()``, which then decides; else it ends at once with kind Canceled,
        as a workflow that reads no events does."""
        if process.closed:
            return
        state = process.state
        watching = False
        if state is not None:
            check = state.kernel.watching_events
            watching = bool(check is not None and check())
        if watching:
            process.add_event(cancel_event_maker(reason, from_pid))
            return
        by = f" by {from_pid}" if from_pid else ""
        why = f": {reason}" if reason else ""
        process.exit(
            Outcome(False, error=ErrorInfo(mferrors.CANCELED, f"canceled{by}{why}", False))
        )

    def resolve(self, target: str) -> str:
        """A PID for ``target`` (a PID, or a name registered on this node)."""
        if target.startswith("{"):
            return target
        return self.registry.get(target, target)

    def monitor(self, watcher: Process, target: str) -> Any:
        """``process.monitor``: EXIT to ``watcher`` when ``target`` (process or workflow) ends."""
        pid = self.resolve(target)
        if parse_process_pid(pid) is not None:
            if self.find(pid) is None:
                ended = self._ended(pid)
                if ended is None:
                    return None, _error(watcher, mferrors.NOT_FOUND, f"no process {pid}")
                watcher.add_event(exit_event_maker(pid, ended))  # it ended already: at once
                return True
            self.add_monitor(watcher.pid, pid)
            return True
        return self.commands.watch_workflow(watcher, pid, monitor=True)

    def add_monitor(self, watcher: str, target: str) -> None:
        """EXIT of the local process ``target`` to ``watcher`` (both PIDs) when it ends."""
        self.monitors.setdefault(target, set()).add(watcher)
        self._watching.setdefault(watcher, set()).add(target)

    def unmonitor(self, watcher: Process, target: str) -> Any:
        """``process.unmonitor``: no EXIT from ``target`` any more."""
        pid = self.resolve(target)
        self._sched_unmonitor(watcher.pid, pid)
        self.monitors.get(pid, set()).discard(watcher.pid)
        self._watching.get(watcher.pid, set()).discard(pid)
        task = self.workflow_watchers.pop((watcher.pid, pid + "#monitor"), None)
        if task is not None:
            task.cancel()
        return True

    def link(self, process: Process, target: str) -> Any:
        """``process.link``: abnormal ends travel both ways (workflows: theirs to this one)."""
        pid = self.resolve(target)
        if parse_process_pid(pid) is not None:
            if self.find(pid) is None:
                ended = self._ended(pid)
                if ended is None:
                    return None, _error(process, mferrors.NOT_FOUND, f"no process {pid}")
                if not ended.ok:  # linking to a process that already failed
                    self.link_failed(process, pid, ended.error)
                return True
            self.links.setdefault(pid, set()).add(process.pid)
            self.links.setdefault(process.pid, set()).add(pid)
            return True
        return self.commands.watch_workflow(process, pid, monitor=False)

    def unlink(self, process: Process, target: str) -> Any:
        pid = self.resolve(target)
        self.links.get(pid, set()).discard(process.pid)
        self.links.get(process.pid, set()).discard(pid)
        task = self.workflow_watchers.pop((process.pid, pid + "#link"), None)
        if task is not None:
            task.cancel()
        return True

    # ---- registry -----------------------------------------------------------------------
    def register(self, name: str, pid: str, caller: Process | None) -> Any:
        """Register ``name`` for ``pid`` (local scope). Idempotent for the same PID."""
        held = self.registry.get(name)
        if held is not None and held != pid:
            if caller is None:
                raise mferrors.AppError(f"the name {name!r} is already registered by {held}")
            return None, _error(
                caller, mferrors.ALREADY_EXISTS, f"name '{name}' is registered by {held}"
            )
        if self.find(pid) is None:
            if caller is None:
                raise mferrors.AppError(f"no process {pid}")
            return None, _error(caller, mferrors.NOT_FOUND, f"no process {pid}")
        self.registry[name] = pid
        self._names_of.setdefault(pid, set()).add(name)
        return True

    def unregister(self, name: str) -> bool:
        pid = self.registry.pop(name, None)
        if pid is None:
            return False
        self._names_of.get(pid, set()).discard(name)
        return True

    # ---- messages from outside ----------------------------------------------------------
    def deliver(self, target: str, topic: str, values: list[Any], sender: str | None) -> bool:
        """Put a message into a local process's mailbox. False when no such process runs."""
        process = self.find(self.resolve(target))
        if process is None:
            return False
        process.deliver(topic, values, sender)
        return True

    def deliver_once(
        self, key: str, target: str, topic: str, values: list[Any], sender: str | None
    ) -> bool:
        """:meth:`deliver` a workflow's message unless ``key`` was delivered before (a retried
        local activity). Keys are kept for the node's life (a few bytes per message). False:
        no such process runs."""
        if key in self._delivered:
            return True
        if not self.deliver(target, topic, values, sender):
            return False
        self._delivered.add(key)
        return True

    def client_for(self, client_id: str) -> temporalio.client.Client | None:
        return self.clients.get(client_id)


def _size_of(value: Any, limit: int = EXITED_BYTES) -> int:
    """About the bytes Python holds for a JSON-like value (containers and strings counted as
    CPython lays them out), walking at most until ``limit`` is passed."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        v = stack.pop()
        if v is None or isinstance(v, (bool, int, float)):
            total += 32
        elif isinstance(v, str):
            total += 56 + len(v)
        elif isinstance(v, dict):
            total += 240 + 104 * len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            total += 64 + 8 * len(v)
            stack.extend(v)
        else:
            total += 64
    return total


class _UnwatchedFailures:
    """Logs a process spawned by another that failed with nobody to see it (no monitor, no
    link, no one waiting for its result): a warning line, as Erlang's logger reports a crash
    nobody handles; not for a process stopped on purpose (terminated, cancelled). At most
    :data:`LINES` lines per :data:`WINDOW` seconds (an app failing 1,000s of workers must not
    bury its own output); the others are counted in a line logged before the next one shown,
    or when the node stops."""

    LINES = 10
    WINDOW = 10.0

    def __init__(self) -> None:
        self._since = float("-inf")
        self._logged = 0
        self._quiet = 0

    def flush(self) -> None:
        """Log the count of failures not shown yet (the node stops)."""
        if self._quiet:
            log.warning("%d more processes failed unwatched (not shown)", self._quiet)
            self._quiet = 0

    def failed(self, process: Process, outcome: Outcome) -> None:
        info = outcome.error or ErrorInfo(mferrors.INTERNAL, "failed", False)
        if info.kind in (mferrors.TERMINATED, mferrors.CANCELED):
            return
        now = time.monotonic()
        if now - self._since >= self.WINDOW:
            if self._quiet:
                log.warning(
                    "%d more processes failed unwatched since the last one shown (not shown)",
                    self._quiet,
                )
            self._since, self._logged, self._quiet = now, 0, 0
        if self._logged >= self.LINES:
            self._quiet += 1
            return
        self._logged += 1
        log.warning(
            "process %s (%s, spawned by %s) failed, and nothing monitors or links it: %s: %s",
            process.pid,
            process.entry_id,
            process.spawned_by,
            info.kind,
            info.message,
        )


def _default_host(app: App) -> str:
    for entry in app.entries.values():
        if entry.kind in ("process.host", "terminal.host"):
            return entry.id
    return DEFAULT_HOST


def _error(process: Process, kind: str, message: str) -> Any:
    assert process.state is not None
    return process.state.new_error(kind, message, False)


def exit_event_maker(pid: str, outcome: Outcome) -> Any:
    """``make(state)`` building the EXIT event of ``pid`` ended with ``outcome`` (in the
    receiver's run, with the seed's and the later shape: process.lua ``sys.exit_event``)."""
    at = time.time()

    def make(state: Any) -> Any:
        if outcome.ok:
            value = (
                state.to_lua(outcome.value, "EXIT result") if outcome.value is not None else None
            )
            return state.sys.exit_event(pid, True, value, None, at)
        info = outcome.error or ErrorInfo(mferrors.INTERNAL, "failed", False)
        err = state.new_error(info.kind, info.message, info.retryable, info.details)
        return state.sys.exit_event(pid, False, None, err, at)

    return make


def link_down_maker(pid: str, info: ErrorInfo) -> Any:
    at = time.time()

    def make(state: Any) -> Any:
        err = state.new_error(info.kind, info.message, info.retryable, info.details)
        return state.sys.link_down_event(pid, err, at)

    return make


def cancel_event_maker(reason: str | None, from_pid: str | None) -> Any:
    at = time.time()
    return lambda state: state.sys.cancel_event(at, reason, from_pid)
