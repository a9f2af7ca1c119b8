"""The ``test`` Lua module: activity stubs for test entries run by ``moonflow test``.

List ``test`` under the test entry's ``modules:``. Only the test's own process may call it
(inside the test function, not at load time); elsewhere every call raises an error.

* ``test.mock_activity(id, fn)``: the activity ``id`` (an entry id, ``"app:charge_payment"``)
  of every workflow this test starts (and their children) runs ``fn(...)`` instead, inside
  this test's process (it may wait: ``time.sleep``, messages): one Lua argument per activity
  argument; what ``fn`` returns is the activity's result (``nil, err`` and an uncaught error
  fail the activity, as a real one would).
* ``test.mock_activity(id, {result = value})``: the activity returns ``value`` (``{}``: nil).
* ``test.mock_activity(id, {error = e})``: the activity fails with ``e``: a table
  ``{kind = "PaymentDeclined", message = "card declined", retryable = false, details = ...}``
  (``kind`` default ``Internal``, ``retryable`` default false: a retryable stub error is
  retried by the workflow's retry policy, which calls the stub again), an error object
  (``errors.new``) or a string (kind ``Internal``).
* ``test.unmock_activity(id)`` -> whether ``id`` was stubbed; later calls run the activity.
* ``test.calls(id)`` -> how many activity calls a stub of ``id`` has answered in this test.

A later ``mock_activity`` of the same id replaces the earlier stub. Stubs end with the test.
Misuse (a bad id or stub shape, a call outside a test) raises an error naming the caller's
``file:line``. How stubs reach the activities: :mod:`moonflow.process._stubs`.
"""

from __future__ import annotations

from typing import Any

from .. import errors as mferrors
from ..errors import ErrorInfo

_TEST_LUA = r"""
local sys, register, unregister, calls = ...
local type, pcall, error = type, pcall, error
local pack, unpack = table.pack, table.unpack
local M = {}

-- Runs in a kernel task of the test's process: one stubbed activity call.
local function run_stub(fn, args, done)
    local r = pack(pcall(fn, unpack(args, 1, args.n)))
    if r[1] then
        done(true, pack(unpack(r, 2, r.n)))
    else
        done(false, r[2])
    end
end

local function check_id(name, id)
    if type(id) ~= "string" or id == "" then
        local got = type(id) == "string" and "an empty string" or type(id)
        error("test." .. name .. ": activity id must be a non-empty string (ns:name), got "
            .. got, 3)
    end
end

function M.mock_activity(id, stub)
    check_id("mock_activity", id)
    local mode, value
    if type(stub) == "function" then
        mode, value = "function", stub
    elseif type(stub) == "table" and not sys.is_error(stub) then
        for k in next, stub do
            if k ~= "result" and k ~= "error" then
                error("test.mock_activity: unknown key " .. tostring(k) .. " in the stub of "
                    .. id .. " (give a function, {result = value} or {error = {...}})", 2)
            end
        end
        if stub.error ~= nil and stub.result ~= nil then
            error("test.mock_activity: the stub of " .. id .. " has both result and error", 2)
        end
        if stub.error ~= nil then
            mode, value = "error", stub.error
        else
            mode, value = "result", stub.result
        end
    else
        error("test.mock_activity: the stub of " .. id .. " must be a function or a table "
            .. "{result = value} / {error = {kind, message, retryable}}, got " .. type(stub), 2)
    end
    local problem = register(id, mode, value, run_stub)
    if problem then
        error("test.mock_activity: " .. problem, 2)
    end
    return true
end

function M.unmock_activity(id)
    check_id("unmock_activity", id)
    local was, problem = unregister(id)
    if problem then
        error("test.unmock_activity: " .. problem, 2)
    end
    return was
end

function M.calls(id)
    check_id("calls", id)
    local n, problem = calls(id)
    if problem then
        error("test.calls: " .. problem, 2)
    end
    return n
end

return M
"""


def build(state: Any) -> Any:
    """Build the module table for one Lua state (see the module docstring for the API)."""
    from ..process._stubs import TEST_KEY, Stub, TestStubs, stubs_of

    def mine() -> tuple[TestStubs | None, str | None]:
        host = state.host
        context = getattr(host, "context", None)
        stubs = stubs_of((context() if context is not None else {}).get(TEST_KEY))
        pid = getattr(host, "pid", None)
        if stubs is None or pid is None:
            return None, "only a test entry run by `moonflow test` may stub activities"
        if stubs.pid is None:
            return None, "call it inside the test function, not while its file loads"
        if pid() != stubs.pid:
            return None, f"only the test's own process ({stubs.pid}) may stub activities"
        return stubs, None

    closing: list[bool] = []

    def register(activity_id: str, mode: str, value: Any, runner: Any) -> str | None:
        stubs, problem = mine()
        if stubs is None:
            return problem
        if not closing:
            closing.append(True)
            state.on_close(stubs.release)  # Lua values Python holds go with the run
        if mode == "function":
            stubs.runner = runner
            stubs.set(activity_id, Stub("function", fn=value))
            return None
        if mode == "error":
            info, problem = _error_info(state, value)
            if info is None:
                return f"the error stub of {activity_id}: {problem}"
            stubs.set(activity_id, Stub("error", error=info))
            return None
        try:
            result = None if value is None else state.to_python(value, f"result of {activity_id}")
        except Exception as exc:  # noqa: BLE001 - a value JSON cannot carry
            return str(exc)
        stubs.set(activity_id, Stub("result", value=result))
        return None

    def unregister(activity_id: str) -> Any:
        stubs, problem = mine()
        if stubs is None:
            return None, problem
        return stubs.remove(activity_id), None

    def calls(activity_id: str) -> Any:
        stubs, problem = mine()
        if stubs is None:
            return None, problem
        return stubs.calls.get(activity_id, 0), None

    return state.load_lua_module(
        _TEST_LUA, "=moonflow/test", state.sys, register, unregister, calls
    )


def _error_info(state: Any, value: Any) -> tuple[ErrorInfo | None, str]:
    """The failure an error stub stands for: an error object, a string or a table."""
    if isinstance(value, str):
        return ErrorInfo(mferrors.INTERNAL, value, False), ""
    if state.is_error(value):
        info = state.error_info(value)
        if info.retryable is None:
            info.retryable = False
        return info, ""
    try:
        data = state.to_python(value, "error")
    except Exception as exc:  # noqa: BLE001
        return None, str(exc)
    if not isinstance(data, dict):
        return None, "give {kind = ..., message = ..., retryable = ...}, an error or a string"
    unknown = sorted(set(data) - {"kind", "message", "retryable", "details"})
    if unknown:
        return None, f"unknown key(s) {', '.join(unknown)} (kind, message, retryable, details)"
    kind = data.get("kind") or mferrors.INTERNAL
    message = data.get("message")
    retryable = data.get("retryable", False)
    if not isinstance(kind, str) or not isinstance(message, str) or not isinstance(retryable, bool):
        return None, "kind and message must be strings, retryable a boolean"
    return ErrorInfo(kind, message, retryable, data.get("details")), ""
