"""The workflow driver: runs one ``workflow.lua`` entry as one Temporal workflow run.

How durability works here, in one paragraph. A workflow run gets a fresh sandboxed Lua run (its
own globals, modules and coroutines in a Lua state shared with other runs, see
``lua/_vm.py``). Lua code runs as coroutines managed by the Lua-side kernel
(``lua/kernel.lua``). Whenever Lua must wait for the outside world (an activity, a timer), a
module function *yields a command table* (``{op = "activity", id = ..., args = ...}``) instead
of blocking. The kernel tags the
command and hands the batch to this driver, which turns each command into the matching Temporal
SDK call (``workflow.start_activity``, a durable timer, ...), in yield order, and waits. When the
SDK resolves one, the driver records ``(tag, result)`` as a Python value; on the next pass it
makes the result a Lua value and calls ``kernel.complete(tag, result)``, and ``kernel.run()``
resumes the coroutine where it yielded. Each pass holds the runtime's activation lock.
Because Temporal records each command's result in the history, a replay (cache eviction, worker
restart) re-runs the Lua code from the top in a new run, the SDK answers each command from
history, and the code reaches the same point with the same values: that is the durability.
Everything Lua can observe (time, randomness, versions) comes from the SDK's deterministic
workflow APIs through :class:`~moonflow.worker._workflow_host.WorkflowHost`.

Failure rules: ``return value`` completes the run; ``return nil, err`` fails it with err's kind
(the ApplicationError type), message and retryable flag; an uncaught Lua error fails it with
kind ``Internal`` and the Lua ``file:line`` message. Running out of the instruction budget or
memory fails the *workflow task* instead (Temporal retries it; the worker stays healthy).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ActivityCancellationType

from .. import errors as mferrors
from ..errors import ErrorInfo
from ..lua import LuaRun, Outcome, RunStopped
from ..lua._convert import ConversionError
from ..lua._outcome import raised, returned
from ..lua._run import weak_method
from ..lua._vm import LuaVM, workflow_vm
from ..process._pids import parse_process_pid
from ._children import ChildWorkflows
from ._context import EXTRA
from ._deliver import DELIVER, DELIVER_OPTIONS
from ._failures import _cancel_reason, from_exception, to_application_error
from ._messages import Mailbox
from ._options import OptionError, activity_options
from ._payloads import PayloadTooLarge, encode_checked
from ._updates import COMPLETED, CONTINUED, FAILED, end_updates
from ._workflow_host import WorkflowHost

if TYPE_CHECKING:
    from ..kinds import LuaCode
    from ..registry import App

_MIN_TIMER_SECONDS = 0.001
#: activity options a local activity has no use for (dropped, see _options.py)
_NOT_LOCAL = ("task_queue", "heartbeat_timeout", "priority")
_WAIT_CANCELLATION = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
#: Why an ``activity.id`` is refused (``_held_ids``): its activity runs, or was cancelled
#: without waiting and Temporal keeps the id until the attempt stops (this run never learns when).
_HELD_RUNNING = "an earlier activity of this workflow that is still running"
_HELD_CANCELLED = (
    "an activity of this workflow that was cancelled and has not stopped yet (a cancel that "
    "does not wait leaves the id to Temporal until the attempt stops; set "
    "activity.wait_for_cancellation = true and wait on the future to reuse its id)"
)
_log = logging.getLogger("moonflow.worker")


def workflow_id_of(target: str) -> str | None:
    """``{client@worker|id}`` -> ``id``; a bare workflow id is accepted as it is. None for
    anything else in braces: a process PID ``{app:processes|0x00002}`` names no workflow."""
    from ..client._target import parse_pid

    if target.startswith("{") and target.endswith("}"):
        pid = parse_pid(target)
        return pid[2] if pid is not None else None
    return target or None


class _PreparedActivity:
    """An ``activity`` command checked and encoded, ready to schedule (a plain object: Lua
    keeps it in the command table, and a tuple would reach Lua as several values)."""

    __slots__ = ("activity_id", "call_context", "held", "kwargs", "local", "raw_args")

    def __init__(
        self,
        activity_id: str,
        raw_args: list[Any],
        kwargs: dict[str, Any],
        local: bool,
        call_context: Any,
        held: str | None,
    ) -> None:
        self.activity_id = activity_id
        self.raw_args = raw_args
        self.kwargs = kwargs
        self.local = local
        self.call_context = call_context
        self.held = held

    def fields(self) -> tuple[str, list[Any], dict[str, Any], bool, Any, str | None]:
        return (
            self.activity_id,
            self.raw_args,
            self.kwargs,
            self.local,
            self.call_context,
            self.held,
        )


class _Target(NamedTuple):
    """What an app says about an activity id, the same for every call (:func:`_target`).

    Attributes:
        refused: ``(kind, reason)`` when no call of the id can be scheduled (a skipped entry,
            an entry that is not an activity), None otherwise.
        local: the entry's ``meta.temporal.activity.local`` (False for an unknown id).
        task_queue: the task queue of the entry's activity worker (None: the workflow's own).
    """

    refused: tuple[str, str] | None
    local: bool
    task_queue: str | None


#: Per app (held weakly): activity id -> _Target, and worker id -> (client id, declared
#: search attributes). Looked up on every funcs.call and run start; an app does not change
#: once loaded.
_APP_FACTS: weakref.WeakKeyDictionary[App, dict[Any, Any]] = weakref.WeakKeyDictionary()
_APP_FACTS_LOCK = threading.Lock()
#: Ids remembered per app: code may compute activity ids, and a miss only costs the lookup.
_MAX_FACTS = 4096


def _facts(app: App) -> dict[Any, Any]:
    try:
        facts = _APP_FACTS.get(app)
        if facts is None:
            with _APP_FACTS_LOCK:
                facts = _APP_FACTS.setdefault(app, {})
    except TypeError:  # an app stand-in without weak references (unit tests): no memo
        return {}
    return facts


def _target(app: App, activity_id: str) -> _Target:
    """What ``app`` says about activity ``activity_id`` (see :class:`_Target`), memoised."""
    facts = _facts(app)
    found = facts.get(activity_id)
    if found is not None:
        return found  # type: ignore[no-any-return]
    skipped = app.why_skipped(activity_id)
    target = app.entries.get(activity_id)
    target_spec = app.spec(activity_id) if target is not None else None
    worker = getattr(target_spec, "activity_worker", None)
    if skipped:  # a kind moonflow does not run: say so at once instead of waiting
        found = _Target((mferrors.NOT_FOUND, skipped), False, None)
    elif target is not None and worker is None:
        reason = (
            f"{activity_id} is a {target.kind} entry, not an activity (an activity entry has "
            "meta.temporal.activity.worker)"
        )
        found = _Target((mferrors.NOT_FOUND, reason), False, None)
    else:
        local = bool(getattr(target_spec, "activity_local", False))
        found = _Target(None, local, app.task_queue(worker) if worker is not None else None)
    if len(facts) < _MAX_FACTS:
        facts[activity_id] = found
    return found


def _client_facts(app: App, worker_id: str | None) -> tuple[str, dict[str, str]]:
    """``(client entry id, its declared search attributes)`` of a workflow worker entry
    (``("?", {})`` for none), memoised per app."""
    facts = _facts(app)
    key = ("client", worker_id)
    found = facts.get(key)
    if found is None:
        client = app.client_of(worker_id) if worker_id else None
        # the declared search attributes are shared and only read (no copy per run)
        found = (client.entry.id, client.search_attributes) if client else ("?", {})
        facts[key] = found
    return found  # type: ignore[no-any-return]


#: The run's start and each workflow step, one call into Lua each (every call or field read
#: from Python is a call into lupa, which hands the GIL over on a busy worker). ``start``:
#: give the run's sys the driver's activity checks and start main with the input values.
#: ``step``: complete ``tag`` (nil: none) with the values, run the kernel until every task
#: waits, and return the status followed by ``tag, cmd, op, a, b`` of each command emitted,
#: ``a, b`` the fields the driver needs of its op (``prepared, async`` of an activity, ``ns``
#: of a timer): Python reads no field of the command list. ``activity_call``: an activity
#: command's ``id, context, options, n, args...``; ``entry``: one command of a list ``step``
#: returned as it is (over 10,000 commands in one step). Compiled once per Lua state
#: (:func:`_kernel_calls`).
_KERNEL_CALLS = """\
local pack, unpack = table.pack, table.unpack
local function start(sys, prepare, cancelling, K, fn, ...)
    sys.prepare_activity = prepare
    sys.activity_cancelling = cancelling
    K.start(fn, pack(...))
end
-- What the driver reads of a command besides the table: op and, by op, two fields.
local function fields(cmd)
    local op = cmd.op
    if op == "activity" then
        return op, cmd.prepared, cmd.async
    elseif op == "sleep" or op == "timer" then
        return op, cmd.ns, nil
    end
    return op, nil, nil
end
local function step(K, tag, ...)
    if tag ~= nil then
        K.complete(tag, ...)
    end
    local status, emitted = K.run()
    local n = #emitted
    if n == 0 then
        return status
    end
    if n == 1 then
        local e = emitted[1]
        return status, e.tag, e.cmd, fields(e.cmd)
    end
    if n > 10000 then  -- more values than a call should return: the list, read by entry()
        return status, emitted
    end
    local res = { status }
    for i = 1, n do
        local e, j = emitted[i], 5 * i - 3
        res[j], res[j + 1] = e.tag, e.cmd
        res[j + 2], res[j + 3], res[j + 4] = fields(e.cmd)
    end
    return unpack(res, 1, 5 * n + 1)
end
local function entry(emitted, i)
    local e = emitted[i]
    return e.tag, e.cmd, fields(e.cmd)
end
local function activity_call(cmd)
    local args = cmd.args
    return cmd.id, cmd.context, cmd.options, args.n, unpack(args, 1, args.n)
end
return start, step, activity_call, entry
"""
_kernel_call_cache: weakref.WeakKeyDictionary[LuaVM, tuple[Any, ...]] = weakref.WeakKeyDictionary()


def _kernel_calls(vm: LuaVM) -> tuple[Any, ...]:
    """``(start, step, activity_call, entry)`` of :data:`_KERNEL_CALLS` in ``vm``'s state (made
    once per state)."""
    calls = _kernel_call_cache.get(vm)
    if calls is None:
        calls = vm.source_chunk(_KERNEL_CALLS, "=moonflow/workflow_kernel_calls")()
        _kernel_call_cache[vm] = calls
    return calls


class LuaTaskFailure(RuntimeError):
    """Fails the current workflow task (not the workflow): budget, memory, internal errors."""


class IssuedCommand(NamedTuple):
    """A command a run issued to Temporal, as recorded in ``DriverConfig.command_log``.

    Attributes:
        kind: ``"activity"``, ``"local activity"``, ``"timer"``, or the Lua command's op for
            the others (``"child"``, ``"signal"``, ``"cancel_timer"``, ...).
        name: the activity type, the child's workflow entry, the timer's duration in ns, or
            the signal's topic; "" when the op has none.
        where: the Lua ``file:line`` of the call that issued it (None when unknown).
    """

    kind: str
    name: str
    where: str | None


class DriverConfig:
    """Per-worker settings for workflow runs.

    Attributes:
        max_memory: bytes one activation of a run may allocate (None = unlimited).
        instruction_budget: Lua VM instructions one activation may run.
        command_log: when a list (replays, ``moonflow.replay``), every run appends an
            :class:`IssuedCommand` per command it issues, with the Lua location of the call;
            None (workers) records nothing.
    """

    def __init__(
        self,
        max_memory: int | None,
        instruction_budget: int,
        command_log: list[IssuedCommand] | None = None,
    ) -> None:
        self.max_memory = max_memory
        self.instruction_budget = instruction_budget
        self.command_log = command_log


class WorkflowDriver(ChildWorkflows):
    """Drives one workflow run (see the module docstring for the protocol)."""

    def __init__(
        self, app: App, code: LuaCode, config: DriverConfig, mailbox: Mailbox | None = None
    ) -> None:
        self.app = app
        self.code = code
        self.config = config
        self.mailbox = mailbox or Mailbox()
        # (tag, make): make() builds the completion's Lua values, called inside the lock
        self._completions: list[tuple[int, Callable[[], list[Any]]]] = []
        # lifecycle events for process.events() (child exits), built inside the lock
        self._events: list[Callable[[], Any]] = []
        self._children = 0  # child workflows started by this run (their default ids count)
        self._cancel_requested = False  # Temporal cancellation, delivered as a CANCEL event
        self._cancel_reason: str | None = None  # the reason of that request
        # handles to cancel with the workflow: activities by tag, exec'd children by -tag
        self._activities: dict[int, Any] = {}
        # activities of funcs.async futures (tag -> None): a dict, 64 bytes empty against a
        # set's 216, one per cached run (benchmark M2)
        self._async_tags: dict[int, None] = {}
        self._inflight = 0
        # activity.id values of this run's activities that Temporal may still hold (id -> by
        # whom, for the error) and the command tag holding each: a second running activity
        # with one id would fail every workflow task (ScheduleActivityDuplicateId)
        self._held_ids: dict[str, str] = {}
        self._held_by_tag: dict[int, tuple[str, bool]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._client_id, self._declared = _client_facts(app, code.workflow_worker)
        self._worker_id = code.workflow_worker or "?"

    async def run(self, raw_args: Sequence[RawValue]) -> Any:
        """The run's result; raises its failure or continue-as-new. Updates still unanswered
        when it ends are ended with it (``_updates.py``)."""
        # One coroutine for the whole run (not run + _run): a suspended coroutine per cached
        # run less (benchmark M2).
        try:
            # Lua runs only inside ``with runtime.lock`` segments, one per pass between two waits
            # (usually one per activation): see ``LuaVM.lock``. Completions arrive as Python
            # values and enter Lua inside the next segment.
            runtime = workflow_vm(self.config.max_memory)
            with runtime.lock:
                self._start(runtime, raw_args)
                finished, result = self._advance()
            while not finished:
                try:
                    await workflow.wait_condition(self._ready)
                except asyncio.CancelledError:
                    # Temporal asked this workflow to cancel. Code that reads process.events()
                    # gets a CANCEL event and decides (compensate, then return). Other code waiting
                    # on activities or exec'd children sees them fail with kind Canceled (so the
                    # seed's saga runs its compensations); code waiting on nothing else is
                    # cancelled at once.
                    if self._cancel_requested:
                        raise
                    with runtime.lock:
                        watching_events = self.state.kernel.watching_events
                        watching = bool(watching_events is not None and watching_events())
                    reason, sender = _cancel_reason(workflow.cancellation_reason())
                    # What the workflow is blocked on (funcs.call, exec) is cancelled in any case:
                    # Temporal's default, and the only way code waiting there can react. The
                    # reason travels on to exec'd children (Task.cancel(msg) gives a child
                    # cancellation its reason). funcs.async futures are left to a watcher.
                    blocking = [
                        h for tag, h in self._activities.items() if tag not in self._async_tags
                    ]
                    if watching:
                        self._events.append(
                            lambda why=reason, by=sender: self.state.sys.cancel_event(
                                workflow.time(), why, by
                            )
                        )
                        for handle in blocking:
                            handle.cancel(reason)
                    elif self._activities:
                        for handle in list(self._activities.values()):
                            handle.cancel(reason)
                    else:
                        raise
                    self._cancel_requested = True
                    self._cancel_reason = reason
                with runtime.lock:
                    finished, result = self._advance()
        except workflow.ContinueAsNewError:
            await end_updates(self.mailbox, CONTINUED)
            raise
        except ApplicationError:
            await end_updates(self.mailbox, FAILED)
            raise
        await end_updates(self.mailbox, COMPLETED)
        return result

    def _ready(self) -> bool:
        """The run's wait condition: something for Lua (a bound method, smaller than a
        closure, is what the SDK keeps while the run waits)."""
        return bool(self._completions or self.mailbox.messages or self._events)

    def _start(self, runtime: LuaVM, raw_args: Sequence[RawValue]) -> None:
        """Create the run, load the entry and start its main coroutine (inside the lock)."""
        host = WorkflowHost(self._declared, self._client_id, self.mailbox)
        state = LuaRun(
            "workflow",
            host,
            self.app,
            max_memory=self.config.max_memory,
            instruction_budget=self.config.instruction_budget,
            vm=runtime,
        )
        host.state = state
        self.host = host
        self.state = state
        state.arm_memory()
        try:
            fn = state.load_code(self.code)
        except mferrors.AppError as e:
            raise to_application_error(
                ErrorInfo(mferrors.INTERNAL, str(e), retryable=False)
            ) from None
        except RunStopped as e:
            raise self._stopped(e.reason, "loading its file", e.where) from None
        converter = workflow.payload_converter()
        args = []
        try:
            for i, raw in enumerate(raw_args, 1):
                value = converter.from_payload(raw.payload)
                args.append(state.to_lua(value, f"input {i}"))
        except ConversionError as e:
            # Bad input never gets better by retrying: fail the run, don't loop the task.
            raise to_application_error(ErrorInfo(mferrors.INVALID, str(e), False)) from None
        # __stack_trace reaches _query through the class's dynamic query handler
        # (_workflow.py): registering a handler per run cost the SDK a signature inspection
        self.mailbox.query = self._query
        if self.config.command_log is not None:
            state.sys.where_of_commands = True  # kernel.lua: each command carries its file:line
        # funcs.lua checks each call at once; held weakly like every host method, so the
        # run's Lua state never keeps this driver alive (lua/_run.py)
        me = weakref.ref(self)
        start = _kernel_calls(state.vm)[0]
        start(
            state.sys,
            weak_method(me, "prepare_activity"),
            weak_method(me, "activity_cancelling"),
            state.kernel,
            fn,
            *args,
        )

    def _advance(self) -> tuple[bool, Any]:
        """Hand the ready completions and messages to Lua and run it until every coroutine
        waits (inside the lock). Returns ``(True, result)`` when the workflow returned,
        ``(False, None)`` when it waits; raises for a failed workflow or workflow task."""
        state = self.state
        kernel = state.kernel
        step = _kernel_calls(state.vm)[1]
        messages = self.mailbox.messages
        resumed: Any = None  # what step returned, when the completion ran the kernel
        if self._events:
            events, self._events = self._events, []
            with state.vm.uncapped():
                built_events = [make() for make in events]
            for ev in built_events:
                kernel.event(ev)
        if self._completions:
            with state.vm.uncapped():
                built = self.take_completions()
            state.arm_memory()
            if not messages:
                # The usual activation (an activity or timer resolved): complete and run in
                # one call into Lua; each call costs a GIL hand-off on a busy worker.
                for tag, values in built[:-1]:
                    kernel.complete(tag, *values)
                tag, values = built[-1]
                resumed = step(kernel, tag, *values)
            else:
                for tag, values in built:
                    kernel.complete(tag, *values)
        while True:
            if resumed is None:
                state.arm_memory()
                self._deliver_messages()
                res = step(kernel, None)
            else:
                res, resumed = resumed, None
            if self.host.task_failure is not None:
                raise self.host.task_failure  # not a workflow failure: the task is retried
            if type(res) is tuple and len(res) == 2:  # very many commands: their list
                status, out = res
                entry = _kernel_calls(state.vm)[3]
                for i in range(1, len(out) + 1):
                    self._issue(*entry(out, i))
            elif type(res) is tuple:  # the status, then (tag, cmd, op, a, b) per command
                status = res[0]
                for i in range(1, len(res), 5):
                    self._issue(*res[i : i + 5])
            else:
                status = res
            if status == "blocked":
                if (
                    not self._completions
                    and not messages
                    and self._inflight == 0
                    and not kernel.listening()
                ):
                    raise to_application_error(
                        ErrorInfo(
                            mferrors.INTERNAL,
                            "deadlock: every coroutine of the workflow is blocked and nothing "
                            "it waits for is pending",
                            retryable=False,
                        )
                    )
                return False, None
            if status == "done":
                return True, self._finish(returned(state, kernel.result, "workflow result"))
            if status == "error":
                if state.stopped:  # a library required mid-run was stopped while loading
                    raise self._stopped(state.stopped, "loading a library", state.stopped_where)
                self._finish(raised(state, kernel.error, kernel.traceback))
            if status in ("budget", "memory"):
                raise self._stopped(status, "without waiting", kernel.budget_where)
            raise LuaTaskFailure(f"unexpected kernel status {status!r}")

    def _stopped(self, reason: str, doing: str, where: str | None) -> LuaTaskFailure:
        """The task failure for code moonflow stopped (instruction budget, memory cap);
        ``where`` is the user code's ``file:line`` when the budget ran out."""
        entry = self.code.entry.id
        if where and reason != "memory":
            doing = f"{doing}, at {where}"
        if reason == "memory":
            return self._task_failure(
                f"{entry}: the workflow activation exceeded its Lua memory cap "
                f"({self.config.max_memory} bytes); the workflow task fails and will be retried"
            )
        return self._task_failure(
            f"{entry}: the workflow ran more than {self.config.instruction_budget} Lua "
            f"instructions {doing} (an endless loop, or a costly call such as "
            "crypto.pbkdf2 or json.validate on a large schema?); the workflow task fails and "
            "will be "
            "retried"
        )

    def _stack_trace(self) -> str:
        """The ``__stack_trace`` query: a Lua traceback of every live task."""
        with self.state.lock:
            self.state.arm_memory()
            return str(self.state.kernel.stacks())

    def _query(self, name: str, args: list[Any]) -> Any:
        """Answer a query from a ``workflow.on_query`` handler, or ``__stack_trace``; raises
        KeyError if none."""
        if name == "__stack_trace":  # Temporal's built-in query: the Lua tasks' stacks
            return self._stack_trace()
        state = self.state
        with state.lock:
            handler = state.kernel.queries[name]
            if handler is None:
                raise KeyError(name)
            lua_args = [state.to_lua(a, f"query {name} argument") for a in args]
            state.arm_memory()
            self.host.in_query = True  # Python modules read it (their randomness: _uuid, _crypto)
            try:
                ok, value = state.kernel.call_query(handler, state.pack(lua_args))
            finally:
                self.host.in_query = False
            if not ok:
                raise ApplicationError(
                    f"query {name}: {state.error_text(value)}",
                    type="Internal",
                    non_retryable=True,
                )
            try:
                return state.to_python(value, f"query {name} result")
            except ConversionError as e:
                raise ApplicationError(str(e), type="Invalid", non_retryable=True) from None

    def _task_failure(self, message: str) -> LuaTaskFailure:
        # One clear line for the operator (the SDK's own report is a long traceback that the
        # CLI hides unless --debug); Temporal retries the task, so it repeats until fixed.
        if not workflow.unsafe.is_replaying():
            _log.error("workflow %s: %s", workflow.info().workflow_id, message)
        return LuaTaskFailure(message)

    # ---- results -------------------------------------------------------------------
    def _finish(self, outcome: Outcome) -> Any:
        """The run's result, or raise its failure (the shared rules: ``lua/_outcome.py``).
        A result over the payload limit fails the run with kind ``Invalid`` (the server would
        refuse it and the workflow task would be retried forever)."""
        if outcome.ok:
            try:
                (result,) = encode_checked(
                    workflow.payload_converter(), [outcome.value], "workflow result"
                )
            except PayloadTooLarge as e:
                raise to_application_error(e.info) from None
            return result
        assert outcome.error is not None
        if self._cancel_requested and outcome.error.kind == mferrors.CANCELED:
            # `return nil, err` of kind Canceled after a cancel request: the workflow closes
            # as Canceled in Temporal, not as Failed
            raise asyncio.CancelledError(outcome.error.message)
        raise to_application_error(outcome.error, stack=outcome.stack)

    def _continue_as_new(self, cmd: Any) -> None:
        """End this run and start a new one of the same workflow with the given input, carrying
        over every message that arrived but was not consumed (in order)."""
        state = self.state
        packed = cmd["args"]
        try:
            args = [
                state.to_python(packed[i], f"continue_as_new argument {i}")
                for i in range(1, packed["n"] + 1)
            ]
            encode_checked(workflow.payload_converter(), args, "continue_as_new arguments")
        except ConversionError as e:
            raise to_application_error(ErrorInfo(mferrors.INVALID, str(e), False)) from None
        except PayloadTooLarge as e:
            raise to_application_error(e.info) from None
        carry: list[list[Any]] = []
        pending = state.kernel.unconsumed()
        for i in range(1, len(pending) + 1):
            msg = pending[i]
            values = msg["values"]
            carry.append(
                [
                    msg["topic"],
                    [state.to_python(values[j], "message") for j in range(1, values["n"] + 1)],
                    msg["from"],
                ]
            )
        carry.extend([t, v, f] for t, v, f in self.mailbox.messages)
        # An update's message stays with this run: the update ends with it (_updates.py), and
        # the new run could not answer it.
        updates = self.mailbox.updates
        carry = [c for c in carry if c[2] not in updates]
        self.mailbox.carry = carry or None
        target = cmd["workflow"]
        kwargs: dict[str, Any] = {}
        if target:
            kwargs["workflow"] = self.app.workflow_type(str(target))
        workflow.continue_as_new(args=args, **kwargs)

    def _deliver_messages(self) -> None:
        messages = self.mailbox.messages
        if not messages:
            return
        state = self.state
        deliver = state.kernel.deliver
        batch = messages[:]
        del messages[:]
        for topic, values, sender in batch:
            try:
                lua_values = [state.to_lua(v, f"message {topic}") for v in values]
            except ConversionError as e:
                workflow.logger.warning("dropping message %s that cannot enter Lua: %s", topic, e)
                continue
            deliver(topic, state.pack(lua_values), sender)

    # ---- commands ------------------------------------------------------------------
    def _log_command(self, kind: str, name: Any, cmd: Any) -> None:
        log = self.config.command_log
        if log is not None:
            where = cmd["where"]
            log.append(IssuedCommand(kind, "" if name is None else str(name), where and str(where)))

    def _issue(self, tag: int, cmd: Any, op: Any, a: Any, b: Any) -> None:
        """Carry out command ``cmd`` (tag ``tag``, op ``op``); ``a, b``: an activity's
        ``prepared, async``, a timer's ``ns`` (read with the command, see _KERNEL_CALLS)."""
        if self.config.command_log is not None and op not in ("activity", "sleep", "timer"):
            self._log_command(str(op), cmd["workflow"] or cmd["topic"], cmd)
        if op == "activity":
            self._start_activity(tag, cmd, a, b)
        elif op == "sleep" or op == "timer":
            if self.config.command_log is not None and int(a) > 0:
                self._log_command("timer", a, cmd)
            self._start_timer(tag, int(a))
        elif op == "cancel_timer":
            self._cancel_timer(int(cmd["timer"]))
        elif op == "cancel_activity":
            self._cancel_activity(int(cmd["activity"]))
        elif op == "signal":
            self._signal_external(tag, cmd)
        elif op == "continue_as_new":
            self._continue_as_new(cmd)
        elif op == "child":
            self._start_child(tag, cmd)
        elif op == "cancel_external":
            self._cancel_external(tag, cmd)
        else:
            raise LuaTaskFailure(f"unknown workflow command {op!r}")

    def prepare_activity(self, cmd: Any, how: Any = "funcs.call") -> Any:
        """Called by ``funcs.lua`` (as ``sys.prepare_activity``) when ``funcs.call`` or
        ``funcs.async`` (``how``) is called, before the command is yielded or emitted: every
        error known before scheduling is the call's own ``nil, err`` at once, for
        ``funcs.async`` too (no future). Returns the prepared call (kept in the command as
        ``cmd.prepared`` for :meth:`_start_activity`) or the Lua error object."""
        prepared = self._prepare_activity(cmd, str(how))
        if isinstance(prepared, ErrorInfo):
            return self.state.new_error(prepared.kind, prepared.message, prepared.retryable)
        # a future of this call resolves on cancel only once the activity stopped (funcs.lua)
        waits = prepared.kwargs.get("cancellation_type") == _WAIT_CANCELLATION
        cmd["wait_for_cancellation"] = waits
        return prepared

    def activity_cancelling(self, prepared: Any) -> None:
        """Called by ``funcs.lua`` when ``future:cancel()`` cancels a call that does not wait
        for the cancellation: its ``activity.id`` stays Temporal's until the attempt stops, so
        a reuse from now on is refused naming the cancel (the cancel command itself is issued
        after the Lua step, too late for a reuse in the same step)."""
        held = getattr(prepared, "held", None)
        if held is not None and self._held_ids.get(held) == _HELD_RUNNING:
            self._held_ids[held] = _HELD_CANCELLED

    def _prepare_activity(self, cmd: Any, how: str) -> _PreparedActivity | ErrorInfo:
        """The checks of an ``activity`` command, in Lua's call order. What would fail the
        workflow task instead of the call (a bad option, a value JSON cannot hold, arguments
        over the payload limit, an ``activity.id`` an activity of this run still holds) is kind
        ``Invalid``, not retryable; an id naming an app entry that is not an activity is
        ``NotFound``, not retryable. An id no entry of the app has is scheduled all the same
        (another deployment may serve it; a worker of this app fails the attempt with
        ``NotFound``, retryable, and the retry policy decides)."""
        state = self.state
        # the command's fields in one call into Lua: id, context, options, n, arguments...
        fields = _kernel_calls(state.vm)[2](cmd)
        activity_id = str(fields[0])
        call = f"{how}({activity_id})"
        try:
            args = [
                state.to_python(fields[3 + i], f"{call} argument {i}")
                for i in range(1, fields[3] + 1)
            ]
            context = fields[1]
            call_context = state.to_python(context, "with_context") if context else None
        except ConversionError as e:
            return ErrorInfo(mferrors.INVALID, str(e), False)
        try:
            options = fields[2]
            options = state.to_python(options, "options") if options else None
            kwargs = activity_options(options)
        except (ConversionError, OptionError) as e:
            return ErrorInfo(mferrors.INVALID, f"{call}: invalid activity options: {e}", False)
        target = _target(self.app, activity_id)
        if target.refused is not None:
            kind, reason = target.refused
            return ErrorInfo(kind, f"{call}: {reason}", False)
        try:
            raw_args = encode_checked(workflow.payload_converter(), args, f"{call} arguments")
        except PayloadTooLarge as e:
            return e.info
        local = kwargs.pop("local", None)
        if local is None:
            local = target.local
        if not local and "task_queue" not in kwargs and target.task_queue is not None:
            kwargs["task_queue"] = target.task_queue
        held = kwargs.get("activity_id") if not local else None
        if held is not None:
            if held in self._held_ids:
                # Temporal refuses a second running activity with one id
                # (ScheduleActivityDuplicateId), failing the workflow task on every retry
                return ErrorInfo(
                    mferrors.INVALID,
                    f"{call}: invalid activity options: activity.id {held!r} is held by "
                    f"{self._held_ids[held]}: Temporal allows one running activity per id; "
                    "use another id, or reuse it once that activity has finished",
                    False,
                )
            self._held_ids[held] = _HELD_RUNNING
        return _PreparedActivity(activity_id, raw_args, kwargs, local, call_context, held)

    def _start_activity(self, tag: int, cmd: Any, prepared: Any, is_async: Any) -> None:
        """The ``activity`` command (``funcs.call`` / ``funcs.async``, ``is_async``):
        schedules what :meth:`prepare_activity` prepared (``cmd.prepared``; checking the
        command itself when it was not), or completes the call with the error
        (:meth:`_prepare_activity`)."""
        if prepared is None:
            prepared = self._prepare_activity(cmd, "funcs.async" if is_async else "funcs.call")
            if isinstance(prepared, ErrorInfo):
                self.complete_error(tag, prepared)
                return
        activity_id, raw_args, kwargs, local, call_context, held = prepared.fields()
        if held is not None:
            waits = kwargs.get("cancellation_type") == _WAIT_CANCELLATION
            self._held_by_tag[tag] = (held, waits)
        if self.config.command_log is not None:
            self._log_command("local activity" if local else "activity", activity_id, cmd)
        # the call's own with_context values, added to the header by the outbound interceptor
        token = EXTRA.set(call_context) if isinstance(call_context, dict) else None
        try:
            if local:
                for key in _NOT_LOCAL:  # what Temporal has no local form of
                    kwargs.pop(key, None)
                handle = workflow.start_local_activity(activity_id, args=raw_args, **kwargs)
            else:
                handle = workflow.start_activity(activity_id, args=raw_args, **kwargs)
        finally:
            if token is not None:
                EXTRA.reset(token)
        self._inflight += 1
        self._activities[tag] = handle
        if is_async:
            self._async_tags[tag] = None
        handle.add_done_callback(lambda fut: self._activity_done(tag, fut))

    def _activity_done(self, tag: int, fut: asyncio.Future[Any]) -> None:
        self._inflight -= 1
        self._activities.pop(tag, None)
        self._async_tags.pop(tag, None)
        held = self._held_by_tag.pop(tag, None) if self._held_by_tag else None
        exc = None if fut.cancelled() else fut.exception()
        info = from_exception(exc) if exc is not None else None
        if held is not None:
            held, waited = held
            cancelled = fut.cancelled() or (info is not None and info.kind == mferrors.CANCELED)
            if cancelled and not waited:
                # a cancel that did not wait: the attempt may still run on its worker, and
                # Temporal keeps the id until it stops; this run never learns when
                self._held_ids[held] = _HELD_CANCELLED
            else:
                self._held_ids.pop(held, None)
        if fut.cancelled():
            self.complete_error(tag, ErrorInfo(mferrors.CANCELED, "activity canceled", False))
            return
        if info is not None:
            self.complete_error(tag, info)
            return
        self.complete_ok(tag, fut.result(), "activity result")

    def _cancel_activity(self, tag: int) -> None:
        """Ask Temporal to cancel the activity of command ``tag`` (``future:cancel()``). Its
        handle then completes ``tag`` with kind Canceled, as a workflow cancellation does. A
        no-op once it has finished (its result may still be on its way into Lua)."""
        handle = self._activities.get(tag)
        if handle is not None:
            handle.cancel()

    def _start_timer(self, tag: int, ns: int) -> None:
        if ns <= 0:
            self.complete(tag)
            return
        seconds = max(ns / 1e9, _MIN_TIMER_SECONDS)
        self._inflight += 1

        def fired() -> None:
            self._timers.pop(tag, None)
            self._inflight -= 1
            self.complete(tag)

        self._timers[tag] = asyncio.get_running_loop().call_later(seconds, fired)

    def _cancel_timer(self, tag: int) -> None:
        handle = self._timers.pop(tag, None)
        if handle is not None:
            handle.cancel()  # the SDK turns this into a CancelTimer command
            self._inflight -= 1

    def _signal_external(self, tag: int, cmd: Any) -> None:
        state = self.state
        target = str(cmd["target"])
        topic = str(cmd["topic"])
        packed = cmd["args"]
        try:
            args = [
                state.to_python(packed[i], f'process.send(topic "{topic}") value {i}')
                for i in range(1, packed["n"] + 1)
            ]
            raw = encode_checked(
                workflow.payload_converter(), args, f'process.send(topic "{topic}") values'
            )
        except ConversionError as e:
            self.complete_error(tag, ErrorInfo(mferrors.INVALID, str(e), False))
            return
        except PayloadTooLarge as e:
            self.complete_error(tag, e.info)
            return
        workflow_id = workflow_id_of(target)
        if workflow_id is None and parse_process_pid(target) is not None:
            # a local process: a local activity delivers it, exactly once (_deliver.py)
            info = workflow.info()
            key = f"{info.workflow_id}/{info.run_id}/{tag}"
            fut = workflow.start_local_activity(
                DELIVER, args=[target, topic, args, self.host.pid(), key], **DELIVER_OPTIONS
            )
        elif workflow_id is None:
            self.complete_error(
                tag,
                ErrorInfo(
                    mferrors.NOT_FOUND, f"could not resolve {target!r} as PID or workflow id", False
                ),
            )
            return
        else:
            handle = workflow.get_external_workflow_handle(workflow_id)
            fut = asyncio.ensure_future(handle.signal(topic, args=raw))
        self._inflight += 1

        def done(f: asyncio.Future[Any]) -> None:
            self._inflight -= 1
            exc = None if f.cancelled() else f.exception()
            if exc is None and not f.cancelled():
                self.complete_ok(tag)
                return
            info = from_exception(exc) if exc else ErrorInfo(mferrors.CANCELED, "canceled", False)
            if "not found" in info.message.lower() or info.kind == mferrors.UNKNOWN:
                message = f"process.send to {target}: {info.message}"
                if not target.startswith("{"):
                    # a bare string is a workflow id here: names registered by processes
                    # are local to their process host, not known to workflow code
                    message = (
                        f"could not resolve {target!r} as PID or workflow id (a workflow "
                        "cannot look up process.registry names: send to the process's PID)"
                    )
                info = ErrorInfo(mferrors.NOT_FOUND, message, False)
            self.complete_error(tag, info)

        fut.add_done_callback(done)
