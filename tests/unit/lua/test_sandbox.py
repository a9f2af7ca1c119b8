"""What Lua code can and cannot reach (issue 2 §3)."""

from __future__ import annotations

import pytest

from .helpers import new_state, run, run_error


@pytest.mark.parametrize("context", ["workflow", "activity"])
@pytest.mark.parametrize(
    "src, needle",
    [
        ("local x = io.open('/tmp/moonflow-should-not-exist', 'w')", "io.open is not available"),
        ("os.execute('touch /tmp/moonflow-should-not-exist')", "os.execute is not available"),
        ("local f = load('return 1')", "load is not available"),
        ("local f = dofile('/etc/passwd')", "dofile is not available"),
        ("local s = string.dump(print)", "string.dump is not available"),
        ("local r = debug.getregistry()", "debug.getregistry is not available"),
        ("local p = package.loadlib('x', 'y')", "package.loadlib is not available"),
        ("local g = os.getenv('HOME')", "os.getenv is not available"),
        ("collectgarbage()", "collectgarbage is not available"),
    ],
)
def test_escape_routes_refuse(context, src, needle):
    if context == "workflow":  # the reference runtime's wording for workflow code
        needle = needle.replace("is not available", "is not supported in workflow context")
    else:
        needle += " in moonflow Lua code"
    state = new_state(context)
    assert needle in run_error(state, src)


def test_workflow_message_says_move_to_activity():
    state = new_state("workflow")
    assert "move it into an activity" in run_error(state, "io.open('x')")


@pytest.mark.parametrize("context", ["workflow", "activity"])
def test_no_python_bridge(context):
    state = new_state(context)
    assert state.to_python(
        run(state, "return {type(rawget(_G, 'python')), type(package.loaded.python)}")[0]
    ) == [
        "nil",
        "nil",
    ]


def test_python_objects_are_opaque():
    state = new_state()
    state.rt.globals()["leak"] = object()
    msg = run_error(state, "return leak.__class__")
    assert "not allowed" in msg or "attribute" in msg


def test_string_metatable_is_protected():
    state = new_state()
    assert state.to_python(run(state, "return getmetatable('')")[0]) is False
    assert state.to_python(run(state, "return ('abc'):upper()")[0]) == "ABC"


def test_pcall_cannot_swallow_control_errors():
    state = new_state("workflow", instruction_budget=200_000)
    src = """
      local n = 0
      local ok = pcall(function() while true do n = n + 1 end end)
      while true do n = n + 1 end
    """
    k = state.kernel
    fn = state.sys.raw.load(src, "=loop", "t")
    k.start(fn, state.pack([]))
    status, _ = k.run()
    assert status == "budget"


@pytest.mark.parametrize("context", ["workflow", "activity"])
def test_modules_built_later_do_not_see_rewired_libraries(context):
    # errors/channel/time load on first use, after user code ran: they must keep the real
    # library functions even if that code replaced fields of the shared library tables.
    state = new_state(context)
    res = run(
        state,
        """
        local hijacked = {}
        math.type = function(...) hijacked[#hijacked + 1] = "math.type"; return "integer" end
        math.floor = function(...) hijacked[#hijacked + 1] = "math.floor"; return 0 end
        table.pack = function(...) hijacked[#hijacked + 1] = "table.pack"; return {n = 0} end
        local ok = pcall(channel.new, 1.5)        -- a float size must still be refused
        local e = errors.new("NOT_FOUND", "gone")
        local d = M("time").parse_duration("1.5s")
        return {ok, e:kind(), d:seconds(), #hijacked}
        """,
    )
    assert state.to_python(res[0]) == [False, "NotFound", 1.5, 0]


def test_errors_inside_runtime_code_name_the_users_line_in_activities():
    state = new_state("activity")
    msg = run_error(state, "local e = errors.new('x')\nlocal k = e.kind()")
    assert msg.startswith("snippet:2: attempt to index a nil value"), msg


@pytest.mark.parametrize("name", ["payload", "compress"])
def test_require_of_an_unimplemented_catalogue_module_says_so(name, tmp_path):
    from moonflow.registry import load_app

    (tmp_path / "_index.yaml").write_text(
        "version: '1.0'\nnamespace: app\nentries:\n"
        "  - name: f\n    kind: function.lua\n    source: file://f.lua\n    method: f\n"
        f"    modules: [{name}]\n"
    )
    (tmp_path / "f.lua").write_text(
        f'local function f() local m = require("{name}") return m end\nreturn {{ f = f }}\n'
    )
    app = load_app(tmp_path)
    code = app.spec("app:f")
    state = new_state("activity", app=app)
    fn = state.load_code(code)
    ok, err, _ = state.pcall(fn)
    assert not ok
    assert f'require("{name}"): module {name} is part of the reference' in state.error_text(err)


@pytest.mark.parametrize(
    "name, why",
    [
        ("link", "Temporal doesn't support bidirectional linking"),
        ("unlink", "Temporal doesn't support bidirectional linking"),
        ("monitor", "child workflows are automatically monitored"),
        ("unmonitor", "child workflows are automatically monitored"),
    ],
)
def test_process_calls_workflows_cannot_make_use_the_reference_wording(name, why):
    # The reference runtime's own tests check this text (reference-runtime.md §2.8).
    state = new_state("workflow")
    kind, message, retryable = run(
        state,
        f"local ok, err = process.{name}('wf-1')\n"
        "assert(ok == nil)\n"
        "return err:kind(), err:message(), err:retryable()",
    )
    assert (kind, retryable) == ("Invalid", False)
    assert message == f"process.{name} not supported in workflow context: {why}"
