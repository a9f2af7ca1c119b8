"""`moonflow check`'s unknown-global warnings (issue #12, item 3) and the run-time nil they guard."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

from moonflow.cli import run
from moonflow.determinism import sandbox_globals, unknown_globals

from .lua.helpers import new_state


def _warn(src: str) -> list[tuple[int, str, str]]:
    found = unknown_globals(textwrap.dedent(src), file="f.lua", entry="app:f")
    return [(w.line, w.name, w.suggestion) for w in found]


def test_a_typo_of_a_local_is_reported_with_a_did_you_mean() -> None:
    src = """\
        local function main(input)
          local tx_id = input.id
          return tx_idd
        end
        return { main = main }
    """
    assert _warn(src) == [(3, "tx_idd", "tx_id")]


def test_a_typo_of_a_sandbox_global_suggests_it() -> None:
    assert _warn("return strng.upper('a'), tostrin(1)") == [
        (1, "strng", "string"),
        (1, "tostrin", "tostring"),
    ]


def test_a_name_nothing_resembles_gets_no_suggestion() -> None:
    [(line, name, hint)] = _warn("local x = 1\nprint(completely_unrelated_name)\n")
    assert (line, name, hint) == (2, "completely_unrelated_name", "")


@pytest.mark.parametrize(
    "src",
    [
        "counter = (counter or 0) + 1",  # assigned in the file: the stock-Lua idiom
        "local function f() return cache end\nfunction g() cache = {} end",  # set elsewhere
        "function helper() end\nreturn helper()",  # a global function
        "return _G.maybe, _ENV['other'], rawget(_G, 'third')",  # deliberate lookups
        "_G.flag = true\nreturn flag",  # set through _G
        "local string = 1\nreturn string",  # a local shadows
        "return integer('1'), number('2'), boolean(1), unpack({}), table.getn({})",  # run-time forms
        "return errors.new('x'), process.pid(), channel.new(1), _VERSION",
        "local s = 'not_a_global in a string' -- nor_in_a_comment\nreturn s",
    ],
)
def test_what_is_not_reported(src: str) -> None:
    assert _warn(src) == []


def test_each_name_is_reported_once_at_its_first_read() -> None:
    assert _warn("print(mystery)\nprint(mystery)\n") == [(1, "mystery", "")]


def test_the_sandbox_globals_come_from_a_real_state() -> None:
    names = sandbox_globals()
    assert {"string", "integer", "unpack", "errors", "process", "channel", "_G"} <= names
    assert "python" not in names and "subscribe" not in names


@pytest.mark.parametrize("context", ["workflow", "activity"])
def test_an_unset_global_reads_nil_at_run_time(context: str) -> None:
    state = new_state(context)
    env = state.new_env()
    src = (
        "counter = (counter or 0) + 1\n"
        "if not cache then cache = {} end\n"
        "local ok, err = pcall(function() return run_compensations() end)\n"
        "return counter, type(cache), tostring(never_set), err"
    )
    fn = state.sys.raw.load(src, "=w.lua", "t", env)
    ok, res, _ = state.pcall(fn)
    assert ok, state.error_text(res)
    counter, cache, never_set, err = res
    assert (counter, cache, never_set) == (1, "table", "nil")
    assert "attempt to call a nil value (global 'run_compensations')" in str(err)


def test_moonflow_check_prints_the_warning_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(
        textwrap.dedent(
            """\
            namespace: app
            entries:
              - name: client
                kind: temporal.client
                address: localhost:7233
              - name: worker
                kind: temporal.worker
                client: client
                task_queue: q
              - name: wf
                kind: workflow.lua
                source: file://wf.lua
                method: main
                meta: {temporal: {workflow: {worker: app:worker}}}
            """
        )
    )
    (tmp_path / "wf.lua").write_text(
        "local function main(order)\n"
        "  local total = order.total\n"
        "  return { total = totl }\n"
        "end\n"
        "return { main = main }\n"
    )
    out, err = io.StringIO(), io.StringIO()
    assert run(["check", str(tmp_path)], out=out, err=err) == 0, err.getvalue()
    # the file as seen from where the command ran: APP_DIR as given, then the app's path
    assert (
        f"warning: {tmp_path / 'wf.lua'}:3: app:wf: global 'totl' is never assigned in this "
        "file, so it reads nil: did you mean 'total'?"
    ) in out.getvalue().splitlines()
    assert out.getvalue().splitlines()[-1] == "ok"


def test_a_reference_runtime_global_moonflow_lacks_is_named_as_such() -> None:
    [warning] = unknown_globals("local p = payload.new(1)\n", file="f.lua", entry="app:f")
    assert str(warning) == (
        "warning: f.lua:1: app:f: global 'payload' (message payloads: payload.new, "
        "payload.format) is part of the reference runtime but moonflow does not provide it yet, "
        "so it reads nil"
    )
