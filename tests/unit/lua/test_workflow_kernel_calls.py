"""The workflow driver's calls into a run's kernel (``worker/_driver.py`` ``_KERNEL_CALLS``):
a step hands back the status and each command's tag, table, op and the fields the driver
reads of it, in one call; a step with very many commands hands back their list instead."""

from __future__ import annotations

from typing import Any

from moonflow.worker._driver import _kernel_calls

from .helpers import load_main, new_state


def _started(src: str, *args: Any) -> tuple[Any, Any]:
    """A workflow run whose main is the function ``src`` returns, started with ``args``;
    returns the run and its kernel calls."""
    state = new_state("workflow", instruction_budget=0)
    res = load_main(state, src)
    calls = _kernel_calls(state.vm)
    start = calls[0]
    start(state.sys, None, None, state.kernel, res[0], *args)
    return state, calls


def test_a_step_returns_each_command_with_its_fields() -> None:
    state, (_, step, _, _) = _started(
        """return function(a, b, c)
            assert(a == 1 and b == nil and c == "x", "input")
            coroutine.spawn(function() M_time.sleep("2s") end)
            M_time.sleep("1s")
            return "done"
        end""",
        1,
        None,
        "x",
    )
    res = step(state.kernel, None)
    assert res[0] == "blocked"
    assert len(res) == 1 + 2 * 5
    (tag1, cmd1, op1, ns1, b1), (tag2, cmd2, op2, ns2, b2) = res[1:6], res[6:11]
    assert (op1, ns1, b1) == ("sleep", 1_000_000_000, None)  # main runs first
    assert (op2, ns2, b2) == ("sleep", 2_000_000_000, None)
    assert cmd1["ns"] == ns1 and cmd2["op"] == "sleep" and tag1 != tag2
    # completing main's sleep ends the run: only the status comes back
    assert step(state.kernel, tag1) == "done"
    assert state.kernel.result[1] == "done"


def test_a_step_with_very_many_commands_returns_their_list() -> None:
    state, (_, step, _, entry) = _started(
        """return function(n)
            for i = 1, n do
                coroutine.spawn(function() M_time.sleep(i .. "s") end)
            end
            M_time.sleep("1h")
        end""",
        10_001,
    )
    res = step(state.kernel, None)
    status, out = res
    assert status == "blocked" and len(out) == 10_002
    tags = set()
    for i in range(1, len(out) + 1):
        tag, cmd, op, ns, b = entry(out, i)
        assert op == "sleep" and cmd["ns"] == ns and b is None
        tags.add(tag)
    assert len(tags) == 10_002
    assert entry(out, 1)[3] == 3600 * 10**9 and entry(out, 2)[3] == 10**9


def test_an_activity_command_is_read_in_one_call() -> None:
    state = new_state("workflow", instruction_budget=0)
    activity_call = _kernel_calls(state.vm)[2]
    cmd = state.sys.raw.load(
        'return { op = "activity", id = "app:x", args = table.pack(1, nil, "z"), '
        "options = { retries = 2 } }",
        "=cmd",
        "t",
        state.new_env(),
    )()
    fields = activity_call(cmd)
    assert fields[0] == "app:x" and fields[1] is None and fields[2]["retries"] == 2
    assert fields[3] == 3 and fields[4:] == (1, None, "z")
