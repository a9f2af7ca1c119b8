"""Cross-run leaks in shared workflow Lua states, found by an adversarial review: each test
makes two workflow runs share one Lua state and checks that what run A does cannot reach run B
(each failed at 07e9fd7)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from .helpers import exec_in_run, new_state, runs_sharing_a_state

_pair = runs_sharing_a_state
_exec = exec_in_run


def test_pairs_on_string_does_not_hand_out_the_real_string_library() -> None:
    # string's __pairs returns (next, real_string, nil): the second value is the state's real
    # string library, the one behind ("x"):method() for every run and moonflow's own modules.
    a, b = _pair()
    _exec(
        a,
        """
        local _, real = pairs(string)
        pcall(function() real.upper = function() return "PWNED" end end)
        pcall(function() real.sub = function() return "{update|" end end)
        """,
    )
    assert _exec(b, 'return ("a"):upper(), ("abc"):sub(1, 1)') == ["A", "a"]


def test_rawset_on_the_shared_string_io_and_debug_tables_does_not_reach_another_run() -> None:
    # string/io/debug are one table per state guarded only by __newindex; rawset skips it.
    a, b = _pair()
    _exec(
        a,
        """
        pcall(rawset, string, "format", function() return "HIJACKED" end)
        pcall(rawset, io, "open", "leak")
        pcall(rawset, debug, "traceback", "leak")
        """,
    )
    assert _exec(b, 'return string.format("%d", 5)') == ["5"]
    got = _exec(
        b,
        "local ok1, e1 = pcall(function() return io.open end) "
        "local ok2, e2 = pcall(function() return debug.traceback end) "
        "return type(e1), type(e2)",
    )
    assert got == ["function", "function"]  # the refusing stubs, not "leak"


def test_time_and_duration_classes_cannot_be_rewired_through_a_value() -> None:
    # Time.__index = Time and Duration.__index = Duration are built once per state (time.lua's
    # shared half): t.__index hands the shared class to any run.
    a, b = _pair()
    _exec(
        a,
        """
        local time = M("time")
        local function try(f) pcall(f) end
        try(function()
            local T = time.now().__index
            T.unix = function() return -1 end
            T.__tostring = function() return "PWNED" end
        end)
        try(function()
            local D = time.parse_duration("1s").__index
            D.seconds = function() return 999 end
        end)
        """,
    )
    got = _exec(
        b,
        """
        local time = M("time")
        local t = time.unix(5)
        return t:unix(), tostring(t), time.parse_duration("2s"):seconds()
        """,
    )
    assert got == [5, "1970-01-01T00:00:05Z", 2.0]


def test_errors_made_by_the_shared_half_of_time_cannot_be_rewired() -> None:
    # time.parse_duration("bad") returns an error of the *state's* errors instance: its
    # __index is that instance's Error class, shared by every run.
    a, b = _pair()
    _exec(
        a,
        """
        local time = M("time")
        local _, e = time.parse_duration("zz")
        pcall(function()
            local E = e.__index
            E.message = function() return "PWNED" end
            E.kind = function() return "Hacked" end
        end)
        """,
    )
    got = _exec(
        b,
        """
        local time = M("time")
        local _, e = time.parse_duration("zz")
        return e:kind(), (e:message():find("PWNED", 1, true) == nil)
        """,
    )
    assert got == ["Invalid", True]


def test_a_finalizer_of_one_run_cannot_hang_another_runs_activation() -> None:
    # The instruction budget is a debug hook, and Lua 5.4 runs __gc metamethods with hooks
    # off: a run's endless __gc runs (forever) inside whichever run's activation triggers the
    # collection, holding the shared state. Run in a child process: the failure is a hang.
    code = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, %r)
        from helpers import new_state
        a = new_state("workflow", instruction_budget=200_000)
        for _ in range(32):
            b = new_state("workflow", instruction_budget=200_000)
            if b.vm is a.vm:
                break
        def krun(st, src):
            fn = st.sys.raw.load(src, "=snip", "t", st.new_env())
            st.kernel.start(fn, st.pack([]))
            return st.kernel.run()[0]
        krun(a, "pcall(setmetatable, {}, {__gc = function() while true do end end})")
        status = krun(b, "local keep = {} for i = 1, 20000 do keep[i %% 100] = {i} end")
        print("B", status)
        """
    ) % (str(__import__("pathlib").Path(__file__).parent),)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("run B's activation hung in run A's __gc finalizer") from None
    assert "B done" in proc.stdout, proc.stdout + proc.stderr


def test_weak_tables_and_finalizers_are_refused_in_workflow_code() -> None:
    # Weak tables (and __gc) expose the collector's timing; in a shared state that timing is
    # driven by the other runs, so a replay of a run could see something else. They are
    # refused when the metatable is set (where Lua itself looks for __gc).
    a, _ = _pair()
    for mt, needle in (('{__mode = "v"}', "weak tables"), ("{__gc = function() end}", "__gc")):
        env = a.new_env()
        fn = a.sys.raw.load(f"local t = setmetatable({{}}, {mt})\nreturn t", "=w", "t", env)
        ok, err, _ = a.pcall(fn)
        assert not ok and needle in a.error_text(err) and "w:1:" in a.error_text(err)
    # activities keep the standard setmetatable (their state is their own)
    act = new_state("activity")
    env = act.new_env()
    fn = act.sys.raw.load('return setmetatable({}, {__mode = "k"}) ~= nil', "=w", "t", env)
    assert act.pcall(fn)[1] == [True]


def test_a_run_at_its_memory_cap_building_a_lazy_module_does_not_hang() -> None:
    # Near the cap, errors.new's first use makes Python build the module (table_from / load
    # into the state): the process then waits on a futex forever instead of failing the task
    # with "not enough memory". (Seen in the main thread; depends on the fill level.)
    code = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, %r)
        from helpers import new_state
        a = new_state("workflow", max_memory=1_000_000)
        fn = a.sys.raw.load('''
          local hog = {}
          pcall(function() while true do hog[#hog + 1] = {} end end)
          hog[#hog] = nil; hog[#hog] = nil; hog[#hog] = nil
          pcall(function() return errors.new("x") end)
          return 1
        ''', "=a", "t", a.new_env())
        a.arm_memory()
        a.pcall(fn)
        print("returned")
        """
    ) % (str(__import__("pathlib").Path(__file__).parent),)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("the run hung at its memory cap") from None
    assert "returned" in proc.stdout, proc.stdout + proc.stderr


def test_the_state_global_table_is_out_of_reach() -> None:
    # An entry environment falls back to the state's own global table for names it lacks;
    # that table must never be handed out, or one run could rewire `type`/`rawget` for the
    # sandbox's own code and every other run.
    a, b = _pair()
    got = _exec(
        a,
        """
        local env = _G
        local probe = {}
        local via_index = getmetatable(_G).__index(probe, "_G")
        _G = nil
        local G = _G
        G.type = function() return "hijacked" end
        return rawequal(via_index, probe), rawequal(G, env), type(1)
        """,
    )
    assert got == [True, True, "hijacked"]  # its own environment, nothing else
    assert _exec(b, "return type(1), rawget(_G, 'warn') == nil") == ["number", True]
    # a fresh environment of the same run starts from the untouched state-wide table
    assert _exec(a, "return type(1)") == ["number"]
