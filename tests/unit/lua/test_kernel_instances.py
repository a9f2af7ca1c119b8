"""Kernel instances of runs sharing a Lua state: kernel.lua makes what depends on no run (yield
markers, the budget sentinel, the default mailbox functions) once per state, so these tests
check that what one run's kernel does never reaches another run's."""

from __future__ import annotations

from typing import Any

from moonflow.lua import LuaRun

from .helpers import load_main, runs_sharing_a_state


def _start(state: LuaRun, src: str) -> Any:
    """Load ``src`` (a chunk returning main) in a fresh environment of ``state`` and start it."""
    res = load_main(state, src)
    state.kernel.start(res[0], state.pack([]))
    return state.kernel


def test_the_process_module_of_one_run_does_not_change_another_runs_mailbox() -> None:
    a, b = runs_sharing_a_state(instruction_budget=0)
    ka, kb = a.kernel, b.kernel
    assert ka.listening() is False and kb.listening() is False
    # a's first message loads its process module, which sets its own mailbox functions
    ka.deliver("topic", a.pack(["hello"]), "sender")
    assert ka.mailbox_size() == 1
    assert len(list(ka.unconsumed().values())) == 1
    assert kb.mailbox_size() == 0
    assert kb.listening() is False
    assert list(kb.unconsumed().values()) == []
    # and a run made afterwards in the same state starts with the defaults too
    c = LuaRun("workflow", b.host, vm=b.vm)
    assert c.kernel.mailbox_size() == 0 and c.kernel.listening() is False


def test_commands_of_interleaved_runs_go_back_to_their_own_tasks() -> None:
    a, b = runs_sharing_a_state()
    src = """
        return function()
            local got = coroutine.wrap(function() return M_time.sleep("%s") end)
            got()
            return "%s"
        end"""
    ka = _start(a, src % ("1h", "a done"))
    kb = _start(b, src % ("2h", "b done"))
    status_a, out_a = ka.run()
    status_b, out_b = kb.run()
    assert (status_a, status_b) == ("blocked", "blocked")
    assert [out_a[1].cmd.op, out_b[1].cmd.op] == ["sleep", "sleep"]
    assert (out_a[1].cmd.ns, out_b[1].cmd.ns) == (3600 * 10**9, 7200 * 10**9)
    status_b, _ = kb.complete_and_run(out_b[1].tag)
    assert status_b == "done" and kb.result[1] == "b done"
    assert ka.result is None
    status_a, _ = ka.complete_and_run(out_a[1].tag)
    assert status_a == "done" and ka.result[1] == "a done"


def test_a_run_out_of_its_budget_does_not_stop_another_run() -> None:
    a, b = runs_sharing_a_state(instruction_budget=200_000)
    ka = _start(a, "return function() while true do end end")
    kb = _start(b, 'return function() M_time.sleep("1s"); return "b" end')
    assert ka.run()[0] == "budget"
    status, out = kb.run()
    assert status == "blocked"
    status, _ = kb.complete_and_run(out[1].tag)
    assert status == "done" and kb.result[1] == "b"
    # user pcall still cannot catch the (shared) budget sentinel
    kc = _start(
        LuaRun("workflow", b.host, vm=b.vm, instruction_budget=200_000),
        "return function() pcall(function() while true do end end); return 'caught' end",
    )
    assert kc.run()[0] == "budget"


def test_hook_lists_and_query_handlers_are_each_runs_own() -> None:
    a, b = runs_sharing_a_state()
    ka, kb = a.kernel, b.kernel
    rawget = a.sys.raw.rawget
    # made on first read only: a run that never gets a message holds no hook list
    assert rawget(ka, "idle_hooks") is None and rawget(kb, "idle_hooks") is None
    ka.deliver("topic", a.pack(["hello"]), "sender")  # loads a's process module: its pump hook
    assert len(ka.idle_hooks) == 1
    assert rawget(kb, "idle_hooks") is None
    assert len(kb.idle_hooks) == 0 and len(kb.on_blocked) == 0
    ka.queries["status"] = a.sys.raw.tostring
    assert kb.queries["status"] is None
    rawequal = a.sys.raw.rawequal  # (lupa wraps each read anew: compare the Lua tables)
    assert not rawequal(ka.queries, kb.queries)
    assert not rawequal(ka.on_blocked, kb.on_blocked)
    assert rawequal(ka.queries, ka.queries)
