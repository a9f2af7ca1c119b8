"""`moonflow test` (issue 15, items 1 and 2): Lua test entries run as processes on the default
time-skipping server, their report, exit codes, selection, timeouts, JUnit XML, and activity
stubs (`test.mock_activity`) isolated between tests running at the same time.
App: tests/integration/apps/lua_tests/ (written the way the reference runtime's apps write
tests); examples/orders/tests/ for the orders example."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

APP = Path(__file__).parent / "apps" / "lua_tests"
ORDERS = Path(__file__).parents[2] / "examples" / "orders"
LIVE = re.compile(r"^\[\s*\d+/\d+\] (PASS|FAIL|SKIP)  (\S+)  (\S+)  \(")


def moonflow_test(*args: str, app: Path = APP) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moonflow", "test", str(app), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def lines_of(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return proc.stdout.rstrip("\n").splitlines()


def status_of(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """entry id -> PASS / FAIL / SKIP, from the live lines."""
    out = {}
    for line in lines_of(proc):
        m = LIVE.match(line)
        if m:
            out[m.group(3)] = m.group(1)
    return out


def test_a_run_reports_each_test_the_failures_with_message_and_line_and_exits_1() -> None:
    proc = moonflow_test()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = lines_of(proc)
    assert lines[-1] == "8 passed, 3 failed, 1 skipped"
    assert status_of(proc) == {
        "app.tests:returns_true": "PASS",
        "app.tests:returns_true_and_text": "PASS",
        "app.tests:ping_a_process": "PASS",
        "app.tests:fails_on_purpose": "FAIL",
        "app.tests:returns_nil_err": "FAIL",
        "app.tests:hangs": "FAIL",
        "app.tests:not_yet": "SKIP",
        "app.tests:sleeps_an_hour": "PASS",
        "app.tests:stub_function": "PASS",
        "app.tests:stub_result": "PASS",
        "app.tests:stub_error": "PASS",
        "app.tests:stub_misuse": "PASS",
    }
    # a live line: status, suite, entry, time
    assert "[ 1/12] PASS  basics  app.tests:returns_true  (" in proc.stdout
    assert "SKIP  basics  app.tests:not_yet  (waiting for the next release)" in proc.stdout
    failures = proc.stdout.split("Failures:", 1)[1]
    assert (
        "--- app.tests:fails_on_purpose [failing] at tests/basics.lua:35\n"
        "    an assertion that fails\n"
        "    Internal: tests/basics.lua:35: the total: expected 5, got 4\n"
    ) in failures
    assert (
        "--- app.tests:returns_nil_err [failing] at tests/basics.lua:39\n"
        "    Internal: the answer was wrong\n"
    ) in failures
    # the hanging test failed at its 1 s timeout and the run went on
    assert "--- app.tests:hangs [failing] at tests/basics.lua:43" in failures
    assert "Timeout: the test ran longer than its timeout (1 s, meta.timeout)" in failures


def test_suite_and_filter_select_tests() -> None:
    runs = [
        ("--suite", "basics"),
        # a glob against the entry id or the name
        ("--filter", "stub_*"),
        # a substring of the entry id; with --suite both must hold
        ("--filter", "nil_err", "--suite", "failing"),
        ("--filter", "nothing-like-this"),
    ]
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:  # independent runs, side by side
        basics, stubs, nil_err, nothing = pool.map(lambda args: moonflow_test(*args), runs)
    assert basics.returncode == 0, basics.stdout + basics.stderr
    assert lines_of(basics)[-1] == "2 passed, 0 failed, 1 skipped"
    assert set(status_of(basics)) == {
        "app.tests:returns_true",
        "app.tests:ping_a_process",
        "app.tests:not_yet",
    }
    assert stubs.returncode == 0, stubs.stdout + stubs.stderr
    assert set(status_of(stubs)) == {
        "app.tests:stub_function",
        "app.tests:stub_result",
        "app.tests:stub_error",
        "app.tests:stub_misuse",
    }
    assert nil_err.returncode == 1
    assert list(status_of(nil_err)) == ["app.tests:returns_nil_err"]
    assert lines_of(nil_err)[-1] == "0 passed, 1 failed"
    assert nothing.returncode == 2
    assert nothing.stderr.strip().splitlines() == [
        f"moonflow: error: no test of {APP} matches --filter 'nothing-like-this' (12 tests)"
    ]


def test_exitfirst_starts_no_test_after_the_first_failure() -> None:
    proc = moonflow_test("--suite", "failing", "-x")
    assert proc.returncode == 1
    assert status_of(proc) == {
        "app.tests:fails_on_purpose": "FAIL",
        "app.tests:returns_nil_err": "SKIP",
        "app.tests:hangs": "SKIP",
    }
    assert "(not run (-x))" in proc.stdout
    assert lines_of(proc)[-1] == "0 passed, 1 failed, 2 skipped"


def test_junit_report(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    proc = moonflow_test("--suite", "failing", "--junit", str(report))
    assert proc.returncode == 1
    root = ET.parse(report).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "3", "0")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"fails_on_purpose", "returns_nil_err", "hangs"}
    assert {c.get("classname") for c in cases.values()} == {"app.tests"}
    failure = cases["fails_on_purpose"].find("failure")
    assert failure is not None
    assert failure.get("message") == "tests/basics.lua:35: the total: expected 5, got 4"
    assert failure.get("type") == "Internal"
    assert (failure.text or "").startswith("at tests/basics.lua:35\n")
    hangs = cases["hangs"].find("failure")
    assert hangs is not None and hangs.get("type") == "Timeout"


def test_stubs_function_result_and_error_stay_with_their_test_under_jobs_2() -> None:
    """stub_function and stub_result both stub app:charge (a function that sleeps 300 ms vs. a
    fixed result) and run at the same time; each sees only its own stub, and the real
    activities (which fail) never run."""
    for _ in range(2):
        proc = moonflow_test("--suite", "stubs", "--jobs", "2")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert lines_of(proc)[-1] == "4 passed, 0 failed"


def test_a_workflow_sleeping_one_hour_is_waited_for_in_real_seconds() -> None:
    started = time.monotonic()
    proc = moonflow_test("--filter", "sleeps_an_hour")
    wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines_of(proc)[-1] == "1 passed, 0 failed"
    line = next(x for x in lines_of(proc) if "sleeps_an_hour" in x)
    seconds = float(line.rsplit("(", 1)[1].split()[0])
    assert seconds < 5, line
    assert wall < 20, wall


def test_the_orders_example_tests_pass_with_stubs_in_under_10_s() -> None:
    """Issue 15, "Done when": completed, payment-failed and shipping-failed (refund) paths,
    charge_payment / ship_order stubbed per test, the one-hour sleep included."""
    started = time.monotonic()
    proc = moonflow_test(app=ORDERS)
    wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(status_of(proc)) == {
        "app.tests:completed",
        "app.tests:payment_failed",
        "app.tests:shipping_failed",
    }
    assert lines_of(proc)[-1] == "3 passed, 0 failed"
    assert wall < 10, wall


def test_a_bad_app_exits_2(tmp_path: Path) -> None:
    (tmp_path / "t.lua").write_text("return { main = function() return true end }\n")
    (tmp_path / "_index.yaml").write_text(
        'version: "1.0"\nnamespace: app\nentries:\n'
        "  - name: t\n    kind: function.lua\n    source: file://t.lua\n    method: main\n"
        "    meta: {type: test, timeout: soon}\n"
    )
    proc = moonflow_test(app=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "_index.yaml:8: app:t: meta.timeout" in lines[0], proc.stderr
    (tmp_path / "_index.yaml").write_text(
        'version: "1.0"\nnamespace: app\nentries:\n'
        "  - name: t\n    kind: function.lua\n    source: file://t.lua\n    method: main\n"
    )
    proc = moonflow_test(app=tmp_path)
    assert proc.returncode == 2
    assert "has no test entries" in proc.stderr


def test_the_readme_stub_example_is_the_orders_test() -> None:
    readme = (ORDERS.parents[1] / "README.md").read_text()
    block = readme.split("-- examples/orders/tests/order_test.lua (abridged)\n", 1)[1]
    block = block.split("```", 1)[0]
    source = (ORDERS / "tests" / "order_test.lua").read_text()
    for line in block.splitlines():
        assert line in source, line
