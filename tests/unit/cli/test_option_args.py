"""``--option KEY=VALUE`` of ``moonflow start`` / ``moonflow execute`` and the option table of
``moonflow.client.start_workflow`` (parsing and checking only; applying them is in
tests/integration/test_start_options.py)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from moonflow.cli import run
from moonflow.cli._parser import ArgumentError, parse_args, parse_option, parse_options
from moonflow.client._run import start_options
from moonflow.errors import UsageError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("workflow.execution_timeout=72h", ("workflow.execution_timeout", "72h")),
        ("workflow.run_timeout=1500", ("workflow.run_timeout", 1500)),
        ("workflow.id=order-1", ("workflow.id", "order-1")),
        ('workflow.id="a=b"', ("workflow.id", "a=b")),  # split at the first '='
        ("workflow.id=a=b", ("workflow.id", "a=b")),
        (
            'workflow.retry_policy={"maximum_attempts": 3}',
            ("workflow.retry_policy", {"maximum_attempts": 3}),
        ),
        (
            "workflow.execution_error_when_already_started=true",
            (
                "workflow.execution_error_when_already_started",
                True,
            ),
        ),
        ("workflow.summary=", ("workflow.summary", "")),
        (" workflow.memo ={}", ("workflow.memo", {})),
        ("workflow.summary=not json {", ("workflow.summary", "not json {")),
    ],
)
def test_option_forms(text: str, expected: tuple[str, object]) -> None:
    assert parse_option(text) == expected


@pytest.mark.parametrize("text", ["workflow.id", "=x", " =x", ""])
def test_option_syntax_errors(text: str) -> None:
    with pytest.raises(ArgumentError, match=r"expected KEY=VALUE"):
        parse_option(text)


def test_big_integer_is_refused() -> None:
    with pytest.raises(ArgumentError, match=r"--option workflow.memo: .n: integer .* 64 bits"):
        parse_option('workflow.memo={"n": 99999999999999999999}')


def test_last_value_of_a_key_wins() -> None:
    assert parse_options(["workflow.run_timeout=1s", "workflow.run_timeout=2s"]) == {
        "workflow.run_timeout": "2s"
    }


@pytest.mark.parametrize(
    "texts, message",
    [
        (["workflow.nope=1"], r"^start: --option: unknown workflow option 'workflow.nope'$"),
        (["nope=1"], r"^start: --option: unknown option 'nope'"),
        (["workflow.execution_timeout=soon"], r"workflow.execution_timeout"),
        (["workflow.id_conflict_policy=sometimes"], r"workflow.id_conflict_policy: unknown value"),
        (["workflow.retry_policy=3"], r"retry_policy must be a table"),
        (["workflow.memo=x"], r"workflow.memo must be a table"),
        (["workflow.parent_close_policy=abandon"], r"child workflows only"),
        (["workflow.id="], r"workflow.id must be a non-empty string"),
        (
            ['workflow.retry_policy={"maximum_attempts": "x"}'],
            r"--option: workflow.retry_policy.maximum_attempts must be an integer from 0 "
            r"\(unlimited\) to 2147483647, got 'x'",
        ),
        (
            ['workflow.retry_policy={"maximum_attempts": 1e300}'],
            r"maximum_attempts must be an integer from 0 \(unlimited\) to 2147483647, got 1e\+300",
        ),
        (
            ['workflow.retry_policy={"initial_interval": 1e300}'],
            r"workflow.retry_policy.initial_interval: 1e\+300 is too long: at most about 292 years",
        ),
        (["workflow.execution_timeout=1e300"], r"execution_timeout: 1e\+300 is too long"),
        (
            ["workflow.execution_timeout=9223372036854775807"],
            r"execution_timeout: 9223372036854775807 is too long",
        ),
        (["workflow.start_delay=1e20"], r"start_delay: 1e\+20 is too long"),
        (["workflow.run_timeout=-1s"], r"workflow.run_timeout must not be negative, got -1s$"),
        (
            ["workflow.id_reuse_policy=terminate_if_running", "workflow.id_conflict_policy=fail"],
            r"cannot be combined",
        ),
    ],
)
def test_invalid_options_name_the_key(texts: list[str], message: str) -> None:
    with pytest.raises(ArgumentError, match=message) as info:
        parse_options(texts, "start")
    assert "\n" not in str(info.value)


def test_parse_args_collects_options_for_start_and_execute() -> None:
    for command in ("start", "execute"):
        args = parse_args(
            [
                command,
                "app",
                "app:wf",
                "--option",
                "workflow.execution_timeout=72h",
                "--option",
                'workflow.retry_policy={"maximum_attempts":3}',
            ]
        )
        assert args.options == {
            "workflow.execution_timeout": "72h",
            "workflow.retry_policy": {"maximum_attempts": 3},
        }
    assert parse_args(["start", "app", "app:wf"]).options == {}


def test_id_and_option_id_together_are_refused() -> None:
    with pytest.raises(ArgumentError, match=r"--id and --option workflow.id=... both"):
        parse_args(["start", "app", "app:wf", "--id", "a", "--option", "workflow.id=b"])


@pytest.mark.parametrize(
    "option, message",
    [
        ("workflow.id", "expected KEY=VALUE"),
        ("workflow.bogus=1", "unknown workflow option 'workflow.bogus'"),
        ("workflow.run_timeout=-3", "workflow.run_timeout"),
    ],
)
def test_cli_exit_2_and_one_line(option: str, message: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run(["execute", "no-such-dir", "app:wf", "--option", option], out=out, err=err)
    assert code == 2
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("moonflow: error: execute: --option")
    assert message in lines[0]
    assert out.getvalue() == ""


def test_start_options_table() -> None:
    opts = start_options(
        {
            "workflow.id": "x",
            "temporal.workflow.execution_timeout": "72h",
            "workflow.memo": {"a": 1},
        }
    )
    assert opts.id == "x" and opts.conflict == "use_existing"
    kwargs = opts.client_kwargs()
    assert kwargs["execution_timeout"] == timedelta(hours=72)
    assert kwargs["memo"] == {"a": 1}
    assert start_options(None).conflict == "fail"
    with pytest.raises(UsageError, match=r"^options: expected a mapping"):
        start_options(["workflow.id=x"])  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"^options: workflow.wait_for_cancellation applies"):
        start_options({"workflow.wait_for_cancellation": True})


def test_context_values_are_json_or_strings() -> None:
    for command in ("start", "execute"):
        args = parse_args(
            [command, "app", "app:wf", "--context", "tenant=acme", "--context", "level=2"]
        )
        assert args.context_values == {"tenant": "acme", "level": 2}
    with pytest.raises(ArgumentError) as info:
        parse_args(["start", "app", "app:wf", "--context", "tenant"])
    assert str(info.value) == (
        "start: --context tenant: expected KEY=VALUE, e.g. --context tenant=acme"
    )
