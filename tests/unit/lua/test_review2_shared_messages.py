"""Message and Payload objects of runs sharing a Lua state (second review of the process layer,
issue 14). Since 1ce18ab, process.lua makes the Message and Payload metatables once per Lua
state (``base.process_objects``) and every run's messages share them, workflow runs of a
pooled state and the processes of a node alike. Each metatable is its own methods table
(``Message.__index = Message``), so ``msg.__index`` hands any run the state-wide class to
rewire, as ``t.__index`` did for Time before time.lua split ``TimeMT`` from ``Time``
(tests/unit/lua/test_shared_state_leaks.py). One run can then change what ``msg:topic()``
and ``payload:data()`` return in every other run of the state, and read the other runs'
messages: a workflow's replay would see another workflow's code.
"""

from __future__ import annotations

from typing import Any

from moonflow.lua import LuaRun

from .helpers import load_main, runs_sharing_a_state

# Run A takes a message and rewires what it can reach through it; the methods it installs
# keep what they are called with (another run's values) in A's own table.
TAMPER = """
    local stolen = {}
    return function()
        local msg = process.inbox():receive()
        pcall(function()
            local Message = msg.__index
            Message.topic = function(self) stolen[#stolen + 1] = self._values[1]; return "HIJACKED" end
            Message.from = function() return "{evil|0}" end
        end)
        pcall(function()
            local Payload = msg:payload().__index
            Payload.data = function(self) stolen[#stolen + 1] = self._v; return "PWNED", nil end
        end)
        process.inbox():receive()
        return #stolen
    end"""

VICTIM = """
    return function()
        local msg = process.inbox():receive()
        return {msg:topic(), msg:payload():data(), msg:from(), msg:payload():unmarshal()}
    end"""


def _start(state: LuaRun, src: str) -> Any:
    res = load_main(state, src, with_time=False)
    state.kernel.start(res[0], state.pack([]))
    return state.kernel


def test_a_run_cannot_rewire_the_messages_of_another_run_of_its_state() -> None:
    a, b = runs_sharing_a_state(instruction_budget=0)
    ka = _start(a, TAMPER)
    ka.deliver("first", a.pack(["a's own"]), "{someone|1}")
    assert ka.run()[0] == "blocked"  # rewired, waits for its second message
    kb = _start(b, VICTIM)
    kb.deliver("secret_topic", b.pack(["secret"]), "{client|7}")
    status, _ = kb.run()
    assert status == "done"
    assert b.to_python(kb.result[1]) == ["secret_topic", "secret", "{client|7}", "secret"]
    # and A saw nothing of B's message
    ka.deliver("second", a.pack([1]), "{someone|1}")
    status, _ = ka.run()
    assert status == "done"
    assert ka.result[1] == 0
