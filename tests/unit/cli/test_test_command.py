"""`moonflow test` without a server: discovery of test entries, --filter / --suite selection,
failure locations, the JUnit report and the command line."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from moonflow.cli._parser import ArgumentError, parse_args
from moonflow.cli._test import write_junit
from moonflow.errors import AppError, ErrorInfo
from moonflow.process._tests import (
    DEFAULT_TIMEOUT_S,
    FAILED,
    PASSED,
    SKIPPED,
    TestCase,
    TestResult,
    discover,
    locate,
    select,
)
from moonflow.registry import load_app

APP = Path(__file__).parents[2] / "integration" / "apps" / "lua_tests"


def case(entry_id: str, suite: str | None = None) -> TestCase:
    ns, _, name = entry_id.partition(":")
    return TestCase(entry_id, ns, name, suite, None, DEFAULT_TIMEOUT_S, None, "t.lua", 3)


def test_discover_reads_the_meta_of_test_entries() -> None:
    cases = {c.name: c for c in discover(load_app(APP))}
    assert len(cases) == 12
    hangs = cases["hangs"]
    assert (hangs.namespace, hangs.suite, hangs.timeout) == ("app.tests", "failing", 1.0)
    assert (hangs.source, hangs.line) == ("tests/basics.lua", 43)
    assert cases["returns_true"].timeout == DEFAULT_TIMEOUT_S
    assert cases["returns_true"].description == "a test that returns true passes"
    assert cases["not_yet"].skip == "waiting for the next release"


def test_a_bad_timeout_names_the_entry(tmp_path: Path) -> None:
    (tmp_path / "t.lua").write_text("return { main = function() end }\n")
    (tmp_path / "_index.yaml").write_text(
        'version: "1.0"\nnamespace: app\nentries:\n'
        "  - name: t\n    kind: function.lua\n    source: file://t.lua\n    method: main\n"
        "    meta:\n      type: test\n      timeout: -5\n"
    )
    with pytest.raises(AppError, match=r"_index.yaml:10: app:t: meta.timeout must be positive"):
        discover(load_app(tmp_path))


@pytest.mark.parametrize(
    ("pattern", "suite", "chosen"),
    [
        (None, None, ["a:pay_ok", "a:pay_fail", "b:ship"]),
        ("pay", None, ["a:pay_ok", "a:pay_fail"]),
        ("pay_*", None, ["a:pay_ok", "a:pay_fail"]),  # glob on the name
        ("a:*", None, ["a:pay_ok", "a:pay_fail"]),  # glob on the whole id
        ("*ok", "money", ["a:pay_ok"]),
        (None, "shipping", ["b:ship"]),
        ("Pay", None, []),  # case-sensitive
    ],
)
def test_select(pattern: str | None, suite: str | None, chosen: list[str]) -> None:
    cases = [case("a:pay_ok", "money"), case("a:pay_fail", "money"), case("b:ship", "shipping")]
    assert [c.entry_id for c in select(cases, pattern, suite)] == chosen


def test_locate_prefers_the_message_then_the_traceback_then_the_function() -> None:
    c = case("a:t")
    assert locate(c, "tests/x.lua:12: boom", None) == "tests/x.lua:12"
    stack = "stack traceback:\n\t[C]: in ?\n\tmoonflow/test:9: in x\n\ttests/y.lua:7: in f"
    assert locate(c, "boom", stack) == "tests/y.lua:7"
    assert locate(c, "boom", None) == "t.lua:3"


def test_junit_report(tmp_path: Path) -> None:
    results = [
        TestResult(case("a:ok"), PASSED, 0.5),
        TestResult(
            case("a:bad"),
            FAILED,
            0.25,
            error=ErrorInfo("Internal", "t.lua:5: expected 1\nmore", False),
            location="t.lua:5",
        ),
        TestResult(case("b:later"), SKIPPED, skip_reason="not run (-x)"),
    ]
    path = tmp_path / "r.xml"
    write_junit(str(path), results, "/apps/demo")
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "3" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("a", "ok"),
        ("a", "bad"),
        ("b", "later"),
    ]
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message") == "t.lua:5: expected 1"
    assert failure.text == "at t.lua:5\nt.lua:5: expected 1\nmore"
    skipped = cases[2].find("skipped")
    assert skipped is not None and skipped.get("message") == "not run (-x)"


def test_the_command_line() -> None:
    args = parse_args(["test", "app", "-k", "pay*", "--suite", "s", "-x", "-j", "3"])
    assert (args.filter, args.suite, args.exitfirst, args.jobs) == ("pay*", "s", True, 3)
    assert args.server == "time-skipping" and args.junit is None
    with pytest.raises(ArgumentError, match="--jobs"):
        parse_args(["test", "app", "--jobs", "many"])
