"""Only Lua values cross into Lua (issue 11): Python functions appear as Lua functions, and a
Python exception inside one becomes a moonflow error, never a Python object."""

from __future__ import annotations

import pytest

from .helpers import new_state, run

CONTEXTS = ["workflow", "activity"]
PY_MODULES = ["json", "uuid", "logger", "http_client", "crypto", "hash", "base64", "yaml", "env"]


def _modules_for(context: str) -> list[str]:
    # http_client and env are activity-only modules
    return [m for m in PY_MODULES if context == "activity" or m not in ("http_client", "env")]


@pytest.mark.parametrize("context", CONTEXTS)
def test_module_functions_are_lua_functions(context):
    state = new_state(context)
    for name in _modules_for(context):
        [kinds] = run(
            state,
            f"""
            local m = M({name!r})
            local seen = {{}}
            for k, v in pairs(m) do
              local s = tostring(v)
              if type(v) == "userdata" or s:find("<") or s:find("object at") then
                seen[#seen + 1] = k .. "=" .. type(v) .. ":" .. s
              end
            end
            return table.concat(seen, ",")
            """,
        )
        assert kinds == "", f"{name}: Python objects reachable from Lua: {kinds}"


@pytest.mark.parametrize("context", CONTEXTS)
def test_a_python_exception_becomes_a_moonflow_error(context):
    state = new_state(context)

    def boom(*_):
        raise ValueError("bad\nthing")

    def deep(*_):
        raise RecursionError("maximum recursion depth exceeded")

    env = state.new_env()
    env["boom"] = state.lua_function(boom, "mod.boom")
    env["deep"] = state.lua_function(deep, "mod.deep")
    fn = state.sys.raw.load(
        """
        local ok, e = pcall(boom, 1)
        local ok2, e2 = pcall(deep)
        return ok, type(e), e:kind(), e:message(), e2:kind(), e2:message(), tostring(boom)
        """,
        "=t",
        "t",
        env,
    )
    ok, results, _ = state.pcall(fn)
    assert ok, results
    assert results[:6] == [
        False,
        "table",
        "Internal",
        "mod.boom: ValueError: bad thing",
        "Invalid",
        "mod.deep: the value is nested too deeply",
    ]
    assert results[6].startswith("function: 0x")


def test_a_host_method_exception_becomes_a_moonflow_error():
    class Host(type(new_state("activity").host)):
        def now_ns(self):
            raise OSError("clock gone")

    state = new_state("activity", host=Host())
    [kind, message] = run(
        state,
        "local ok, e = pcall(function() return M('time').now() end) return e:kind(), e:message()",
    )
    assert (kind, message) == ("Internal", "host.now_ns: OSError: clock gone")


def test_json_decode_of_a_deeply_nested_text_is_an_invalid_error():
    state = new_state("workflow")
    assert run(
        state,
        "local v, e = M('json').decode(string.rep('[', 200000)) return v, e:kind(), e:message()",
    ) == [None, "Invalid", "json.decode: nested too deeply"]


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize(
    "call",
    [
        'M("json").decode("\\255")',
        'M("uuid").v5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "\\255\\254")',
        'M("yaml").decode("a: \\255")',
    ],
)
def test_a_binary_string_argument_is_a_moonflow_error_not_a_python_object(context, call):
    # lupa fails to make a Python str of it before the function runs: the module function
    # returns nil, err naming itself and the caller's line
    value_is_nil, kind, message = run(
        new_state(context),
        f"local v, e = {call}\nreturn v == nil, type(e) == 'table' and e:kind(), tostring(e)",
    )
    assert value_is_nil is True and kind == "Invalid"
    name = call.split('"')[1] + "." + call.split(".")[1].split("(")[0].split(")")[-1]
    assert f"{name} (snippet:1): a string argument is not valid UTF-8 text" in message
