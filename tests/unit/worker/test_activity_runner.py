"""A Lua activity call made in one call into Lua (worker/_activity.py; issue 18 item 3).

The call's run, its entry's environment, its file loaded and its function called are one call
into Lua, in a Lua state taken from a pool (the one used last). These tests hold what that
must keep of a call made step by step: every way a call ends (value, ``nil, err``, a Lua error,
a file that does not compile or load, a method it does not export, arguments that cannot enter
Lua), the limits (instruction budget, memory cap) and isolation between calls, on one thread
and on many. The calls run through the worker's activity function in the SDK's own activity
environment (``temporalio.testing.ActivityEnvironment``: activity info, payload converter,
cancellation shield), with real Lua; no server is needed for what is tested here.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
from pathlib import Path
from typing import Any

import pytest
from temporalio.common import RawValue
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from moonflow.registry import load_app
from moonflow.worker._activity import ActivityRunner, _idle_vms, make_activity

from ..._apps import app_index

FILES = {
    "ok.lua": """\
local calls = 0
local function echo(...)
  calls = calls + 1
  local args = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    args[i] = v == nil and "nil" or v
  end
  return {args = args, n = select("#", ...), calls = calls}
end
local function fail_soft(kind)
  local errors = require("errors")
  return nil, errors.new(kind, "soft failure", true, {k = 1})
end
local function fail_text() return nil, "plain text" end
local function nothing() end
local function boom() local t = nil; return t.x end
local function spin() while true do end end
local function hog()
  local t = {}
  for i = 1, 1e7 do t[i] = ("x"):rep(64) .. i end
  return #t
end
local function leak(v)
  local before = rawget(_G, "LEAKED")
  LEAKED = v
  local concat = type(table.concat)
  table.concat = nil
  return {before = before or "none", concat = concat}
end
local function multi() return 1, 2, 3 end
local function falsy() return false end
local function errtable() error({code = 1}) end
local function badresult() return {f = print} end
local function req() return require("http_client") end
return {
  multi = multi, falsy = falsy, errtable = errtable, badresult = badresult,
  req = req,
  echo = echo, fail_soft = fail_soft, fail_text = fail_text, nothing = nothing,
  boom = boom, spin = spin, hog = hog, leak = leak,
}
""",
}
#: Files the app loader would refuse (it checks each entry's file): written once it has loaded,
#: as an edit of a running worker's files (the worker reads a file anew when its size or mtime
#: changes).
BROKEN = {
    "loadfail.lua": 'local x = 1\nerror("top level failure")\nreturn {main = function() end}\n',
    "spinload.lua": "while true do end\nreturn {main = function() end}\n",
    "bad.lua": "return {main = function( end}\n",
    "missing.lua": "return {other = function() end}\n",
}

ENTRIES = [
    ("echo", "ok.lua", "echo"),
    ("fail_soft", "ok.lua", "fail_soft"),
    ("fail_text", "ok.lua", "fail_text"),
    ("nothing", "ok.lua", "nothing"),
    ("boom", "ok.lua", "boom"),
    ("spin", "ok.lua", "spin"),
    ("hog", "ok.lua", "hog"),
    ("leak", "ok.lua", "leak"),
    ("missing", "missing.lua", "not_there"),
    ("multi", "ok.lua", "multi"),
    ("falsy", "ok.lua", "falsy"),
    ("errtable", "ok.lua", "errtable"),
    ("badresult", "ok.lua", "badresult"),
    ("req", "ok.lua", "req"),
    ("loadfail", "loadfail.lua", "main"),
    ("spinload", "spinload.lua", "main"),
    ("bad", "bad.lua", "main"),
]


def _entries_yaml() -> str:
    out = ""
    for name, file, method in ENTRIES:
        out += (
            f"- name: {name}\n  kind: function.lua\n  source: file://{file}\n"
            f"  method: {method}\n  modules: [errors]\n"
            "  meta:\n    temporal:\n      activity:\n        worker: app:worker\n"
        )
    return out


@pytest.fixture()
def runner(tmp_path: Path) -> ActivityRunner:
    (tmp_path / "_index.yaml").write_text(app_index("runner-tq", _entries_yaml()))
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    for name in BROKEN:
        (tmp_path / name).write_text("return {main = function() end, not_there = function() end}\n")
    app = load_app(tmp_path)
    for name, text in BROKEN.items():
        (tmp_path / name).write_text(text)
    entries = {c.entry.id: c for c in app.activities("app:worker")}
    # a budget small enough for the endless loops to end quickly, a cap for the hog
    return ActivityRunner(app, entries, 8 * 1024 * 1024, instruction_budget=5_000_000)


_CONVERTER = DataConverter.default.payload_converter


def call(runner: ActivityRunner, entry: str, *args: Any) -> Any:
    """Run ``app:<entry>`` as the worker does: payloads in, a payload out."""
    now = datetime.datetime.now(datetime.UTC)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        ActivityEnvironment.default_info(),
        activity_type=f"app:{entry}",
        scheduled_time=now,
        current_attempt_scheduled_time=now,
        started_time=now,
        schedule_to_close_timeout=None,
        start_to_close_timeout=datetime.timedelta(seconds=60),
    )
    raw = [RawValue(_CONVERTER.to_payload(a)) for a in args]
    out = env.run(make_activity(runner), raw)
    return _CONVERTER.from_payload(out.payload)


def failure(runner: ActivityRunner, entry: str, *args: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        call(runner, entry, *args)
    return info.value


def test_arguments_and_result_cross_as_before(runner: ActivityRunner) -> None:
    got = call(runner, "echo", 1, None, {"a": [1, 2.0, None], "e": {}}, "s")
    assert got == {"args": [1, "nil", {"a": [1, 2.0, None], "e": {}}, "s"], "n": 4, "calls": 1}
    assert call(runner, "echo") == {"args": [], "n": 0, "calls": 1}
    assert call(runner, "nothing") is None


def test_results_by_the_shared_rules(runner: ActivityRunner) -> None:
    assert call(runner, "multi") == 1  # the first value; the second is not an error
    assert call(runner, "falsy") is False
    e = failure(runner, "badresult")
    assert e.type == "Internal" and "activity app:badresult result cannot be encoded" in e.message
    e = failure(runner, "errtable")
    assert e.type == "Internal" and 'error value {"code": 1}' in e.message
    e = failure(runner, "req")
    assert "module http_client is not in the modules list of app:req" in e.message


def test_nil_err_keeps_kind_details_and_retryable(runner: ActivityRunner) -> None:
    e = failure(runner, "fail_soft", "Conflict")
    assert (e.type, e.message, e.non_retryable) == ("Conflict", "soft failure", False)
    assert e.details[0][0]["details"] == {"k": 1}
    e = failure(runner, "fail_text")
    assert (e.type, e.message, e.non_retryable) == ("Internal", "plain text", True)


def test_lua_error_names_file_and_line(runner: ActivityRunner) -> None:
    e = failure(runner, "boom")
    assert e.type == "Internal" and e.non_retryable
    assert "ok.lua:17: attempt to index a nil value (local 't')" in e.message


def test_a_file_that_fails_to_load_compile_or_export(runner: ActivityRunner) -> None:
    e = failure(runner, "loadfail", 1)
    assert e.type == "Internal" and e.non_retryable
    assert "error while loading loadfail.lua: loadfail.lua:2: top level failure" in e.message
    e = failure(runner, "missing")
    assert "method 'not_there' is not exported by missing.lua" in e.message
    e = failure(runner, "bad")
    assert e.type == "Internal" and e.non_retryable
    assert "bad.lua:1:" in e.message and "near 'end'" in e.message


def test_arguments_that_cannot_enter_lua(runner: ActivityRunner) -> None:
    e = failure(runner, "echo", "ok", {"n": 2**64})
    assert e.type == "Invalid" and e.non_retryable
    assert "argument 2.n: integer 18446744073709551616 does not fit in 64 bits" in e.message
    # the file is loaded first: its failure is the one reported
    e = failure(runner, "loadfail", {"n": 2**64})
    assert "error while loading loadfail.lua" in e.message


def test_limits_stop_the_call_and_the_state_serves_the_next(runner: ActivityRunner) -> None:
    e = failure(runner, "spin")
    assert e.type == "ResourceExhausted" and "5000000 Lua instructions" in e.message
    assert "(at ok.lua:18)" in e.message
    e = failure(runner, "spinload")
    assert e.type == "ResourceExhausted" and "(at spinload.lua:1)" in e.message
    e = failure(runner, "hog")
    assert e.type == "ResourceExhausted" and "memory cap (8388608 bytes" in e.message
    assert call(runner, "echo", 7) == {"args": [7], "n": 1, "calls": 1}


def test_nothing_leaks_between_calls_in_one_state(runner: ActivityRunner) -> None:
    first = call(runner, "leak", "one")
    assert first == {"before": "none", "concat": "function"}
    # the same (pooled) state serves the next call: a fresh run, fresh globals
    assert len(_idle_vms) >= 1
    assert call(runner, "leak", "two") == {"before": "none", "concat": "function"}
    assert call(runner, "echo")["calls"] == 1  # the file's top level runs again


def test_calls_on_many_threads_at_once_stay_apart(runner: ActivityRunner) -> None:
    barrier = threading.Barrier(8)
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            for j in range(20):
                got = call(runner, "leak", f"{i}-{j}")
                results.append(got)
                assert call(runner, "echo", i, j)["args"] == [i, j]
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(results) == 160
    assert all(r == {"before": "none", "concat": "function"} for r in results)
