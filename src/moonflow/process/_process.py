"""One process: a Lua run with a kernel, driven in real time on the process host's event loop.

A process is a ``process.lua`` actor, a ``function.lua`` called outside a workflow
(``funcs.call`` from a process, ``moonflow run -x``) or a test entry. Its code runs as kernel
tasks exactly as a workflow's does (``lua/kernel.lua``): every call that waits yields a command
table; :class:`Process` turns it into asyncio work (a timer, a call of another function, a
message, a Temporal start) and resumes the task with the result. Differences from the workflow
driver: real time, no determinism, no Temporal history; a process never blocks the loop (Lua
runs in short steps under the instruction budget, blocking Python work runs in the executor).

Steps: the node's scheduler (``scheduler.lua``) steps every ready process inside one call
from the loop; :meth:`Process.feed` hands it what arrived from Python first, and
:meth:`Process.stepped` acts on the steps the scheduler reports (commands, an end).

Threading (architecture.md, verified lupa pitfalls): the node owns the Lua state; every step
and every conversion of a process's Lua values happens on the loop thread, and no Python code
reads a run's tables from inside Lua. A message between two processes of the node is copied
in Lua by the conversion rules (``convert.lua`` ``sys.copy_values``: what ``to_python`` then
``to_lua`` would give, no table shared); a value the copier leaves alone is converted to
Python in the sender's step and back to Lua before the receiver's next step.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TextIO

from .. import errors as mferrors
from ..errors import ErrorInfo
from ..lua._convert import ConversionError
from ..lua._host import ActivityHostAPI, MachineHost, host_api
from ..lua._kernel_run import KernelRun
from ..lua._outcome import Outcome, raised, returned
from ..lua._run import LuaRun, RunStopped

if TYPE_CHECKING:
    from ..kinds import LuaCode
    from ._node import ProcessNode

log = logging.getLogger("moonflow.process")


@dataclass
class Terminal:
    """A terminal host's console: where ``io`` writes and reads, and the command line's
    arguments (``io.args()``)."""

    out: TextIO
    err: TextIO
    inp: BinaryIO | None  # bytes: Lua strings are bytes; None when stdin is closed
    args: list[str] = field(default_factory=list)


class ProcessHostAPI(ActivityHostAPI, Protocol):
    """A process's host: the real machine, as for activity code (the same function.lua runs
    as either), plus what only processes have (process.lua in process context). Waiting
    (sleeps, calls, spawns, messages) goes through the kernel, never through the host."""

    def pid(self) -> str:
        """This process's PID, ``{<host entry>|0x0000N}``."""
        ...

    def update_reply(self, pid: str, topic: str, values: Any) -> Any:
        """Always ``(None, error Invalid)``: only workflows answer updates."""
        ...

    def lookup(self, name: Any) -> str | None:
        """The PID registered as ``name`` on this node (local scope), or None."""
        ...

    def register(self, name: str, pid: str) -> Any:
        """``True``, or ``(None, error AlreadyExists / NotFound)``."""
        ...

    def unregister(self, name: str) -> bool:
        """Whether ``name`` was registered."""
        ...

    def monitor(self, target: str) -> Any:
        """EXIT on ``process.events()`` when ``target`` (a PID or name; process or workflow)
        ends: ``True`` or ``(None, error NotFound)``."""
        ...

    def unmonitor(self, target: str) -> Any:
        """No EXIT from ``target`` any more: ``True``."""
        ...

    def link(self, target: str) -> Any:
        """Abnormal ends travel between the two (LINK_DOWN with trap_links, else death):
        ``True`` or ``(None, error NotFound)``."""
        ...

    def unlink(self, target: str) -> Any:
        """Undo :meth:`link`: ``True``."""
        ...

    def trap_links(self) -> bool:
        """Whether linked failures arrive as LINK_DOWN events (``process.get_options``)."""
        ...

    def set_trap_links(self, value: bool) -> None:
        """``process.set_options{trap_links = bool}``."""
        ...

    def terminal_write(self, stream: str, text: str) -> Any:
        """``io.write`` / ``io.print``: ``stream`` is ``"out"`` or ``"err"``; ``True`` or
        ``(None, "no terminal context")`` off a terminal host."""
        ...

    def terminal_flush(self) -> Any:
        """``io.flush``: ``True`` or ``(None, message)``."""
        ...

    def terminal_args(self) -> Any:
        """``io.args``: the command line's arguments after the entry (a Lua array)."""
        ...


PROCESS_API: frozenset[str] = host_api("process", ProcessHostAPI)


class ProcessLuaHost(MachineHost):
    """What a process's Lua modules may ask of the process host (synchronous calls; real
    clock and randomness from :class:`~moonflow.lua._host.MachineHost`)."""

    LUA_API = PROCESS_API

    def __init__(self, process: Process) -> None:
        self._process = process

    def pid(self) -> str:
        """This process's PID string."""
        return self._process.pid

    def context(self) -> dict[str, Any]:
        """Context values given at spawn (``ctx.get`` / ``ctx.all``)."""
        return dict(self._process.context)

    def lookup(self, name: Any) -> str | None:
        """The PID registered as ``name`` on this node, or None."""
        return self._process.node.registry.get(str(name))

    def register(self, name: str, pid: str) -> Any:
        """``process.registry.register``: True, or (None, error) when taken by another PID."""
        return self._process.node.register(name, pid, self._process)

    def unregister(self, name: str) -> bool:
        """``process.registry.unregister``: whether the name was registered."""
        return self._process.node.unregister(str(name))

    def monitor(self, target: str) -> Any:
        """``process.monitor(dest)``: True or (None, error)."""
        return self._process.node.monitor(self._process, target)

    def unmonitor(self, target: str) -> Any:
        """``process.unmonitor(dest)``: True or (None, error)."""
        return self._process.node.unmonitor(self._process, target)

    def link(self, target: str) -> Any:
        """``process.link(dest)``: True or (None, error)."""
        return self._process.node.link(self._process, target)

    def unlink(self, target: str) -> Any:
        """``process.unlink(dest)``: True or (None, error)."""
        return self._process.node.unlink(self._process, target)

    def trap_links(self) -> bool:
        """Whether a linked failure arrives as a LINK_DOWN event instead of killing this one."""
        return self._process.trap_links

    def set_trap_links(self, value: bool) -> None:
        self._process.trap_links = bool(value)

    def terminal_write(self, stream: str, text: str) -> Any:
        terminal = self._process.terminal
        if terminal is None:
            return None, "no terminal context"
        out = terminal.err if stream == "err" else terminal.out
        data = str(text).encode("latin-1")  # io.lua mapped the bytes onto U+0000-U+00FF
        try:
            binary = getattr(out, "buffer", None)
            if binary is not None:
                out.flush()  # what went through the text layer comes first
                binary.write(data)
            else:
                out.write(data.decode("utf-8", "replace"))
        except (OSError, ValueError) as e:
            return None, f"io: {e}"
        return True

    def terminal_flush(self) -> Any:
        terminal = self._process.terminal
        if terminal is None:
            return None, "no terminal context"
        try:
            for stream in (terminal.out, terminal.err):
                stream.flush()
                binary = getattr(stream, "buffer", None)
                if binary is not None:
                    binary.flush()
        except (OSError, ValueError) as e:
            return None, f"io.flush: {e}"
        return True

    def terminal_args(self) -> Any:
        terminal = self._process.terminal
        state = self._process.state
        assert state is not None
        return state.rt.table_from(list(terminal.args) if terminal is not None else [])

    def call_function(self, entry_id: str, args: Any, context: Any) -> Any:
        # Process code calls through the kernel ("activity" command); never reached.
        return None, "funcs.call from a process goes through the process host"

    def sleep(self, ns: int) -> None:
        raise RuntimeError("a process waits through its kernel, never on the loop thread")

    def update_reply(self, pid: str, topic: str, values: Any) -> Any:
        return None, self._process.state.new_error(
            mferrors.INVALID, f"{pid} is an update reply address; only workflows answer updates"
        )


class Process(KernelRun):
    """One running process.

    Args:
        node: the :class:`~moonflow.process.ProcessNode` that runs it.
        pid: its PID string.
        code: the ``process.lua`` / ``function.lua`` entry to run.
        args: its arguments, JSON-like Python values (one per Lua argument).
        context: context values (``ctx``), a JSON map.

    Attributes:
        done: resolves to the process's :class:`~moonflow.lua._outcome.Outcome` when it exits.
        trap_links: see ``process.set_options``.
    """

    def __init__(
        self,
        node: ProcessNode,
        pid: str,
        code: LuaCode,
        args: list[Any],
        context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.node = node
        self.pid = pid
        self.code = code
        self.entry_id = code.entry.id
        self.context = dict(context or {})
        self.trap_links = False
        #: set when the code returned: its first value was neither nil nor false
        self.returned_truthy = False
        #: the console when the process runs on a terminal host (``io`` module), else None
        self.terminal: Terminal | None = None
        self.done: asyncio.Future[Outcome] = node.loop.create_future()
        self.closed = False
        #: the PID of the process that spawned it and does not wait for its result (its
        #: failure is logged when nobody monitors or links it), or None
        self.spawned_by: str | None = None
        #: the scheduler let the process go when its step ended it (ProcessNode._stepped)
        self.ended_in_step = False
        self._args = args
        self._mailbox: list[tuple[str, list[Any], str | None]] = []
        self._events: list[Callable[[], Any]] = []
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._tasks: dict[int, asyncio.Future[Any]] = {}  # calls, spawns, sends by tag
        self._scheduled = False
        self.state: LuaRun | None = None

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Create the run, load the entry and schedule its first step.

        Raises:
            mferrors.AppError: the file fails to load or lacks its method (nothing started).
            ConversionError: an argument cannot enter Lua.
        """
        host = ProcessLuaHost(self)
        state = LuaRun(
            "process",
            host,
            self.node.app,
            max_memory=self.node.max_memory,
            instruction_budget=self.node.instruction_budget,
            vm=self.node.vm,
        )
        host.state = state
        self.state = state
        # Loading the entry (its file's top level) runs under a step's cap; between steps the
        # node keeps the cap dropped (ProcessNode._pump), so the spawner's batch of results
        # is not converted under this one.
        state.arm_memory()
        try:
            state.source_of = self.node.source_of  # (libraries it requires, too)
            fn = state.load_code(self.code, self.node.source_of(self.code))
            self.node.vm.disarm_memory()
            if self.context:
                state.sys.has_context = True  # its spawns carry context: none is light
            lua_args = [state.to_lua(v, f"argument {i}") for i, v in enumerate(self._args, 1)]
        except RunStopped as e:
            self.node.vm.disarm_memory()
            state.close()
            raise mferrors.AppError(
                f"loading {self.code.source.name} was stopped ({e.reason})",
                file=self.code.entry.where(),
                entry_id=self.entry_id,
            ) from None
        except BaseException:
            self.node.vm.disarm_memory()
            state.close()
            raise
        state.kernel.start(fn, state.pack(lua_args))
        self.node.joined(self)

    def _wake(self) -> None:
        """Have the node feed this process and step it (``ProcessNode.wake``)."""
        if not self._scheduled and not self.closed:
            self._scheduled = True
            self.node.wake(self)

    def feed(self) -> bool:
        """Hand what arrived from Python (events, completions, messages) to Lua, before the
        node's next pump steps the process. False: the process ended (an internal error)."""
        self._scheduled = False
        if self.closed:
            return False
        state = self.state
        assert state is not None
        kernel = state.kernel
        try:
            # Messages first: one a process sent just before it ended comes before its EXIT.
            self._deliver_messages()
            if self._events or self._completions:  # (most steps have one or the other)
                with state.vm.uncapped():
                    events, self._events = self._events, []
                    for make in events:
                        kernel.event(make())
                    built = self.take_completions()
                for tag, values in built:
                    kernel.complete(tag, *values)
        except Exception as exc:  # noqa: BLE001 - a bug of ours must not take the node down
            log.exception("process %s: internal error", self.pid)
            self.exit(Outcome(False, error=ErrorInfo(mferrors.INTERNAL, f"internal error: {exc}")))
            return False
        return True

    def stepped(self, status: str, out: Any) -> None:
        """Act on a step the node's scheduler ran (``scheduler.lua`` N.pump): issue its
        commands (``out``, an array of ``{tag, cmd}``), end the process on ``done`` /
        ``error`` / ``budget`` / ``memory``, or find it deadlocked. ``internal``: the kernel
        itself failed (``out`` is the message)."""
        if self.closed:
            return
        state = self.state
        assert state is not None
        kernel = state.kernel
        if status == "internal":
            if out == "not enough memory":
                self.exit(self.stopped_outcome("memory", self.entry_id, None, 0))
            else:
                log.error("process %s: internal error in its kernel: %s", self.pid, out)
                self.exit(
                    Outcome(False, error=ErrorInfo(mferrors.INTERNAL, f"internal error: {out}"))
                )
            return
        for i in range(1, len(out) + 1):
            if self.closed:
                return
            item = out[i]
            try:
                self._issue(int(item["tag"]), item["cmd"])
            except Exception as exc:  # noqa: BLE001
                log.exception("process %s: command failed", self.pid)
                self.exit(Outcome(False, error=ErrorInfo(mferrors.INTERNAL, f"internal: {exc}")))
                return
        if self.closed:
            return
        if status == "blocked":
            if (
                not self._completions
                and not self._events
                and not self._mailbox
                and not self._timers
                and not self._tasks
                and not kernel.listening()
            ):
                self.exit(
                    Outcome(
                        False,
                        error=ErrorInfo(
                            mferrors.INTERNAL,
                            "deadlock: every coroutine of the process is blocked and nothing "
                            "it waits for is pending" + _waiting_at(kernel),
                            False,
                        ),
                    )
                )
            return
        if status == "done":
            # Whether the first value returned was something other than nil/false: a test
            # that returns `true, "text"` passes (only `nil, err` / `false, err` fail), where
            # the shared result rules read any `value, "text"` as a failure.
            first = kernel.result[1]
            self.returned_truthy = first is not None and first is not False
            self.exit(returned(state, kernel.result, f"{self.entry_id} result"))
        elif status == "error":
            self.exit(raised(state, kernel.error, kernel.traceback))
        else:  # "budget" / "memory": this process stops; the others go on
            self.exit(
                self.stopped_outcome(
                    status, self.entry_id, kernel.budget_where, self.node.instruction_budget
                )
            )

    def exit(self, outcome: Outcome) -> None:
        """End the process with ``outcome``: stop its timers and calls, tell its monitors and
        links (the node), release its Lua run. Idempotent."""
        if self.closed:
            return
        self.closed = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        self.node.left(self, in_lua=not self.ended_in_step)
        if self.state is not None:
            self.state.close()
        self.node.process_exited(self, outcome)
        if not self.done.done():
            self.done.set_result(outcome)

    # ---- inputs from outside ----------------------------------------------------------
    def deliver(self, topic: str, values: list[Any], sender: str | None) -> None:
        """Queue a message (JSON-like values); it enters Lua at the next step, in order."""
        if self.closed:
            return
        self._mailbox.append((topic, values, sender))
        self._wake()

    def add_event(self, make: Callable[[Any], Any]) -> None:
        """Queue a lifecycle event; ``make(state)`` builds it in Lua at the next step."""
        if self.closed:
            return

        def build() -> Any:
            state = self.state
            assert state is not None
            state.module("process")  # where the event constructors live
            return make(state)

        self._events.append(build)
        self._wake()

    def _deliver_messages(self) -> None:
        if not self._mailbox:
            return
        state = self.state
        assert state is not None
        deliver = state.kernel.deliver
        to_lua = state.convert.to_lua
        batch, self._mailbox = self._mailbox, []
        with state.vm.uncapped():  # once for the batch (LuaRun.to_lua would lift it per value)
            for topic, values, sender in batch:
                try:
                    lua_values = [to_lua(v, f"message {topic}") for v in values]
                except ConversionError as e:
                    log.warning("process %s: dropping message %s: %s", self.pid, topic, e)
                    continue
                deliver(topic, state.pack(lua_values), sender)

    # ---- completions (KernelRun) -------------------------------------------------------
    def complete(self, tag: int, make: Callable[[], list[Any]] = list) -> None:
        """Queue command ``tag``'s completion (dropped once the process has exited)."""
        if not self.closed:
            super().complete(tag, make)

    def _completed(self) -> None:
        self._wake()

    def track(self, tag: int, task: asyncio.Future[Any]) -> None:
        """Keep ``task`` (a call, spawn or send for command ``tag``) until it finishes; it is
        cancelled if the process exits first."""
        self._tasks[tag] = task
        task.add_done_callback(lambda _t: self._tasks.pop(tag, None))

    def run_in_step(self, fn: Callable[[LuaRun], Any]) -> None:
        """Call ``fn(state)`` on the loop thread at the next step, before the tasks resume; it
        may start kernel tasks (``state.kernel.spawn``). Nothing once the process has exited.
        Test stubs run so in their test's process (``_stubs.py``)."""

        def make() -> list[Any]:
            fn(self._state())
            return []

        # Tag 0 is no command's (the kernel numbers them from 1): K.complete ignores it.
        self.complete(0, make)

    # ---- commands ------------------------------------------------------------------------
    def _issue(self, tag: int, cmd: Any) -> None:
        op = cmd["op"]
        if op == "sleep" or op == "timer":
            self._start_timer(tag, int(cmd["ns"]))
        elif op == "yield":  # process.lua: a spawner lets the others run
            self.complete(tag)
        elif op == "cancel_timer":
            handle = self._timers.pop(int(cmd["timer"]), None)
            if handle is not None:
                handle.cancel()
        elif op == "activity":
            self.node.commands.call_function(self, tag, cmd)
        elif op == "cancel_activity":
            task = self._tasks.get(int(cmd["activity"]))
            if task is not None:
                task.cancel()
        elif op == "signal":
            self.node.commands.send(self, tag, cmd)
        elif op == "child":
            self.node.commands.spawn(self, tag, cmd)
        elif op == "cancel_external":
            self.node.commands.cancel(self, tag, cmd)
        elif op == "io_read":
            self.node.commands.io_read(self, tag, cmd)
        elif op == "continue_as_new":
            self.exit(
                Outcome(
                    False,
                    error=ErrorInfo(
                        mferrors.INVALID,
                        "process.upgrade (swapping a running process's code) is not supported "
                        "by moonflow's process host: spawn a new process instead",
                        False,
                    ),
                )
            )
        else:
            self.exit(
                Outcome(
                    False, error=ErrorInfo(mferrors.INTERNAL, f"unknown process command {op!r}")
                )
            )

    def _start_timer(self, tag: int, ns: int) -> None:
        if ns <= 0:
            self.complete(tag)
            return

        def fired() -> None:
            self._timers.pop(tag, None)
            self.complete(tag)

        self._timers[tag] = self.node.loop.call_later(ns / 1e9, fired)

    def values_of(self, packed: Any, what: str) -> list[Any]:
        """A packed Lua argument list ``{..., n = N}`` -> JSON-like Python values.

        Raises:
            ConversionError: a value JSON cannot carry (a function, a cyclic table).
        """
        assert self.state is not None
        return [self.state.to_python(packed[i], f"{what} {i}") for i in range(1, packed["n"] + 1)]

    def python(self, value: Any, what: str) -> Any:
        """One Lua value of a command -> Python (None stays None)."""
        if value is None:
            return None
        assert self.state is not None
        return self.state.to_python(value, what)

    def now(self) -> float:
        return time.time()


_FRAME = re.compile(r"^\t([^\t\[][^\n]*?:\d+):", re.M)


def _waiting_at(kernel: Any) -> str:
    """`` (main waits at t.lua:3; coroutine 2 at t.lua:9)``: where each coroutine of a
    deadlocked process is parked (the first user frame of each, from ``K.stacks``)."""
    try:
        text = str(kernel.stacks())
    except Exception:  # noqa: BLE001 - only a detail of the message
        return ""
    places = []
    for block in text.split("\n\n"):
        name, _, trace = block.partition("\n")
        frame = _FRAME.search(trace)
        if name.startswith("-- ") and frame:
            places.append(f"{name[3:]} at {frame.group(1)}")
    if not places:
        return ""
    places[0] = places[0].replace(" at ", " waits at ", 1)
    return " (" + "; ".join(places) + ")"
