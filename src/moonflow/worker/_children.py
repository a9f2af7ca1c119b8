"""Child workflows of a workflow run: ``process.spawn*``, ``process.exec``, ``workflow.exec`` and
their builders (``process.with_options{...}:with_name(..):with_message(..):spawn(...)``).

Behaviour (seed "Child Workflows"; lua-api.md §2.1, §3; reference-runtime.md §2.8):

* The child's workflow type is its entry's (``meta.temporal.workflow.name`` or the entry id);
  its task queue comes from ``workflow.task_queue``, else ``host`` (a ``temporal.worker`` entry
  id or a task queue name), else the child entry's own worker, else the parent's queue.
* Its id is ``workflow.id``, else the builder's name, else ``<parent id>-<run id[:8]>-<n>`` for
  the n-th child of the run: the same on every replay.
* With an explicit id (or name) and no policy, an id already running is not an error
  (``use_existing``): spawn returns that workflow's PID and its startup messages go to it;
  ``exec`` cannot wait for a workflow it did not start and returns ``AlreadyExists``. With
  ``fail`` (the default for generated ids, or ``execution_error_when_already_started``) it is
  ``nil, err`` of kind ``AlreadyExists``; ``terminate_existing`` is not available to child
  workflows (Temporal has no such child option) and is ``Invalid``.
* Context: the child gets the parent's context values plus the builder's ``:with_context``
  ones (``ctx.get`` in the child; see ``_context.py``).
* Startup messages (``:with_message(topic, ...)``) are signalled to the child in order right
  after it started, before spawn returns.
* ``spawn`` completes with the child's PID once the child started; when the child ends, an EXIT
  event goes to ``process.events()`` (``sys.exit_event`` in process.lua). ``exec`` completes
  with the child's result or error, and makes no EXIT event.
* Every problem with the call (an unknown entry, a bad option, a value that cannot be sent, an
  input or startup message over the payload limit: ``_payloads.py``) is ``nil, err`` for the
  calling code; it never fails the parent.

:class:`ChildWorkflows` is mixed into the workflow driver, whose state it uses: ``app``,
``state``, ``_complete_ok`` / ``_complete_error`` / ``_error_result``, ``_events``,
``_inflight``, ``_children``, ``_client_id``, ``_worker_id``, ``_declared``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError

from .. import errors as mferrors
from ..client._target import format_pid
from ..errors import ErrorInfo
from ..lua._convert import ConversionError
from ..lua._kernel_run import KernelRun
from ._context import EXTRA
from ._failures import cancel_reason_with_sender, from_exception
from ._options import OptionError
from ._payloads import PayloadTooLarge, encode_checked
from ._workflow_host import typed_search_attributes
from ._workflow_options import workflow_options

if TYPE_CHECKING:
    from ..lua import LuaRun
    from ..registry import App


class ChildWorkflows(KernelRun):
    """The driver's child-workflow commands (see the module docstring)."""

    app: App
    state: LuaRun
    _events: list[Any]
    _activities: dict[int, Any]
    _cancel_requested: bool
    _cancel_reason: str | None
    _inflight: int
    _children: int
    _client_id: str
    _worker_id: str
    _declared: dict[str, str]

    def _start_child(self, tag: int, cmd: Any) -> None:
        """The ``child`` command: ``{workflow, host, wait = "start" | "result", fname, args,
        options?, name?, messages?}``."""
        fname, entry_id, wait = str(cmd["fname"]), str(cmd["workflow"]), str(cmd["wait"])
        call = f"{fname}({entry_id})"

        def fail(kind: str, message: str) -> None:
            self.complete_error(tag, ErrorInfo(kind, f"{call}: {message}", False))

        state = self.state
        try:
            packed = cmd["args"]
            args = [state.to_python(packed[i], f"argument {i}") for i in range(1, packed["n"] + 1)]
            raw_options = cmd["options"]
            options = workflow_options(
                state.to_python(raw_options, "options") if raw_options is not None else None
            )
            messages = self._startup_messages(cmd["messages"], call)
            raw_context = cmd["context"]
            context = state.to_python(raw_context, "with_context") if raw_context else None
            if context == []:
                context = {}  # an empty Lua table
            if context is not None and not isinstance(context, dict):
                raise OptionError("with_context needs a table of name = value")
            # the server refuses an input (or a startup message) over its blob size limit and
            # the parent's task would fail forever: refuse it here, with nothing sent
            converter = workflow.payload_converter()
            raw_args = encode_checked(converter, args, "input")
            for topic, values in messages:
                encode_checked(converter, values, f"startup message {topic}")
        except (ConversionError, OptionError) as e:
            fail(mferrors.INVALID, str(e))
            return
        except PayloadTooLarge as e:
            fail(mferrors.INVALID, e.info.message)
            return
        try:
            workflow_type = self.app.workflow_type(entry_id)
        except mferrors.AppError as e:
            fail(mferrors.NOT_FOUND, str(e))
            return
        for name, given, why in (
            (
                "request_id",
                options.request_id,
                "a child's start is recorded in its parent's history and happens once",
            ),
            (
                "start_delay",
                options.durations.get("start_delay"),
                "Temporal has no start delay for child workflows: sleep before spawning",
            ),
        ):
            if given is not None:
                fail(mferrors.INVALID, f"workflow.{name} applies to top-level starts only: {why}")
                return
        if options.conflict == "terminate_existing":
            fail(
                mferrors.INVALID,
                "workflow.id_conflict_policy terminate_existing is not available to child "
                "workflows: terminate the running one first, or use another id",
            )
            return
        kwargs = options.child_kwargs()
        if options.search_attributes:
            undeclared = sorted(set(options.search_attributes) - set(self._declared))
            if undeclared:
                # the server would refuse the start and fail the parent's task, forever
                fail(
                    mferrors.INVALID,
                    f"workflow.search_attributes: {', '.join(undeclared)} not declared in the "
                    "temporal.client entry's search_attributes: declare them there",
                )
                return
            try:
                kwargs["search_attributes"] = typed_search_attributes(
                    self._declared, options.search_attributes
                )
            except ValueError as e:
                fail(mferrors.INVALID, f"workflow.search_attributes: {e}")
                return
        host = cmd["host"]
        if isinstance(host, str) and ":" in host and not self._is_worker(host):
            fail(
                mferrors.NOT_FOUND,
                f"host {host!r} is not a temporal.worker entry of the app (a task queue named "
                "like an entry id goes in workflow.task_queue)",
            )
            return
        worker_id, task_queue = self._child_queue(entry_id, host)
        if options.task_queue:
            task_queue = options.task_queue
        self._children += 1  # counted for every start, so default ids never move on replay
        name = cmd["name"]
        child_id = options.id or (str(name) if name else None)
        explicit = child_id is not None
        conflict = options.conflict
        if explicit and options.conflict_policy is None and not options.error_when_already_started:
            conflict = "use_existing"  # an explicit id or a name (lua-api.md §3.3)
        if child_id is None:
            info = workflow.info()
            child_id = f"{info.workflow_id}-{info.run_id[:8]}-{self._children}"
        pid = format_pid(self._client_id, worker_id, child_id)

        async def start() -> Any:
            if context:
                EXTRA.set(context)  # this task's: the outbound interceptor adds it (_context.py)
            handle = await workflow.start_child_workflow(
                workflow_type, args=raw_args, id=child_id, task_queue=task_queue, **kwargs
            )
            for topic, values in messages:
                await handle.signal(topic, args=values)
            return handle

        self._inflight += 1
        fut = asyncio.ensure_future(start())
        if wait == "result":
            # A cancel of the parent while the exec'd child is still starting cancels the
            # start (the SDK drops the command, or cancels the child once it has started), so
            # exec returns Canceled just as for a running child.
            self._activities[-tag] = fut

        def started(f: asyncio.Future[Any]) -> None:
            exc = None if f.cancelled() else f.exception()
            self._activities.pop(-tag, None)
            if exc is None and not f.cancelled():
                handle = f.result()
                if wait == "start":
                    self.complete_ok(tag, pid, f"{fname} PID")
                else:
                    # an exec'd child is cancelled with the parent, like an activity call;
                    # also when the request came in the activation that saw it start (the
                    # start future could no longer be cancelled then)
                    self._activities[-tag] = handle
                    if self._cancel_requested:
                        handle.cancel(self._cancel_reason)
                handle.add_done_callback(lambda r: self._child_done(tag, wait, pid, r))
                return
            self._inflight -= 1
            if isinstance(exc, WorkflowAlreadyStartedError):
                if conflict == "use_existing" and wait == "start":
                    self._use_existing(tag, child_id, pid, messages, fname)
                    return
                fail(mferrors.ALREADY_EXISTS, f"a workflow with id {child_id!r} is running")
                return
            info = from_exception(exc) if exc else ErrorInfo(mferrors.CANCELED, "canceled", False)
            self.complete_error(
                tag, ErrorInfo(info.kind, f"{call}: {info.message}", info.retryable, info.details)
            )

        fut.add_done_callback(started)

    def _cancel_external(self, tag: int, cmd: Any) -> None:
        """The ``cancel_external`` command: request cancellation of another workflow."""
        from ._driver import workflow_id_of

        target, fname = str(cmd["target"]), str(cmd["fname"])
        workflow_id = workflow_id_of(target)
        if workflow_id is None:
            self.complete_error(
                tag, ErrorInfo(mferrors.INVALID, f"{fname}: {target!r} is not a PID", False)
            )
            return
        handle = workflow.get_external_workflow_handle(workflow_id)
        self._inflight += 1
        reason = cancel_reason_with_sender(cmd["reason"] and str(cmd["reason"]), self.host.pid())
        fut = asyncio.ensure_future(handle.cancel(reason=reason))

        def done(f: asyncio.Future[Any]) -> None:
            self._inflight -= 1
            exc = None if f.cancelled() else f.exception()
            if exc is None and not f.cancelled():
                self.complete_ok(tag)
                return
            info = from_exception(exc) if exc else ErrorInfo(mferrors.CANCELED, "canceled", False)
            kind = mferrors.NOT_FOUND if "not found" in info.message.lower() else info.kind
            self.complete_error(tag, ErrorInfo(kind, f"{fname}({target}): {info.message}", False))

        fut.add_done_callback(done)

    def _startup_messages(self, raw: Any, call: str) -> list[tuple[str, list[Any]]]:
        """``[(topic, [values...]), ...]`` of a builder's ``:with_message`` calls."""
        out: list[tuple[str, list[Any]]] = []
        if raw is None:
            return out
        state = self.state
        for i in range(1, len(raw) + 1):
            msg = raw[i]
            topic, packed = str(msg["topic"]), msg["args"]
            values = [
                state.to_python(packed[j], f"message {topic} value {j}")
                for j in range(1, packed["n"] + 1)
            ]
            out.append((topic, values))
        return out

    def _use_existing(
        self, tag: int, child_id: str, pid: str, messages: list[tuple[str, list[Any]]], fname: str
    ) -> None:
        """The id runs already: spawn returns its PID, after its startup messages reached it."""
        if not messages:
            self.complete_ok(tag, pid, f"{fname} PID")
            return
        handle = workflow.get_external_workflow_handle(child_id)

        async def deliver() -> None:
            for topic, values in messages:
                await handle.signal(topic, args=values)

        self._inflight += 1
        fut = asyncio.ensure_future(deliver())

        def done(f: asyncio.Future[Any]) -> None:
            self._inflight -= 1
            exc = None if f.cancelled() else f.exception()
            if exc is None and not f.cancelled():
                self.complete_ok(tag, pid, f"{fname} PID")
                return
            info = from_exception(exc) if exc else ErrorInfo(mferrors.CANCELED, "canceled", False)
            self.complete_error(tag, info)

        fut.add_done_callback(done)

    def _child_queue(self, entry_id: str, host: Any) -> tuple[str, str]:
        """``(worker entry id for the PID, task queue)`` of a child: ``host`` names a
        temporal.worker entry or a task queue; without one, the child entry's own worker, else
        the parent's."""
        if isinstance(host, str) and host:
            if self._is_worker(host):
                return host, self.app.task_queue(host)
            return self._worker_id, host
        target = self.app.spec(entry_id).workflow_worker
        if target:
            return target, self.app.task_queue(target)
        return self._worker_id, workflow.info().task_queue

    def _is_worker(self, entry_id: str) -> bool:
        return entry_id in self.app.entries and self.app.get(entry_id).kind == "temporal.worker"

    def _child_done(self, tag: int, wait: str, pid: str, fut: asyncio.Future[Any]) -> None:
        self._inflight -= 1
        self._activities.pop(-tag, None)
        exc = None if fut.cancelled() else fut.exception()
        info: ErrorInfo | None = None
        if fut.cancelled() or exc is not None:
            info = from_exception(exc) if exc else ErrorInfo(mferrors.CANCELED, "canceled", False)
        if wait == "result":
            if info is None:
                self.complete_ok(tag, fut.result(), "child workflow result")
            else:
                self.complete_error(tag, info)
            return
        value = None if info is not None else fut.result()
        at = workflow.time()

        def make() -> Any:
            state = self.state
            err = None
            if info is not None:
                err = self.error_table(info)["err"]
            try:
                lua_value = state.to_lua(value, "child workflow result")
            except ConversionError as e:
                lua_value = None
                err = state.new_error(mferrors.INVALID, str(e), False)
            return state.sys.exit_event(pid, err is None, lua_value, err, at)

        self._events.append(make)
