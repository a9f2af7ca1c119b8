"""Time module instances of runs sharing a Lua state: time.lua makes the values, parsing and
constants once per state, and each run's now/sleep/after/timer/ticker on first use (benchmark
M2), so these tests check that what one run's time module does never reaches another run's."""

from __future__ import annotations

from typing import Any

from moonflow.lua import LuaRun

from .helpers import load_main, new_state, runs_sharing_a_state


def _start(state: LuaRun, src: str) -> Any:
    """Load ``src`` (a chunk returning main; ``M(name)`` loads a module) in a fresh environment
    of ``state`` and start it; returns the run's kernel."""
    res = load_main(state, src, with_time=False)
    state.kernel.start(res[0], state.pack([]))
    return state.kernel


def test_each_run_reads_its_own_clock_and_gets_its_own_module_table() -> None:
    a, b = runs_sharing_a_state()
    b.host._now = a.host.now_ns() + 3600 * 10**9  # b's workflow time: an hour later
    ta, tb = a.module("time"), b.module("time")
    assert ta is not tb
    ka = _start(a, 'return function() return M("time").now():unix_nano() end')
    kb = _start(b, 'return function() return M("time").now():unix_nano() end')
    assert ka.run()[0] == "done" and kb.run()[0] == "done"
    assert kb.result[1] - ka.result[1] == 3600 * 10**9
    # each run's function is its own (it closes over that run), the shared parts are shared
    same = a.sys.raw.rawequal
    assert not same(ta.now, tb.now) and not same(ta.sleep, tb.sleep)
    assert same(ta.parse_duration, tb.parse_duration) and ta.SECOND == tb.SECOND == 10**9


def test_a_runs_module_table_shows_only_functions_and_no_metatable() -> None:
    state = new_state("workflow")
    ka = _start(
        state,
        """return function()
            local time = M("time")
            time.sleep(0)
            local kinds = {}
            for k, v in pairs(time) do kinds[#kinds + 1] = k .. "=" .. type(v) end
            table.sort(kinds)
            return table.concat(kinds, " "), tostring(getmetatable(time)), time.no_such == nil
        end""",
    )
    assert ka.run()[0] == "done"
    assert list(ka.result.values())[:3] == ["sleep=function", "false", True]


def test_timers_of_interleaved_runs_fire_and_stop_in_their_own_run() -> None:
    a, b = runs_sharing_a_state()
    src = """
        return function()
            local time = M("time")
            local t = time.timer("%s")
            local stopper = time.timer("5h")
            local got = t:channel():receive()
            return stopper:stop(), got ~= nil
        end"""
    ka = _start(a, src % "1h")
    kb = _start(b, src % "2h")
    status_a, out_a = ka.run()
    status_b, out_b = kb.run()
    assert (status_a, status_b) == ("blocked", "blocked")
    assert [c.cmd.ns for c in out_a.values()] == [3600 * 10**9, 5 * 3600 * 10**9]
    assert [c.cmd.ns for c in out_b.values()] == [7200 * 10**9, 5 * 3600 * 10**9]
    status_b, out_b = kb.complete_and_run(out_b[1].tag)
    # b's stop cancels b's own 5 h timer; a is untouched
    assert status_b == "done" and kb.result[1] is True
    assert [c.cmd.op for c in out_b.values()] == ["cancel_timer"]
    assert ka.result is None
    status_a, out_a = ka.complete_and_run(out_a[1].tag)
    assert status_a == "done" and [c.cmd.op for c in out_a.values()] == ["cancel_timer"]


def test_receive_timeout_after_a_run_loaded_time_first_and_another_did_not() -> None:
    # a loads time (sleeping first), then channels; b never loads time: both get a durable
    # timer for receive_timeout, each in its own run
    a, b = runs_sharing_a_state()
    ka = _start(
        a,
        """return function()
            M("time").sleep("1s")
            local ch = M("channel").new(1)
            return ch:receive_timeout("30s") == nil and "a timeout" or "a message"
        end""",
    )
    kb = _start(
        b,
        """return function()
            local ch = M("channel").new(1)
            return ch:receive_timeout("20s") == nil and "b timeout" or "b message"
        end""",
    )
    status, out = ka.run()
    assert status == "blocked" and out[1].cmd.op == "sleep"
    status, out_b = kb.run()
    assert status == "blocked" and (out_b[1].cmd.op, out_b[1].cmd.ns) == ("timer", 20 * 10**9)
    status, out = ka.complete_and_run(out[1].tag)
    assert status == "blocked" and (out[1].cmd.op, out[1].cmd.ns) == ("timer", 30 * 10**9)
    assert ka.complete_and_run(out[1].tag)[0] == "done" and ka.result[1] == "a timeout"
    assert kb.result is None
    assert kb.complete_and_run(out_b[1].tag)[0] == "done" and kb.result[1] == "b timeout"


def test_activity_code_sleeps_on_the_real_clock_and_has_no_channel_timers() -> None:
    state = new_state("activity")
    env = state.new_env()
    env["M"] = state.module
    fn = state.sys.raw.load(
        """local time = M("time")
        time.sleep("1ms")
        local ok, err = pcall(time.timer, "1s")
        return ok, tostring(err)""",
        "=snippet",
        "t",
        env,
    )
    ok, res, _ = state.pcall(fn)
    assert ok, res
    assert res[0] is False and "timers as channels need a workflow or a process" in res[1]
