"""The reference runtime's run-time forms (lua-dialect.md §4, issue 12 item 2): calling a type
name converts or validates; the Lua 5.1 names ``unpack`` and ``table.getn``."""

from __future__ import annotations

import pytest

from .helpers import new_state, run


@pytest.mark.parametrize("context", ["workflow", "activity"])
def test_type_names_convert(context):
    state = new_state(context)
    assert run(
        state,
        """
        local t = setmetatable({}, {__tostring = function() return "T!" end})
        return string(12), string(nil), string(true), string(t), string(1.5),
               integer("42"), integer(3.0), integer(-7), math.type(integer("8")),
               number("1.5"), number(" 0x10 "), number(3),
               boolean(true), boolean("false")
        """,
    ) == ["12", "nil", "true", "T!", "1.5", 42, 3, -7, "integer", 1.5, 16, 3, True, False]


@pytest.mark.parametrize(
    "call, message",
    [
        ("integer('x1')", "integer: cannot convert 'x1' to an integer"),
        ("integer(2.5)", "integer: cannot convert 2.5 to an integer"),
        ("integer({})", "integer: cannot convert table"),
        ("number('abc')", "number: cannot convert 'abc' to a number"),
        ("number(true)", "number: cannot convert true to a number"),
        ("boolean(1)", "boolean: cannot convert 1 to a boolean"),
        ("boolean('yes')", "boolean: cannot convert 'yes' to a boolean"),
        ("integer()", "bad argument #1 to 'integer' (value expected)"),
        ("string()", "bad argument #1 to 'string' (value expected)"),
    ],
)
def test_bad_conversions_are_errors_naming_the_line(call, message):
    state = new_state("workflow")
    [err] = run(state, f"local ok, e = pcall(function()\nlocal v = {call}\nreturn v\nend) return e")
    assert message in err and err.startswith("snippet:2:"), err


@pytest.mark.parametrize("context", ["workflow", "activity"])
def test_lua_51_names(context):
    state = new_state(context)
    assert run(
        state,
        "local t = {1, 2, 3} local a, b = unpack(t, 2) return a, b, table.getn(t), "
        "select('#', unpack({1, nil, 3}, 1, 3))",
    ) == [2, 3, 3, 3]


def test_the_string_library_is_still_a_library():
    state = new_state("activity")
    assert run(
        state,
        "return string.upper('a'), ('b'):upper(), type(string), pcall(function() string.x = 1 end)",
    )[:4] == ["A", "B", "table", False]


@pytest.mark.parametrize("kind", ["workflow.lua", "function.lua"])
def test_the_forms_work_in_a_files_top_level(kind, tmp_path):
    # The load-time check runs the top level too: it must know the forms (a reviewer found
    # `local PREFIX = string(42) .. ":"` refused there while the runtime accepts it).
    from moonflow.registry import load_app

    (tmp_path / "_index.yaml").write_text(
        "version: '1.0'\nnamespace: app\nentries:\n"
        f"  - name: f\n    kind: {kind}\n    source: file://f.lua\n    method: main\n"
    )
    (tmp_path / "f.lua").write_text(
        'local PREFIX = string(42) .. ":"\n'
        'local N = integer("5") + number("0.5")\n'
        "local A, B = unpack({1, 2})\n"
        "local G = table.getn({1, 2, 3})\n"
        'local T = boolean("true")\n'
        "local function main() return {PREFIX, N, A + B, G, T} end\n"
        "return { main = main }\n"
    )
    app = load_app(tmp_path)
    context = "workflow" if kind == "workflow.lua" else "activity"
    state = new_state(context, app=app)
    fn = state.load_code(app.spec("app:f"))
    ok, res, tb = state.pcall(fn)
    assert ok, tb
    assert state.to_python(res[0], "r") == ["42:", 5.5, 3, 3, True]


@pytest.mark.parametrize("context", ["workflow", "activity"])
@pytest.mark.parametrize(
    "call, message",
    [
        ("unpack(nil)", "bad argument #1 to 'unpack' (table expected, got nil)"),
        ("table.unpack(5)", "bad argument #1 to 'unpack' (table expected, got number)"),
        ("table.getn(5)", "bad argument #1 to 'getn' (table expected, got number)"),
    ],
)
def test_unpack_and_getn_name_the_callers_line(context, call, message):
    from .helpers import run_error

    assert run_error(new_state(context), f"local x = 1\nlocal y = {call}") == (
        f"snippet:2: {message}"
    )
