"""``moonflow test APP``: run the app's Lua test entries (``meta.type: test``) as processes.

The app's workers and ``auto_start`` services run beside the tests on the server ``--server``
names; the default is the bundled **time-skipping** server (durable timers of hours take no
wall time while a test waits on a workflow, and a process's own waits stay real time; see
README "Testing your workflows"). Discovery, selection and running: ``process/_tests.py``;
activity stubs: ``process/_stubs.py``.

Output (stdout): one line per finished test (status, suite, entry, seconds), on a terminal a
status line with a spinner while tests run; then each failure with its message and Lua
``file:line``; the last line ``N passed, N failed`` (``, N skipped``). Exit 0 when every test
passed, 1 otherwise, 2 for a bad app, arguments or server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from moonflow.cli._output import EXIT_FAILED, EXIT_OK, Streams, one_line
from moonflow.errors import UsageError

DEFAULT_SERVER = "time-skipping"
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def add_test_parser(sub: Any, add_common: Any, add_app: Any) -> None:
    """The ``test`` subcommand's arguments."""
    p = sub.add_parser(
        "test",
        help="run the app's Lua tests (entries with meta.type: test) and report",
        description="Run every function.lua / process.lua entry with meta.type: test as a "
        "process, the app's workers and services beside them, and report per test. Exit 0 all "
        "passed, 1 a test failed, 2 bad app, arguments or server.",
    )
    add_common(p)
    add_app(p)
    p.add_argument(
        "--filter",
        "-k",
        metavar="PATTERN",
        help="run the tests whose entry id contains PATTERN; with * ? [ ] a glob matched "
        "against the whole entry id or the name (e.g. 'app.tests:pay*')",
    )
    p.add_argument("--suite", metavar="NAME", help="run the tests whose meta.suite is NAME")
    p.add_argument(
        "--server",
        metavar="SPEC",
        default=DEFAULT_SERVER,
        help="time-skipping (default: the bundled time-skipping server; durable timers take no "
        "wall time while a test waits on a workflow), memory (bundled dev server, real time), "
        "embedded or HOST:PORT",
    )
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report to FILE")
    p.add_argument(
        "-x", "--exitfirst", action="store_true", help="start no test after the first failure"
    )
    p.add_argument(
        "--jobs",
        "-j",
        metavar="N",
        type=int,
        default=1,
        help="run N tests at a time on the same process node (default 1)",
    )


async def cmd_test(args: argparse.Namespace, streams: Streams, stop: Any) -> int:
    """``moonflow test APP_DIR``."""
    from moonflow.cli._commands import _load
    from moonflow.cli._exec import app_with_processes
    from moonflow.process._tests import FAILED, discover, run_tests, select

    if args.jobs < 1:
        raise UsageError(f"test: --jobs must be at least 1, got {args.jobs}")
    app = _load(args.app_dir, streams)  # unknown fields warned on stderr, as `run` does
    cases = discover(app)
    if not cases:
        raise UsageError(
            f"{args.app_dir} has no test entries: mark function.lua or process.lua entries "
            "with meta.type: test"
        )
    chosen = select(cases, args.filter, args.suite)
    if not chosen:
        what = " and ".join(
            f"{flag} {value!r}"
            for flag, value in (("--filter", args.filter), ("--suite", args.suite))
            if value
        )
        raise UsageError(f"no test of {args.app_dir} matches {what} ({len(cases)} tests)")
    report = Report(streams.out, len(chosen))
    started = time.monotonic()
    if args.junit:
        _check_writable(args.junit)  # before the tests run, not after
    async with app_with_processes(app, args.server, streams) as (node, failed):
        try:
            run = asyncio.ensure_future(
                run_tests(
                    node,
                    chosen,
                    jobs=args.jobs,
                    exitfirst=args.exitfirst,
                    on_start=report.started,
                    on_done=report.finished,
                )
            )
            waiter = asyncio.ensure_future(stop.wait())
            watched: set[asyncio.Future[Any]] = {run, waiter}
            if failed is not None:
                watched.add(failed)
            try:
                await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                if not run.done():
                    run.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await run
            if failed is not None and failed.done() and not run.done():
                failed.result()  # raises WorkerFailed
            if not run.done() or run.cancelled():
                streams.note("moonflow: interrupted")
                return 130
            results = run.result()
        finally:
            report.close()

    report.summary(results, time.monotonic() - started)
    if args.junit:
        write_junit(args.junit, results, str(app.root))
    return EXIT_FAILED if any(r.status == FAILED for r in results) else EXIT_OK


class Report:
    """What ``moonflow test`` prints: a line per finished test, a status line on a terminal."""

    def __init__(self, out: TextIO, total: int) -> None:
        self.out = out
        self.total = total
        self.done = 0
        self.running: dict[str, float] = {}
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self._ticker: asyncio.TimerHandle | None = None
        self._frame = 0

    def started(self, case: Any) -> None:
        self.running[case.entry_id] = time.monotonic()
        if self.tty:
            self._status()

    def finished(self, result: Any) -> None:
        from moonflow.process._tests import FAILED, PASSED

        self.running.pop(result.case.entry_id, None)
        self.done += 1
        label = {PASSED: "PASS", FAILED: "FAIL"}.get(result.status, "SKIP")
        suite = result.case.suite or "-"
        tail = (
            f"({result.seconds:.2f} s)" if result.status != "skipped" else f"({result.skip_reason})"
        )
        width = len(str(self.total))
        count = f"[{self.done:>{width}}/{self.total}]"
        self._write_line(f"{count} {label}  {suite}  {result.case.entry_id}  {tail}")

    def _write_line(self, line: str) -> None:
        if self.tty:
            self.out.write("\r\x1b[K")
        self.out.write(line + "\n")
        if self.tty:
            self._status()
        self.out.flush()

    def _status(self) -> None:
        if not self.running:
            self.out.write("\r\x1b[K")
            self.out.flush()
            return
        now = time.monotonic()
        name, since = next(iter(self.running.items()))
        more = f" (+{len(self.running) - 1} more)" if len(self.running) > 1 else ""
        frame = SPINNER[self._frame % len(SPINNER)]
        self.out.write(
            f"\r\x1b[K{frame} {self.done}/{self.total} done; running {name} "
            f"{now - since:.1f} s{more}"
        )
        self.out.flush()
        self._frame += 1
        if self._ticker is None:
            with contextlib.suppress(RuntimeError):
                self._ticker = asyncio.get_running_loop().call_later(0.1, self._tick)

    def _tick(self) -> None:
        self._ticker = None
        if self.running:
            self._status()

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self.tty:
            self.out.write("\r\x1b[K")
            self.out.flush()

    def summary(self, results: Sequence[Any], seconds: float) -> None:
        from moonflow.process._tests import FAILED, PASSED, SKIPPED

        self.close()
        failures = [r for r in results if r.status == FAILED]
        if failures:
            self.out.write("\nFailures:\n")
        for r in failures:
            assert r.error is not None
            suite = f" [{r.case.suite}]" if r.case.suite else ""
            self.out.write(f"\n--- {r.case.entry_id}{suite} at {r.location}\n")
            if r.case.description:
                self.out.write(f"    {r.case.description}\n")
            kind = f"{r.error.kind}: " if r.error.kind else ""
            for i, text in enumerate(str(r.error.message).splitlines() or [""]):
                self.out.write(f"    {kind if i == 0 else ''}{text}\n")
        counts = {s: sum(1 for r in results if r.status == s) for s in (PASSED, FAILED, SKIPPED)}
        line = f"{counts[PASSED]} passed, {counts[FAILED]} failed"
        if counts[SKIPPED]:
            line += f", {counts[SKIPPED]} skipped"
        tests = "test" if len(results) == 1 else "tests"
        self.out.write(f"\nran {len(results)} {tests} in {seconds:.2f} s\n{line}\n")
        self.out.flush()


def _check_writable(path: str) -> None:
    """A --junit path whose directory does not exist or cannot be written: one line, exit 2."""
    import os

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--junit {path}: no directory {folder}")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"--junit {path}: cannot write there")


def write_junit(path: str, results: Sequence[Any], app_root: str) -> None:
    """A JUnit XML report: one ``testcase`` per test entry (classname = its namespace, name =
    its name), ``failure`` with the first line of the message and the rest as text,
    ``skipped`` with the reason."""
    from moonflow.process._tests import FAILED, SKIPPED

    suite = ET.Element(
        "testsuite",
        name=f"moonflow test {Path(app_root).name}",
        tests=str(len(results)),
        failures=str(sum(1 for r in results if r.status == FAILED)),
        errors="0",
        skipped=str(sum(1 for r in results if r.status == SKIPPED)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=r.case.namespace,
            name=r.case.name,
            file=r.case.source,
            line=str(r.case.line),
            time=f"{r.seconds:.3f}",
        )
        if r.status == FAILED and r.error is not None:
            lines = str(r.error.message).splitlines() or [""]
            failure = ET.SubElement(
                case, "failure", message=one_line(lines[0]), type=r.error.kind or "Internal"
            )
            body = [f"at {r.location}", str(r.error.message)]
            if r.stack:
                body.append(r.stack)
            failure.text = "\n".join(body)
        elif r.status == SKIPPED:
            ET.SubElement(case, "skipped", message=r.skip_reason or "skipped")
    suites = ET.Element("testsuites")
    suites.append(suite)
    ET.indent(suites)
    try:
        ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    except OSError as e:
        raise UsageError(f"--junit {path}: cannot write: {e.strerror or e}") from None
