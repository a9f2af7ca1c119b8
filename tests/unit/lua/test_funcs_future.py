"""funcs.async's host protocol without Temporal: the commands a host sees and how it answers.

A host (the workflow driver, a process host) gets ``{op = "activity", id, args, options,
context}`` through the kernel's emitted commands and answers with ``kernel.complete(tag,
{ok = ..., value = ..., err = ...})``; ``future:cancel()`` emits ``{op = "cancel_activity",
activity = <tag of the activity command>}``.
"""

from __future__ import annotations

from typing import Any

from .helpers import new_state

SRC = """
local funcs = M_funcs
return function()
    local f = funcs.new():with_options({["activity.start_to_close_timeout"] = "5s"})
        :with_context({trace = "t"}):async("app:work", 1, "two")
    local g = funcs.async("app:other")
    local h = funcs.async("app:failing")
    local pending = {f:is_complete(), f:result() == nil}
    -- wait for f and h; g is cancelled once f is in
    local p = f:response():receive()
    local cancelled = g:cancel()
    local e, ok = h:channel():receive()
    local _, gerr = g:result()
    return {
        pending = pending,
        value = p:data(),
        cancelled = cancelled,
        g = {kind = gerr:kind(), canceled = g:is_canceled()},
        h = {kind = e:kind(), same = e == select(2, h:result()), ok = ok},
    }
end
"""


def _commands(out: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(out[i]["tag"], out[i]["cmd"]) for i in range(1, len(out) + 1)]


def test_the_commands_a_host_sees_and_answers():
    state = new_state("workflow")
    env = state.new_env()
    env["M_funcs"] = state.module("funcs")
    fn = state.sys.raw.load(SRC, "=main", "t", env)
    ok, res, _ = state.pcall(fn)
    assert ok, res
    k = state.kernel
    k.start(res[0], state.pack([]))
    status, out = k.run()
    assert status == "blocked"
    cmds = _commands(out)
    assert [c["op"] for _, c in cmds] == ["activity", "activity", "activity"]
    (f_tag, f_cmd), (g_tag, _), (h_tag, _) = cmds
    assert f_cmd["id"] == "app:work"
    assert state.to_python(f_cmd["args"]["n"]) == 2
    assert state.to_python(f_cmd["options"]) == {"activity.start_to_close_timeout": "5s"}
    assert state.to_python(f_cmd["context"]) == {"trace": "t"}

    def result(ok: bool, value: Any = None, err: Any = None) -> Any:
        t = state.rt.table()
        t["ok"] = ok
        if value is not None:
            t["value"] = state.to_lua(value)
        if err is not None:
            t["err"] = err
        return t

    status, out = k.complete_and_run(f_tag, result(True, {"done": 1}))
    assert status == "blocked"
    assert [(c["op"], c["activity"]) for _, c in _commands(out)] == [("cancel_activity", g_tag)]
    # the host's Canceled answer to the cancel arrives later and is ignored
    k.complete(g_tag, result(False, err=state.new_error("Canceled", "activity canceled", False)))
    status, out = k.complete_and_run(
        h_tag, result(False, err=state.new_error("Conflict", "nope", True))
    )
    assert status == "done"
    assert state.to_python(k.result[1]) == {
        "pending": [False, True],
        "value": {"done": 1},
        "cancelled": True,
        "g": {"kind": "Canceled", "canceled": True},
        "h": {"kind": "Conflict", "same": True, "ok": True},
    }
