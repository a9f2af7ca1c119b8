"""How the CLI reports results and errors: one line each, and the documented exit codes."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import pytest
import temporalio.exceptions as tex
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from moonflow.cli import run
from moonflow.cli._output import Streams, error_message, one_line, print_error, print_failure
from moonflow.client import ConnectionFailed, failure_info
from moonflow.errors import AppError, ErrorInfo, UsageError, WorkflowFailure


def _streams(debug: bool = False) -> Streams:
    return Streams(io.StringIO(), io.StringIO(), debug)


def test_one_line() -> None:
    assert one_line("a\n  b\tc\r\n") == "a b c"


def test_print_failure_shape() -> None:
    s = _streams()
    print_failure(s, ErrorInfo("Invalid", "bad\ninput", False), "workflow app:wf (w-1)")
    out = s.out.getvalue()
    assert out.count("\n") == 1
    assert json.loads(out) == {
        "error": {"kind": "Invalid", "message": "bad\ninput", "retryable": False}
    }
    assert s.err.getvalue() == "moonflow: workflow app:wf (w-1) failed: Invalid: bad input\n"


def test_print_failure_unknown_kind_and_details() -> None:
    s = _streams()
    print_failure(s, ErrorInfo("", "x", None, {"a": 1}), "workflow w")
    assert json.loads(s.out.getvalue())["error"] == {
        "kind": "Unknown",
        "message": "x",
        "retryable": None,
        "details": {"a": 1},
    }


@pytest.mark.parametrize(
    "exc, code",
    [
        (WorkflowFailure(ErrorInfo("Invalid", "m")), 1),
        (AppError("unknown kind 'x'", file="a.yaml", line=3, entry_id="app:x"), 2),
        (UsageError("bad"), 2),
        (ConnectionFailed("127.0.0.1:1", "Connection refused", "start one"), 2),
        (RPCError("boom\nmore", RPCStatusCode.UNAVAILABLE, b""), 2),
        (ValueError("oops\nline 2"), 3),
    ],
)
def test_error_codes_and_one_line(exc: BaseException, code: int) -> None:
    message, got = error_message(exc)
    assert got == code
    assert "\n" not in message


def test_app_error_keeps_file_line_entry() -> None:
    message, _ = error_message(AppError("bad", file="a.yaml", line=3, entry_id="app:x"))
    assert message == "a.yaml:3: app:x: bad"


def test_print_error_one_line_without_debug() -> None:
    s = _streams()
    try:
        raise KeyError("nope")
    except KeyError as exc:
        assert print_error(s, exc) == 3
    err = s.err.getvalue()
    assert err.count("\n") == 1 and err.startswith("moonflow: error: internal error: KeyError")
    assert "--debug" in err


def test_print_error_traceback_with_debug() -> None:
    s = _streams(debug=True)
    try:
        raise UsageError("bad thing")
    except UsageError as exc:
        assert print_error(s, exc) == 2
    err = s.err.getvalue()
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1] == "moonflow: error: bad thing"


def _failure(cause: BaseException) -> WorkflowFailureError:
    err = WorkflowFailureError(cause=cause)
    err.__cause__ = cause
    return err


def test_failure_info_reads_moonflow_chain() -> None:
    chain = [{"msg": "n is bad", "kind": "Invalid", "retry": False, "details": {"n": 1}}]
    app = tex.ApplicationError("n is bad", chain, type="Invalid", non_retryable=True)
    assert failure_info(_failure(app)) == ErrorInfo("Invalid", "n is bad", False, {"n": 1})


def test_failure_info_plain_application_error() -> None:
    app = tex.ApplicationError("boom", type="NotFoundError", non_retryable=False)
    info = failure_info(_failure(app))
    assert (info.kind, info.message, info.retryable, info.details) == (
        "NotFound",
        "boom",
        True,
        None,
    )
    other = tex.ApplicationError("x", "d1", "d2", type="SomethingElse", non_retryable=True)
    info = failure_info(_failure(other))
    assert (info.kind, info.retryable, info.details) == ("Unknown", False, ["d1", "d2"])


def test_failure_info_timeout_cancel_terminate() -> None:
    timeout = tex.TimeoutError(
        "timed out", type=tex.TimeoutType.START_TO_CLOSE, last_heartbeat_details=[]
    )
    assert failure_info(_failure(timeout)).kind == "Timeout"
    assert failure_info(_failure(timeout)).retryable is True
    canceled = failure_info(_failure(tex.CancelledError("asked")))
    assert (canceled.kind, canceled.retryable) == ("Canceled", False)
    terminated = failure_info(_failure(tex.TerminatedError("by admin")))
    assert terminated.kind == "Terminated" and "by admin" in terminated.message


def test_run_returns_2_and_one_line_for_bad_arguments() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run(["execute", "x", "app:wf", "--input", "{"], out=out, err=err) == 2
    assert out.getvalue() == ""
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("moonflow: error: --input: invalid JSON: ")


def test_run_help_is_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"]) == 0
    assert "execute" in capsys.readouterr().out


def test_run_missing_app_dir(tmp_path: Path) -> None:
    err = io.StringIO()
    assert run(["check", str(tmp_path / "missing")], out=io.StringIO(), err=err) == 2
    assert err.getvalue().count("\n") == 1


def _tiny_app(root: Path, worker_ref: str = "app:worker") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.yaml").write_text(
        textwrap.dedent(
            f"""\
            version: "1.0"
            namespace: app
            entries:
              - name: temporal_client
                kind: temporal.client
                address: "localhost:7233"
                search_attributes:
                  status: Keyword
              - name: worker
                kind: temporal.worker
                client: app:temporal_client
                task_queue: tiny
              - name: wf
                kind: workflow.lua
                source: file://workflow.lua
                method: main
                meta:
                  temporal:
                    workflow:
                      worker: {worker_ref}
            """
        )
    )
    (root / "workflow.lua").write_text(
        "local function main(input) return {ok = true, n = input.n + 1} end\n"
        "return { main = main }\n"
    )
    return root


def test_check_prints_summary(tmp_path: Path) -> None:
    app = _tiny_app(tmp_path / "tiny")
    out, err = io.StringIO(), io.StringIO()
    assert run(["check", str(app)], out=out, err=err) == 0, err.getvalue()
    text = out.getvalue()
    assert "3 entries (1 temporal.client, 1 temporal.worker, 1 workflow.lua)" in text
    assert "client app:temporal_client: localhost:7233, namespace default" in text
    assert "status:Keyword" in text
    assert "worker app:worker: task queue 'tiny' (client app:temporal_client)" in text
    assert "workflow app:wf: type app:wf, worker app:worker" in text
    assert text.rstrip().endswith("ok")


def test_check_bad_app_is_exit_2_one_line(tmp_path: Path) -> None:
    app = _tiny_app(tmp_path / "bad", worker_ref="app:nope")
    out, err = io.StringIO(), io.StringIO()
    assert run(["check", str(app)], out=out, err=err) == 2
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "app:nope" in lines[0] and "app.yaml" in lines[0]


def test_execute_unknown_entry_is_exit_2(tmp_path: Path) -> None:
    app = _tiny_app(tmp_path / "tiny")
    err = io.StringIO()
    assert run(["execute", str(app), "app:nope"], out=io.StringIO(), err=err) == 2
    assert "no workflow entry 'app:nope'" in err.getvalue()
    assert "app:wf" in err.getvalue()  # names the workflows there are
