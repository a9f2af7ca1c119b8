"""``moonflow check``: load and validate an app, then print what it holds (workers,
workflows, activities, process hosts, services) and its warnings; ``--determinism`` prints the
determinism report instead, ``--strict`` turns every warning into an error."""

from __future__ import annotations

import argparse
import os
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from moonflow.cli._output import EXIT_OK, Streams
from moonflow.errors import UsageError

if TYPE_CHECKING:
    from moonflow.cli._commands import Stop


async def cmd_check(args: argparse.Namespace, streams: Streams, stop: Stop) -> int:
    """``moonflow check APP_DIR [--determinism [--json]]``: load + validate; print what the app
    holds, or the determinism report (exit 0 whatever it finds; 2 only if the app fails to load).
    """
    from moonflow.cli._commands import _load  # the shared app loading of every command

    # --strict is applied below to every warning at once (the loader's strict stops at the
    # first unknown field)
    app = _load(args.app_dir)
    if getattr(args, "determinism", False):
        from moonflow.cli._output import dumps
        from moonflow.determinism import check_app

        report = check_app(app)
        lines = [dumps(report.to_json())] if args.json else report.lines()
        for line in lines:
            streams.print(line)
        return EXIT_OK
    from moonflow.cli._output import rebase_warning

    _check_certificate_files(app)
    lines = [rebase_warning(line, args.app_dir) for line in summarize(app)]
    if getattr(args, "strict", False):
        # --strict: every warning of check is an error: all of them, one line each, exit 2.
        warnings = [line for line in lines if line.startswith("warning: ")]
        if warnings:
            # an unknown field is "ignoring unknown field ..." as a warning, "unknown field
            # ..." as an error (as the loader's strict mode words it)
            errors = [_as_error(line) for line in warnings]
            for line in errors[:-1]:
                streams.note(f"moonflow: error: {line}")
            raise UsageError(errors[-1])
    for line in lines:
        streams.print(line)
    return EXIT_OK


def _as_error(warning: str) -> str:
    """A ``warning: FILE:LINE: ENTRY: ignoring unknown ...`` line worded as an error."""
    text = warning.removeprefix("warning: ")
    return re.sub(r"^([^ ]+: [^ ]+: )ignoring (unknown )", r"\1\2", text, count=1)


def _check_certificate_files(app: Any) -> None:
    """A ``tls.ca_file`` / ``auth.cert_file`` that cannot be read or holds no certificate (a
    private key, say) fails ``check`` with the line ``list``/``execute`` give when connecting.

    Raises:
        UsageError: located at the key of the ``temporal.client`` entry (exit 2).
    """
    from pathlib import Path

    from moonflow.client._connect import SettingUnreadable, check_certificate_files

    for c in app.clients():
        base_dir = Path(c.entry.file).parent if getattr(c.entry, "file", None) else None
        try:
            check_certificate_files(c.tls, c.auth, base_dir)
        except SettingUnreadable as exc:
            raise c.entry.error(str(exc), exc.key) from None


def summarize(app: Any) -> list[str]:
    """The lines ``moonflow check`` prints for a valid app."""
    kinds = Counter(e.kind for e in app.entries.values())
    by_kind = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    skipped = f", {len(app.skipped)} skipped" if app.skipped else ""
    lines = [f"app {app.root}: {len(app.entries)} entries ({by_kind or 'none'}){skipped}"]
    for c in app.clients():
        extra = f", tq_prefix {c.tq_prefix!r}" if c.tq_prefix else ""
        attrs = c.search_attributes or {}
        if attrs:
            extra += ", search attributes " + ", ".join(f"{k}:{v}" for k, v in attrs.items())
        lines.append(f"client {c.entry.id}: {c.address}, namespace {c.namespace}{extra}")
    for w in app.workers():
        wid = w.entry.id
        client_id = app.client_of(wid).entry.id
        lines.append(f"worker {wid}: task queue {app.task_queue(wid)!r} (client {client_id})")
    for code in app.workflows():
        eid = code.entry.id
        worker = code.workflow_worker or "none (not registered with Temporal)"
        lines.append(f"workflow {eid}: type {app.workflow_type(eid)}, worker {worker}")
    for code in app.all_activities():
        local = ", local" if code.activity_local else ""
        lines.append(
            f"activity {code.entry.id} ({code.entry.kind}): worker {code.activity_worker}{local}"
        )
    for host in app.process_hosts():
        # the pool sizes are the reference runtime's: moonflow runs every process on one
        # event loop (and a host is not started, so auto_start says nothing here)
        sizes = host.entry.data.get("host")
        unused = f" ({', '.join(f'host.{k}' for k in sizes)} not used: " if sizes else ""
        lines.append(
            f"process host {host.entry.id}"
            + (f"{unused}every process runs on one event loop)" if unused else "")
        )
    for term in app.terminal_hosts():
        lines.append(f"terminal host {term.entry.id}")
    for svc in app.services_in_start_order():
        extra = ""
        if svc.input:
            extra += f", {len(svc.input)} input arg{'s' if len(svc.input) != 1 else ''}"
        if svc.lifecycle.auto_start:
            extra += ", auto_start"
        if svc.lifecycle.depends_on:
            extra += f", after {', '.join(svc.lifecycle.depends_on)}"
        lines.append(f"service {svc.entry.id}: runs {svc.process} on {svc.host}{extra}")
    # Entries Temporal will never see (the reference runtime skips them silently); code a
    # service runs is served by its process host.
    served = {c.entry.id for c in app.workflows()} | {c.entry.id for c in app.all_activities()}
    served |= {svc.process for svc in app.services()}
    for entry in app.entries.values():
        if entry.id in served:
            continue
        if entry.kind == "workflow.lua":
            lines.append(
                f"warning: {entry.where()}: {entry.id}: no meta.temporal.workflow.worker, so no "
                "worker runs this workflow: add meta: {temporal: {workflow: {worker: <worker id>}}}"
            )
        elif entry.kind in ("function.lua", "process.lua"):
            # Not an activity: it runs as a process (moonflow run -x, funcs.call or spawn
            # from a process). Say how to run it; a command name is the usual way.
            command = entry.meta.get("command") if isinstance(entry.meta, dict) else None
            name = command.get("name") if isinstance(command, dict) else None
            how = name if isinstance(name, str) and name else f"-x {entry.id}"
            lines.append(
                f"process {entry.id} ({entry.kind}): runs as a process (moonflow run APP "
                f"{how}); workflows cannot call it with funcs.call unless it has "
                "meta.temporal.activity.worker"
            )
    from moonflow.determinism import check_globals
    from moonflow.kinds import LuaCode
    from moonflow.kinds._fields import field_warnings

    lines.extend(app.skipped_notes())
    lines.extend(str(w) for w in field_warnings(app.entries.values()))
    lines.extend(_unset_key_env_warnings(app))
    for entry_id in sorted(app.entries):
        code = app.spec(entry_id)
        if isinstance(code, LuaCode):
            for file, line, message in code.warnings:
                where = f"{file}:{line}" if line else file
                lines.append(f"warning: {where}: {entry_id}: {message}")
    lines.extend(str(w) for w in check_globals(app))
    from moonflow.determinism import query_handler_warnings

    lines.extend(query_handler_warnings(app))  # queries writing workflow state (issue 17)
    from moonflow.kinds._eager import eager_dispatch_warnings

    lines.extend(eager_dispatch_warnings(app))  # options costing latency (issue 18)
    lines.append("ok")
    return lines


def _unset_key_env_warnings(app: Any) -> list[str]:
    """``auth.api_key_env`` / ``auth.key_pem_env`` naming a variable this environment does not
    set: connecting would fail (``check`` does not connect, so say it here)."""
    lines = []
    for c in app.clients():
        auth = c.auth if isinstance(getattr(c, "auth", None), dict) else {}
        # (the key connect() reads the variable of: no inline value or file given instead)
        for kind, key, given in (
            ("api_key", "api_key_env", ("api_key", "api_key_file")),
            ("mtls", "key_pem_env", ("key_pem", "key_file")),
        ):
            name = auth.get(key)
            if auth.get("type") != kind or not isinstance(name, str) or not name.strip():
                continue
            if any(auth.get(k) for k in given):
                continue
            if not os.environ.get(name, "").strip():
                entry = c.entry
                lines.append(
                    f"warning: {entry.relfile}:{entry.line_of('auth.' + key)}: {entry.id}: "
                    f"auth.{key} names {name}, which is not set in this environment: "
                    f"export {name}=... before run, execute or start"
                )
    return lines
