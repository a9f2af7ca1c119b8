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
    state = new_state(context)
    assert needle in run_error(state, src)


def test_workflow_message_says_move_to_activity():
    state = new_state("workflow")
    assert "move it into an activity" in run_error(state, "io.open('x')")


@pytest.mark.parametrize("context", ["workflow", "activity"])
def test_no_python_bridge(context):
    state = new_state(context)
    assert state.to_python(run(state, "return {type(python), type(package.loaded.python)}")[0]) == [
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
