"""What the commands of a process do: calls, messages, spawns, cancels.

Each handler gets the process, the command's tag and its Lua command table (the same tables the
workflow driver gets from ``funcs.lua`` and ``process.lua``), reads the table at once (on the
loop thread, outside Lua) and completes the tag later with ``{ok, value}`` / ``{ok, err}``.

Targets: a local process PID ``{host|0x0000N}`` or a name registered on the node; a workflow
PID ``{client@worker|workflow id}``; for spawn, a ``process.lua`` / ``function.lua`` entry
(a new local process) or a ``workflow.lua`` entry with a ``temporal.worker`` host (a new
top-level Temporal workflow, lua-api.md §2.1 "Workflow-specific semantics").
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .. import errors as mferrors
from ..errors import ErrorInfo, UsageError, WorkflowFailure
from ..lua._convert import ConversionError
from ..lua._outcome import Outcome
from ._pids import parse_process_pid

if TYPE_CHECKING:
    from ._node import ProcessNode
    from ._process import Process

log = logging.getLogger("moonflow.process")


class Commands:
    """The command handlers of one node's processes."""

    def __init__(self, node: ProcessNode) -> None:
        self.node = node
        # the last signal of each (sender, workflow) pair: the next one waits for it, so a
        # process's messages reach a workflow in the order sent (per-sender FIFO)
        self._signal_tails: dict[tuple[str, str], asyncio.Future[Any]] = {}

    # ---- funcs.call / funcs.async ------------------------------------------------------
    def call_function(self, process: Process, tag: int, cmd: Any) -> None:
        """``{op = "activity", id, args, options?, context?}``: run the function entry as a
        short-lived process of its own and complete with its result (in-process, not as an
        activity; reference runtime: functions called from processes run locally)."""
        entry_id = str(cmd["id"])
        call = f"funcs.call({entry_id})"
        try:
            args = process.values_of(cmd["args"], f"{call} argument")
            extra = process.python(cmd["context"], "with_context") or {}
            options = process.python(cmd["options"], "options") or {}
        except ConversionError as e:
            process.complete_error(tag, ErrorInfo(mferrors.INVALID, str(e), False))
            return
        timeout = _call_timeout(options)
        if isinstance(timeout, str):
            process.complete_error(tag, ErrorInfo(mferrors.INVALID, f"{call}: {timeout}", False))
            return
        entry = self.node.app.entries.get(entry_id)
        if entry is not None and entry.kind == "function.py":
            context = {**process.context, **(extra if isinstance(extra, dict) else {})}
            self._call_python(process, tag, entry_id, args, context, timeout)
            return
        if entry is None or entry.kind != "function.lua":
            what = "no such entry" if entry is None else f"{entry_id} is a {entry.kind} entry"
            hint = (
                ": start workflows with process.spawn / process.exec"
                if entry is not None and entry.kind == "workflow.lua"
                else ""
            )
            process.complete_error(
                tag, ErrorInfo(mferrors.NOT_FOUND, f"{call}: {what}{hint}", False)
            )
            return
        context = {**process.context, **(extra if isinstance(extra, dict) else {})}
        try:
            callee = self.node.spawn(entry_id, args, context=context)
        except (mferrors.AppError, ConversionError) as e:
            process.complete_error(tag, ErrorInfo(mferrors.INVALID, f"{call}: {e}", False))
            return

        async def wait() -> Outcome:
            try:
                if timeout is None:
                    return await asyncio.shield(callee.done)
                return await asyncio.wait_for(asyncio.shield(callee.done), timeout)
            except TimeoutError:
                callee.exit(_failed(mferrors.TIMEOUT, f"{call} timed out after {timeout:g}s"))
                return _failed(mferrors.TIMEOUT, f"{call} timed out after {timeout:g}s", True)
            except asyncio.CancelledError:
                callee.exit(_failed(mferrors.CANCELED, f"{call} was canceled"))
                raise

        task = asyncio.ensure_future(wait())
        process.track(tag, task)
        task.add_done_callback(lambda t: self._finish(process, tag, t, f"{call} result"))

    def _call_python(
        self,
        process: Process,
        tag: int,
        entry_id: str,
        args: list[Any],
        context: dict[str, Any],
        timeout: float | None,
    ) -> None:
        """``funcs.call`` of a ``function.py`` entry: its function runs in this OS process
        (``worker/_python_activity.py``), with the same value and error rules as an activity."""
        from ..worker._python_activity import call_in_process

        call = f"funcs.call({entry_id})"
        code = self.node.app.spec(entry_id)

        async def wait() -> Outcome:
            try:
                return await asyncio.wait_for(call_in_process(code, args, context), timeout)
            except TimeoutError:
                return _failed(mferrors.TIMEOUT, f"{call} timed out after {timeout:g}s", True)

        task = asyncio.ensure_future(wait())
        process.track(tag, task)
        task.add_done_callback(lambda t: self._finish(process, tag, t, f"{call} result"))

    def _finish(self, process: Process, tag: int, task: asyncio.Future[Any], what: str) -> None:
        """Complete ``tag`` from a task that returns an Outcome (or a value)."""
        if task.cancelled():
            process.complete_error(tag, ErrorInfo(mferrors.CANCELED, "canceled", False))
            return
        exc = task.exception()
        if exc is not None:
            process.complete_error(tag, _info_of(exc))
            return
        result = task.result()
        if isinstance(result, Outcome):
            if result.ok:
                process.complete_ok(tag, result.value, what)
            else:
                assert result.error is not None
                process.complete_error(tag, result.error)
            return
        process.complete_ok(tag, result, what)

    # ---- process.send ---------------------------------------------------------------------
    def send(self, process: Process, tag: int, cmd: Any) -> None:
        """``{op = "signal", target, topic, args}``: a local message (per-sender FIFO: the
        loop delivers in the order sent) or a Temporal signal carrying the sender's PID."""
        target, topic = str(cmd["target"]), str(cmd["topic"])
        # "value N" counts the values after the topic from 1 (the PID and the topic are not
        # values); the topic is named as such so it does not read as the target
        call = f'process.send(topic "{topic}")'
        try:
            values = process.values_of(cmd["args"], f"{call} value")
        except ConversionError as e:
            process.complete_error(tag, ErrorInfo(mferrors.INVALID, str(e), False))
            return
        pid = self.node.resolve(target)
        if parse_process_pid(pid) is not None:
            if self.node.deliver(pid, topic, values, process.pid):
                process.complete_ok(tag)
            else:
                process.complete_error(
                    tag, ErrorInfo(mferrors.NOT_FOUND, f"no process {pid} is running", False)
                )
            return
        client = self._client_of(pid, "process.send")
        if isinstance(client, ErrorInfo):
            process.complete_error(tag, client)
            return
        from ..client._messages import signal
        from ..client._values import check_values

        try:  # here, so the message names process.send and counts values as above
            escaped = call.replace("{", "{{").replace("}", "}}")
            check_values(values, escaped + " value {}", f"{call} values", first=1)
        except UsageError as e:
            process.complete_error(tag, ErrorInfo(mferrors.INVALID, str(e), False))
            return
        key = (process.pid, pid)
        before = self._signal_tails.get(key)

        async def send_in_order() -> Any:
            if before is not None and not before.done():
                await asyncio.wait([before])  # its outcome is its own command's
            return await signal(client, pid, topic, *values, sender=process.pid)

        task = asyncio.ensure_future(send_in_order())
        self._signal_tails[key] = task
        process.track(tag, task)
        task.add_done_callback(lambda t: self._finish(process, tag, t, "send"))
        task.add_done_callback(
            lambda t: self._signal_tails.pop(key) if self._signal_tails.get(key) is t else None
        )

    def _client_of(self, pid: str, call: str) -> Any:
        """The connected client for a workflow PID (or the app's only client for a bare
        workflow id), or an ErrorInfo saying why there is none, starting with ``call``
        (``"process.send"``, ...). The reference runtime's ``could not resolve '...' as PID or
        registered name`` stays whole in its message (apps match on it)."""
        from ..client._target import parse_pid

        parts = parse_pid(pid)
        if parts is None:
            clients = list(self.node.clients.values())
            if pid.startswith("{") or len(clients) != 1:
                return ErrorInfo(
                    mferrors.NOT_FOUND,
                    f"{call}: could not resolve '{pid}' as PID or registered name",
                    False,
                )
            return clients[0]
        client = self.node.client_for(parts[0])
        if client is None:
            return ErrorInfo(mferrors.NOT_FOUND, self._no_client(pid, parts[0], call), False)
        return client

    def _no_client(self, pid: str, client_id: str, call: str) -> str:
        """Why the workflow PID ``pid`` naming client ``client_id`` has no connection: the
        client is no entry of the app (with a did-you-mean), or it is not connected here."""
        import difflib

        known = sorted(e.id for e in self.node.app.entries.values() if e.kind == "temporal.client")
        if client_id not in known:
            close = difflib.get_close_matches(client_id, known, n=1)
            hint = f"did you mean {close[0]}?" if close else ""
            names = ", ".join(known) if known else "none"
            return (
                f"{call}: {pid} names Temporal client {client_id}, which is not a "
                f"temporal.client entry of this app ({hint + ' ' if hint else ''}the app's "
                f"clients: {names}); a workflow PID is {{client@worker|workflow id}}"
            )
        return (
            f"{call}: {pid}: no connection to Temporal client {client_id} in this process "
            "(run the app with `moonflow run`, which connects its clients)"
        )

    # ---- process.spawn* / process.exec -------------------------------------------------
    def spawn(self, process: Process, tag: int, cmd: Any) -> None:
        """``{op = "child", workflow = entry id, host, wait = "start" | "result", fname, args,
        monitor, link, options?, name?, messages?, context?}``."""
        fname, entry_id, wait = str(cmd["fname"]), str(cmd["workflow"]), str(cmd["wait"])
        call = f"{fname}({entry_id})"
        host = cmd["host"]
        host = str(host) if host else None
        monitor, link = bool(cmd["monitor"]), bool(cmd["link"])
        try:
            args = process.values_of(cmd["args"], "argument")
            options = process.python(cmd["options"], "options")
            context = process.python(cmd["context"], "with_context")
            messages = []
            raw_messages = cmd["messages"]
            if raw_messages is not None:
                for i in range(1, len(raw_messages) + 1):
                    m = raw_messages[i]
                    messages.append((str(m["topic"]), process.values_of(m["args"], "message")))
        except ConversionError as e:
            process.complete_error(tag, ErrorInfo(mferrors.INVALID, f"{call}: {e}", False))
            return
        if context == []:
            context = {}
        context = {**process.context, **(context if isinstance(context, dict) else {})}
        name = str(cmd["name"]) if cmd["name"] else None
        entry = self.node.app.entries.get(entry_id)
        if entry is None:
            process.complete_error(
                tag, ErrorInfo(mferrors.NOT_FOUND, f"{call}: no entry {entry_id}", False)
            )
            return
        if entry.kind == "workflow.lua":
            self._spawn_workflow(
                process,
                tag,
                call,
                entry_id,
                host,
                wait,
                args,
                options,
                messages,
                context,
                name,
                monitor=monitor,
                link=link,
            )
            return
        if options:
            process.complete_error(
                tag,
                ErrorInfo(
                    mferrors.INVALID,
                    f"{call}: spawn options are for workflows; {entry_id} is a {entry.kind}",
                    False,
                ),
            )
            return
        if host is not None and not self._is_process_host(host):
            process.complete_error(
                tag,
                ErrorInfo(
                    mferrors.NOT_FOUND,
                    f"{call}: host {host!r} is not a process.host or terminal.host entry",
                    False,
                ),
            )
            return
        try:
            child = self.node.spawn(entry_id, args, host_id=host, context=context, name=name)
        except mferrors.AppError as e:
            kind = mferrors.ALREADY_EXISTS if "already registered" in str(e) else mferrors.INVALID
            process.complete_error(tag, ErrorInfo(kind, f"{call}: {e}", False))
            return
        except ConversionError as e:
            process.complete_error(tag, ErrorInfo(mferrors.INVALID, f"{call}: {e}", False))
            return
        for topic, values in messages:
            child.deliver(topic, values, process.pid)
        if wait != "result":
            child.spawned_by = process.pid
        if wait == "result":
            task = asyncio.ensure_future(asyncio.shield(child.done))
            process.track(tag, task)
            task.add_done_callback(lambda t: self._finish(process, tag, t, f"{call} result"))
            return
        if monitor:
            self.node.add_monitor(process.pid, child.pid)
        if link:
            self.node.links.setdefault(child.pid, set()).add(process.pid)
            self.node.links.setdefault(process.pid, set()).add(child.pid)
        process.complete_ok(tag, child.pid, "PID")

    def _is_process_host(self, host: str) -> bool:
        entry = self.node.app.entries.get(host)
        if entry is None:
            return host in (self.node.default_host, self.node.terminal_host)
        return entry.kind in ("process.host", "terminal.host")

    def _spawn_workflow(
        self,
        process: Process,
        tag: int,
        call: str,
        entry_id: str,
        host: str | None,
        wait: str,
        args: list[Any],
        options: Any,
        messages: list[tuple[str, list[Any]]],
        context: dict[str, Any],
        name: str | None,
        *,
        monitor: bool,
        link: bool,
    ) -> None:
        """Start a top-level Temporal workflow from a process (``moonflow.client``)."""
        from ..client._run import get_result, start_workflow

        app = self.node.app
        code = app.spec(entry_id)
        worker_id = code.workflow_worker
        task_queue = None
        if host:
            entry = app.entries.get(host)
            if entry is not None and entry.kind == "temporal.worker":
                worker_id = host
            elif entry is None and ":" not in host:
                task_queue = host  # a task queue name, as the reference runtime reads it
            else:
                process.complete_error(
                    tag,
                    ErrorInfo(
                        mferrors.NOT_FOUND,
                        f"{call}: host {host!r} is not a temporal.worker entry",
                        False,
                    ),
                )
                return
        if not worker_id:
            process.complete_error(
                tag,
                ErrorInfo(
                    mferrors.INVALID,
                    f"{call}: name a temporal.worker entry as host (the entry has no "
                    "meta.temporal.workflow.worker)",
                    False,
                ),
            )
            return
        client_id = app.client_of(worker_id).entry.id
        client = self.node.client_for(client_id)
        if client is None:
            process.complete_error(
                tag,
                ErrorInfo(
                    mferrors.UNAVAILABLE,
                    f"{call}: no connection to {client_id} (run the app with `moonflow run`)",
                    True,
                ),
            )
            return
        opts = dict(options) if isinstance(options, dict) else {}
        if name and "workflow.id" not in opts and "temporal.workflow.id" not in opts:
            opts["workflow.id"] = name
        policy_keys = {
            f"{p}{k}"
            for p in ("workflow.", "temporal.workflow.")
            for k in ("id_conflict_policy", "execution_error_when_already_started")
        }
        if wait == "result" and not policy_keys & set(opts):
            # exec runs *a new* workflow: an id already running is AlreadyExists, as for a
            # child's exec (README), not a wait on somebody else's run
            opts["workflow.id_conflict_policy"] = "fail"

        async def start() -> Any:
            try:
                wf_id, run_id, pid = await start_workflow(
                    client,
                    app,
                    entry_id,
                    args=args,
                    task_queue=task_queue,
                    signals=[(t, *v[:1]) if len(v) <= 1 else (t, v) for t, v in messages],
                    options=opts or None,
                    context=context or None,
                )
            except UsageError as e:
                text = str(e)
                kind = mferrors.ALREADY_EXISTS if "already running" in text else mferrors.INVALID
                raise _Failed(ErrorInfo(kind, f"{call}: {text}", False)) from None
            if pid.endswith("|" + wf_id + "}") and worker_id != code.workflow_worker:
                pass  # the PID names the worker the caller chose
            if wait == "result":
                try:
                    return Outcome(True, value=await get_result(client, wf_id, run_id=None))
                except WorkflowFailure as f:
                    return Outcome(False, error=f.info)
            if monitor:
                self.watch_workflow(process, pid, monitor=True)
            if link:
                self.watch_workflow(process, pid, monitor=False)
            return pid

        task = asyncio.ensure_future(start())
        process.track(tag, task)
        what = f"{call} result" if wait == "result" else "PID"
        task.add_done_callback(lambda t: self._finish(process, tag, t, what))

    def watch_workflow(self, process: Process, pid: str, *, monitor: bool) -> Any:
        """Monitor (EXIT when it closes) or link (LINK_DOWN / death when it fails) a workflow.
        Returns True, or ``(None, err)`` for a target that names no workflow."""
        from ..client._run import get_result
        from ..client._target import parse_pid
        from ._node import exit_event_maker

        client = self._client_of(pid, "process.monitor" if monitor else "process.link")
        if isinstance(client, ErrorInfo):
            assert process.state is not None
            return None, process.state.new_error(client.kind, client.message, False)
        parts = parse_pid(pid)
        workflow_id = parts[2] if parts else pid
        key = (process.pid, pid + ("#monitor" if monitor else "#link"))
        if key in self.node.workflow_watchers:
            return True

        async def watch() -> None:
            try:
                outcome = Outcome(True, value=await get_result(client, workflow_id))
            except WorkflowFailure as f:
                outcome = Outcome(False, error=f.info)
            except UsageError as e:  # no such workflow
                outcome = Outcome(False, error=_info_of(e))
            self.node.workflow_watchers.pop(key, None)
            if process.closed:
                return
            if monitor:
                process.add_event(exit_event_maker(pid, outcome))
            elif not outcome.ok:
                self.node.link_failed(process, pid, outcome.error)

        self.node.workflow_watchers[key] = asyncio.ensure_future(watch())
        return True

    # ---- process.cancel / process.terminate ----------------------------------------------
    def cancel(self, process: Process, tag: int, cmd: Any) -> None:
        """``{op = "cancel_external", target, fname, reason?}``: a local process gets a CANCEL
        event (cancel) or is ended with kind Terminated (terminate); a workflow gets a Temporal
        cancel request or is terminated."""
        target, fname = str(cmd["target"]), str(cmd["fname"])
        reason = str(cmd["reason"]) if cmd["reason"] is not None else None
        terminate = fname == "process.terminate"
        pid = self.node.resolve(target)
        if parse_process_pid(pid) is not None:
            other = self.node.find(pid)
            if other is None:
                process.complete_error(
                    tag, ErrorInfo(mferrors.NOT_FOUND, f"{fname}: no process {pid}", False)
                )
                return
            if terminate:
                why = f"terminated by {process.pid}" + (f": {reason}" if reason else "")
                other.exit(_failed(mferrors.TERMINATED, why))
            else:
                self.node.cancel(other, reason, process.pid)
            process.complete_ok(tag)
            return
        client = self._client_of(pid, fname)
        if isinstance(client, ErrorInfo):
            process.complete_error(tag, client)
            return
        from ..client._manage import cancel as cancel_workflow
        from ..client._manage import terminate as terminate_workflow
        from ..worker._failures import cancel_reason_with_sender

        action = terminate_workflow if terminate else cancel_workflow
        # a cancel names this process, so the workflow's CANCEL event has `from`
        text = reason if terminate else cancel_reason_with_sender(reason, process.pid)

        async def run() -> None:
            try:
                await action(client, pid, text)
            except UsageError as e:
                raise _Failed(ErrorInfo(mferrors.NOT_FOUND, f"{fname}: {e}", False)) from None

        task = asyncio.ensure_future(run())
        process.track(tag, task)
        task.add_done_callback(lambda t: self._finish(process, tag, t, fname))

    # ---- io.read / io.readline ----------------------------------------------------------
    def io_read(self, process: Process, tag: int, cmd: Any) -> None:
        """``{op = "io_read", line = bool, n}``: read the terminal's input in the loop's
        executor (the process waits; the others go on)."""
        terminal = process.terminal
        if terminal is None:
            process.complete_error(tag, ErrorInfo(mferrors.UNAVAILABLE, "no terminal context"))
            return
        line, n = bool(cmd["line"]), int(cmd["n"] or 1024)
        inp = terminal.inp
        if inp is None:
            process.complete_error(
                tag, ErrorInfo(mferrors.UNAVAILABLE, "no input (stdin is closed)")
            )
            return

        def read() -> bytes | None:
            # Bytes, as Lua strings are: input that is not UTF-8 passes through unchanged.
            if line:
                data = inp.readline()
                if not data:
                    return None
                return data.rstrip(b"\n").rstrip(b"\r")
            reader = getattr(inp, "read1", None) or inp.read  # whatever is there, up to n
            return reader(n) or None

        async def run() -> None:
            data = await asyncio.get_running_loop().run_in_executor(None, read)
            if data is None:
                raise _Failed(ErrorInfo(mferrors.NOT_FOUND, "EOF", False))
            # a Lua string made from the bytes (not a JSON value: complete_ok would decode)
            process.complete(tag, lambda: [process.result_table(True, value=data)])

        task = asyncio.ensure_future(run())
        process.track(tag, task)

        def done(t: asyncio.Future[Any]) -> None:
            if t.cancelled() or t.exception() is not None:
                self._finish(process, tag, t, "io.read")

        task.add_done_callback(done)


class _Failed(Exception):
    """A task's failure as an ErrorInfo."""

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(info.message)
        self.info = info


def _info_of(exc: BaseException) -> ErrorInfo:
    from ..client._target import WorkflowNotFound

    if isinstance(exc, _Failed):
        return exc.info
    if isinstance(exc, WorkflowNotFound):  # its text is written for the command line
        return ErrorInfo(mferrors.NOT_FOUND, f"no workflow with id {exc.workflow_id!r}", False)
    if isinstance(exc, WorkflowFailure):
        return exc.info
    if isinstance(exc, UsageError):
        return ErrorInfo(mferrors.INVALID, str(exc), False)
    log.warning("process command failed: %r", exc)
    return ErrorInfo(mferrors.INTERNAL, f"{type(exc).__name__}: {exc}", True)


def _failed(kind: str, message: str, retryable: bool = False) -> Outcome:
    return Outcome(False, error=ErrorInfo(kind, message, retryable))


def _call_timeout(options: Any) -> float | str | None:
    """Seconds from a process call's ``timeout`` option (milliseconds, lua-api.md §2.2), None
    without one, or a message for a bad one."""
    if not isinstance(options, dict) or not options:
        return None
    unknown = [k for k in options if k != "timeout"]
    if unknown:
        return f"unknown call option {unknown[0]!r} outside workflows (use timeout, in ms)"
    value = options.get("timeout")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return "timeout must be a positive number of milliseconds"
    return float(value) / 1000.0
