"""Lua test entries (``meta.type: test``) run as processes: discovery, selection, running.

A test entry is a ``function.lua`` or ``process.lua`` entry whose ``meta`` has ``type: test``,
and optionally ``suite`` (a name to group and select by), ``description`` and ``timeout`` (a
duration string like ``"30s"``, or a number of seconds; default 60 s), and ``skip`` (true, or a
reason). Each runs as a process on a :class:`~moonflow.process.ProcessNode`, with no
arguments and the context value :data:`~moonflow.process._stubs.TEST_KEY` (its activity
stubs, ``test`` module). It passes when it returns without an error (``true``, nothing, any
value other than ``nil, err`` / ``false, err``), fails on an uncaught error or ``nil, err``;
one still running at its timeout is terminated and fails. ``moonflow test``
(``cli/_test.py``) reports.
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import errors as mferrors
from ..durations import DurationError, seconds_duration
from ..errors import AppError, ErrorInfo
from ..lua._outcome import Outcome
from ._stubs import TEST_KEY, close_test, open_test

if TYPE_CHECKING:
    from ..registry import App
    from ._node import ProcessNode

#: Seconds a test may run when its entry sets no ``meta.timeout``.
DEFAULT_TIMEOUT_S = 60.0
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
_LOCATION = re.compile(r"(?<![\w/.-])([\w./-]+\.lua):(\d+):")


@dataclass(frozen=True)
class TestCase:
    """One test entry.

    Attributes:
        entry_id: ``"app.tests:charges_the_card"``.
        namespace: the entry's namespace (JUnit classname).
        name: the entry's name.
        suite: ``meta.suite`` or None.
        description: ``meta.description`` or None.
        timeout: seconds it may run.
        skip: the reason it is skipped (``meta.skip``), or None.
        source: its Lua file, relative to the app root.
        line: the line of its function in that file (1 when not found).
    """

    __test__ = False  # not a pytest class

    entry_id: str
    namespace: str
    name: str
    suite: str | None
    description: str | None
    timeout: float
    skip: str | None
    source: str
    line: int


@dataclass
class TestResult:
    """How one test ended: ``status`` is :data:`PASSED`, :data:`FAILED` or :data:`SKIPPED`;
    a failure has ``error`` (kind, message), ``location`` (``file:line``) and maybe ``stack``."""

    __test__ = False  # not a pytest class

    case: TestCase
    status: str
    seconds: float = 0.0
    error: ErrorInfo | None = None
    location: str | None = None
    stack: str | None = None
    skip_reason: str | None = None


def discover(app: App) -> list[TestCase]:
    """Every test entry of ``app``, in the order the registry lists them.

    Raises:
        AppError: a test entry of another kind, or a bad ``meta.timeout`` (file:line, entry).
    """
    cases: list[TestCase] = []
    for entry in app.entries.values():
        meta = entry.meta if isinstance(entry.meta, dict) else {}
        if meta.get("type") != "test":
            continue
        if entry.kind not in ("function.lua", "process.lua"):
            raise AppError(
                f"a test entry (meta.type: test) must be a function.lua or process.lua entry, "
                f"not {entry.kind}",
                file=entry.relfile,
                line=entry.line_of("meta.type"),
                entry_id=entry.id,
            )
        timeout = DEFAULT_TIMEOUT_S
        if meta.get("timeout") is not None:
            try:
                timeout = seconds_duration(meta["timeout"], "meta.timeout")
            except DurationError as e:
                raise AppError(
                    f"meta.timeout: {str(e).removeprefix('meta.timeout: ')} (or a number of "
                    "seconds)",
                    file=entry.relfile,
                    line=entry.line_of("meta.timeout"),
                    entry_id=entry.id,
                ) from None
            if timeout <= 0:
                raise AppError(
                    "meta.timeout must be positive",
                    file=entry.relfile,
                    line=entry.line_of("meta.timeout"),
                    entry_id=entry.id,
                )
        skip = meta.get("skip")
        code = app.spec(entry.id)
        source = _relative(code.source, Path(app.root))
        cases.append(
            TestCase(
                entry_id=entry.id,
                namespace=entry.namespace,
                name=entry.name,
                suite=_text(meta.get("suite")),
                description=_text(meta.get("description")),
                timeout=timeout,
                skip=(skip if isinstance(skip, str) and skip else "skipped") if skip else None,
                source=source,
                line=_function_line(code.source, code.method),
            )
        )
    return cases


def select(cases: Sequence[TestCase], pattern: str | None, suite: str | None) -> list[TestCase]:
    """The cases ``--filter`` and ``--suite`` keep.

    ``pattern``: a glob (``*``, ``?``, ``[...]``) matched against the whole entry id or the
    name, otherwise a substring of the entry id; case-sensitive. ``suite``: ``meta.suite``
    equal to it.
    """
    out = []
    for case in cases:
        if suite is not None and case.suite != suite:
            continue
        if pattern and not matches(case, pattern):
            continue
        out.append(case)
    return out


def matches(case: TestCase, pattern: str) -> bool:
    """See :func:`select`."""
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(case.entry_id, pattern) or fnmatch.fnmatchcase(
            case.name, pattern
        )
    return pattern in case.entry_id


async def run_one(node: ProcessNode, case: TestCase) -> TestResult:
    """Run one test as a process on ``node`` (its stubs registered for its run)."""
    if case.skip is not None:
        return TestResult(case, SKIPPED, skip_reason=case.skip)
    stubs = open_test()
    started = time.monotonic()
    process = None
    try:
        try:
            process = node.spawn(case.entry_id, (), context={TEST_KEY: stubs.token})
        except mferrors.MoonflowError as e:
            outcome = Outcome(False, error=ErrorInfo(mferrors.INTERNAL, str(e), False))
        else:
            stubs.pid, stubs.process = process.pid, process
            try:
                outcome = await asyncio.wait_for(asyncio.shield(process.done), case.timeout)
            except TimeoutError:
                outcome = Outcome(
                    False,
                    error=ErrorInfo(
                        mferrors.TIMEOUT,
                        f"the test ran longer than its timeout ({case.timeout:g} s, "
                        "meta.timeout); its process was terminated",
                        False,
                    ),
                )
                process.exit(outcome)
            except asyncio.CancelledError:
                process.exit(
                    Outcome(False, error=ErrorInfo(mferrors.CANCELED, "interrupted", False))
                )
                raise
    finally:
        close_test(stubs)
    seconds = time.monotonic() - started
    if not outcome.ok and process is not None and process.returned_truthy:
        outcome = Outcome(True)  # `true, "text"`: a first value that is not nil/false passes
    return judge(case, outcome, seconds)


def judge(case: TestCase, outcome: Outcome, seconds: float) -> TestResult:
    """A test's result from its process's outcome (``false, err`` fails as ``nil, err`` does:
    the shared result rules already read ``false, "text"`` and ``false, error`` as failures)."""
    if outcome.ok:
        return TestResult(case, PASSED, seconds)
    info = outcome.error or ErrorInfo(mferrors.INTERNAL, "failed", False)
    return TestResult(
        case,
        FAILED,
        seconds,
        error=info,
        location=locate(case, info.message, outcome.stack),
        stack=outcome.stack,
    )


def locate(case: TestCase, message: str, stack: str | None) -> str:
    """``file:line`` of a failure: the first in its message, else the first app frame of its
    traceback, else the test function's line."""
    for text in (message, stack or ""):
        for m in _LOCATION.finditer(text):
            if not m.group(1).startswith("moonflow/"):
                return f"{m.group(1)}:{m.group(2)}"
    return f"{case.source}:{case.line}"


async def run_tests(
    node: ProcessNode,
    cases: Sequence[TestCase],
    *,
    jobs: int = 1,
    exitfirst: bool = False,
    on_start: Callable[[TestCase], Any] | None = None,
    on_done: Callable[[TestResult], Any] | None = None,
) -> list[TestResult]:
    """Run ``cases`` on ``node``, at most ``jobs`` at a time, in order of start.

    With ``exitfirst``, no test starts after the first failure; the ones not started are
    reported as skipped (``"not run (-x)"``). Returns the results in the order of ``cases``.
    """
    results: dict[int, TestResult] = {}
    queue = list(enumerate(cases))
    stopped = False

    async def worker() -> None:
        nonlocal stopped
        while queue:
            i, case = queue.pop(0)
            if stopped:
                results[i] = TestResult(case, SKIPPED, skip_reason="not run (-x)")
                if on_done is not None:
                    on_done(results[i])
                continue
            if on_start is not None and case.skip is None:
                on_start(case)
            result = await run_one(node, case)
            results[i] = result
            if result.status == FAILED and exitfirst:
                stopped = True
            if on_done is not None:
                on_done(result)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(jobs, len(cases))))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
    return [results[i] for i in sorted(results)]


def _text(value: Any) -> str | None:
    return str(value) if value is not None and value != "" else None


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return Path(path).name


def _function_line(source: Path, method: str | None) -> int:
    """Line of ``function <method>`` / ``<method> = function`` in ``source`` (1: not found)."""
    if not method:
        return 1
    name = re.escape(method)
    pattern = re.compile(
        rf"^\s*(?:local\s+)?function\s+(?:[\w.]+[.:])?{name}\s*\(|\b{name}\s*=\s*function\b"
    )
    try:
        lines = Path(source).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return 1
    for n, line in enumerate(lines, 1):
        if pattern.search(line):
            return n
    return 1
