"""Workflow runs share Lua states: what one run does must never reach another, and a run that
is gone must leave nothing behind in the state."""

from __future__ import annotations

import gc

from moonflow.lua import LuaRun

from .helpers import exec_in_run, new_state, runs_sharing_a_state

_pair = runs_sharing_a_state
_exec = exec_in_run


def test_a_run_rewiring_globals_and_libraries_does_not_reach_another_run() -> None:
    a, b = _pair()
    _exec(
        a,
        """
        table.insert = nil; table.concat = function() return "hijacked" end
        math.floor = nil; math.pi = 3; utf8.char = nil; os.time = nil
        coroutine.create = nil; package.loaded.x = 1; errors.new = nil
        print = nil; pairs = nil; tostring = function() return "t" end
        getmetatable(_G).__index = function() return "any" end
        _G.leak = "yes"
        """,
    )
    got = _exec(
        b,
        """
        local t = {}
        table.insert(t, "ok")
        return table.concat(t), math.floor(2.5), math.pi > 3.14, utf8.char(65),
            type(os.time()), type(coroutine.create), package.loaded.x == nil,
            errors.new("x"):message(), type(print), type(pairs), tostring(1),
            rawget(_G, "leak") == nil, tostring(undefined_name)
        """,
    )
    assert got == [
        "ok",
        2,
        True,
        "A",
        "number",
        "function",
        True,
        "x",
        "function",
        "function",
        "1",
        True,
        "nil",  # not "any": the other run's metatable on _G did not reach this run
    ]


def test_the_string_library_stays_read_only_for_every_run() -> None:
    a, b = _pair()
    env = a.new_env()
    fn = a.sys.raw.load('string.upper = function() return "x" end', "=s", "t", env)
    ok, err, _ = a.pcall(fn)
    assert not ok and "read-only" in a.error_text(err)
    assert _exec(b, 'return ("a"):upper()') == ["A"]


def test_each_run_has_its_own_random_generator() -> None:
    # Runs seeded alike draw the same sequence however their draws interleave: the generator
    # state is per run, not the state-wide C one. (FakeWorkflowHost seeds every run with 42.)
    a, b = _pair()
    alone = new_state("workflow")
    expected = _exec(alone, "local r = {} for i = 1, 12 do r[i] = math.random(1000) end return r")[
        0
    ]
    draw = "return math.random(1000)"
    fa = a.sys.raw.load(draw, "=d", "t", a.new_env())
    fb = b.sys.raw.load(draw, "=d", "t", b.new_env())
    seq_a, seq_b = [], []
    for _ in range(6):
        seq_a.append(a.pcall(fa)[1][0])
        seq_b.append(b.pcall(fb)[1][0])
        seq_b.append(b.pcall(fb)[1][0])  # b draws twice as often as a
    assert seq_a == expected[:6]
    assert seq_b == expected


def _idle_run(src: str) -> LuaRun:
    state = new_state("workflow")
    env = state.new_env()
    env["time"] = state.module("time")
    fn = state.sys.raw.load(src, "=idle", "t", env)
    state.kernel.start(fn, state.pack([]))
    status, out = state.kernel.run()
    assert status == "blocked" and len(out) == 1
    return state


def test_runs_that_are_gone_leave_nothing_in_the_shared_state() -> None:
    # Nothing Lua holds may lead back to a run's Python objects strongly: a cycle through the
    # Lua registry would keep every finished run's Lua values forever.
    src = """
        local t = {}
        for i = 1, 200 do t[i] = {i = i, s = "x" .. i} end
        local ch = channel.new(1)
        coroutine.spawn(function() ch:receive() end)
        time.sleep("1h")
        return t, math.random(), os.time(), errors.new("x")
    """
    probe = _idle_run('time.sleep("1h")')
    runtime = probe.vm
    del probe
    after_round = []
    for _ in range(6):
        runs = []
        for _ in range(40):
            st = _idle_run(src)
            if st.vm is runtime:
                st.module("json")  # Python-built modules: Python functions living in Lua
                runs.append(st)
                uuid_env = st.new_env()
                uuid_env["M"] = st.module("uuid")
                gen = st.sys.raw.load("return M.v4()", "=u", "t", uuid_env)
                assert st.pcall(gen)[0]  # a generator that reaches the host (and its state)
        assert runs
        gc.collect()
        runtime.collectgarbage("collect")
        held = runtime.memory_used()
        del runs, st
        gc.collect()
        runtime.collectgarbage("collect")
        after_round.append(runtime.memory_used())
        assert held - after_round[-1] > 20 * 10_000  # the runs really held memory, now freed
    # The first rounds grow the registry and caches to their working size; after that the
    # state must not grow (a leak of even 100 bytes per run would show as 2 KB per round).
    assert max(after_round[2:]) - after_round[1] < 1_000, after_round
