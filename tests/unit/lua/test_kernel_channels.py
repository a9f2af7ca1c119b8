"""The workflow kernel without Temporal: coroutines, channels, select, mailbox routing."""

from __future__ import annotations

from .helpers import load_main, new_state


def run_main(src: str, deliveries=()):
    """Run `src` (a chunk returning a main function) in a workflow state; returns (status, value).

    ``deliveries`` are (topic, [values], from) messages delivered before the first step.
    """
    state = new_state("workflow")
    res = load_main(state, src)
    main = res[0]
    k = state.kernel
    for topic, values, sender in deliveries:
        k.deliver(topic, state.pack([state.to_lua(v) for v in values]), sender)
    k.start(main, state.pack([]))
    status, out = k.run()
    value = state.to_python(k.result[1], "result") if status == "done" else None
    return status, value, state, len(out)


def test_spawned_coroutines_run_fifo_and_channels_rendezvous():
    status, value, *_ = run_main("""
        return function()
            local log = {}
            local ch = channel.new()
            for i = 1, 3 do
                coroutine.spawn(function() log[#log + 1] = "start " .. i; ch:send(i) end)
            end
            local got = {}
            for _ = 1, 3 do got[#got + 1] = ch:receive() end
            return {log = log, got = got}
        end""")
    assert status == "done"
    assert value == {"log": ["start 1", "start 2", "start 3"], "got": [1, 2, 3]}


def test_buffered_channel_close_and_drain():
    status, value, *_ = run_main("""
        return function()
            local ch = channel.new(2)
            ch:send("a"); ch:send("b"); ch:close()
            local a, ok1 = ch:receive()
            local b, ok2 = ch:receive()
            local c, ok3 = ch:receive()
            local sent, err = pcall(ch.send, ch, "x")
            return {a, ok1, b, ok2, c == nil, ok3, sent, tostring(err):find("closed") ~= nil}
        end""")
    assert value == ["a", True, "b", True, True, False, False, True]


def test_select_first_ready_in_listed_order_and_default():
    status, value, *_ = run_main("""
        return function()
            local a, b = channel.new(1), channel.new(1)
            a:send("A"); b:send("B")
            local r1 = channel.select{b:case_receive(), a:case_receive()}
            local r2 = channel.select{b:case_receive(), default = true}
            local r3 = channel.select{a:case_receive(), b:case_receive()}
            return {r1.value, r1.channel == b, r2.default == true, r3.value}
        end""")
    assert value == ["B", True, True, "A"]


def test_select_blocks_until_a_sender_comes():
    status, value, *_ = run_main("""
        return function()
            local a, b = channel.new(), channel.new()
            coroutine.spawn(function() b:send("late") end)
            local r = channel.select{a:case_receive(), b:case_receive()}
            return {r.value, r.ok, r.channel == b}
        end""")
    assert value == ["late", True, True]


def test_messages_route_to_listen_then_inbox_and_keep_order():
    status, value, *_ = run_main(
        """
        return function()
            local inbox = process.inbox()
            local orders = process.listen("order")
            local first = inbox:receive()
            local o1, o2 = orders:receive(), orders:receive()
            local second = inbox:try_receive()
            local none = inbox:try_receive()
            return {first:topic(), first:payload():data(), first:from(), o1, o2, second:topic(), none == nil}
        end""",
        deliveries=[
            ("hello", [1], "{a@b|x}"),
            ("order", [10], None),
            ("order", [11], None),
            ("bye", [], None),
        ],
    )
    assert status == "done"
    assert value == ["hello", 1, "{a@b|x}", 10, 11, "bye", True]


def test_messages_without_subscriber_wait_for_one():
    status, value, state, _ = run_main(
        """
        return function()
            local ch = channel.new()
            return {pending = true}
        end""",
        deliveries=[("x", [1], None)],
    )
    assert status == "done"
    assert state.kernel.mailbox_size() == 1


def test_blocked_on_plain_channel_is_not_listening():
    status, value, state, _ = run_main("""
        return function()
            local ch = channel.new()
            ch:receive()
        end""")
    assert status == "blocked" and state.kernel.listening() is False


def test_timer_commands_are_emitted_and_zero_durations_fire_at_once():
    status, value, state, n_out = run_main(
        """
        local time = require_time()
        return function()
            local now = time.after(0):receive()
            local t = time.timer("1h")
            local stopped = t:stop()
            return {zero = now ~= nil, stopped = stopped, again = t:stop()}
        end""".replace("require_time()", "M_time")
    )
    assert status == "done"
    assert value == {"zero": True, "stopped": True, "again": False}
    assert n_out == 2  # the timer start and its cancellation


def test_commands_emitted_by_completion_callbacks_are_not_lost():
    # A ticker re-arms its timer from the fire callback, which runs in kernel.complete.
    state = new_state("workflow")
    env = state.new_env()
    env["M_time"] = state.module("time")
    src = """
        local time = M_time
        return function()
            local tk = time.ticker("1s")
            tk:channel():receive()
            tk:channel():receive()
            return "two ticks"
        end"""
    fn = state.sys.raw.load(src, "=main", "t", env)
    ok, res, _ = state.pcall(fn)
    k = state.kernel
    k.start(res[0], state.pack([]))
    status, out = k.run()
    assert status == "blocked" and len(out) == 1
    k.complete(out[1]["tag"])
    status, out = k.run()
    assert status == "blocked" and len(out) == 1  # the re-armed timer
    k.complete(out[1]["tag"])
    status, out = k.run()
    assert status == "done"
    assert state.to_python(k.result[1]) == "two ticks"


def test_receive_timeout_without_requiring_time():
    state = new_state("workflow")
    env = state.new_env()
    src = """
        return function()
            local inbox = process.inbox()
            local msg = inbox:receive_timeout("30s")
            return msg == nil and "timeout" or "message"
        end"""
    fn = state.sys.raw.load(src, "=main", "t", env)
    ok, res, _ = state.pcall(fn)
    k = state.kernel
    k.start(res[0], state.pack([]))
    status, out = k.run()
    assert status == "blocked" and out[1]["cmd"]["op"] == "timer"
    k.complete(out[1]["tag"])
    status, out = k.run()
    assert status == "done" and state.to_python(k.result[1]) == "timeout"


def test_tracebacks_show_user_frames_not_runtime_internals():
    # moonflow's own Lua code is stripped of debug info; its frames are left out of what
    # users see (the failure traceback and the __stack_trace query), theirs stay.
    status, _, state, _ = run_main("""
        local function wait_here(ch)
            local v = ch:receive(); return v
        end
        return function()
            local ch = channel.new()
            coroutine.spawn(function() wait_here(channel.new()) end)
            local v = wait_here(ch); return v
        end""")
    assert status == "blocked"
    stacks = str(state.kernel.stacks())
    assert "main:3: in " in stacks and "main:8: in " in stacks  # user frames, per task
    assert stacks.index("-- main") < stacks.index("-- coroutine 2")  # stable order
    assert "\t?:" not in stacks and "?: in" not in stacks
    status, _, state, _ = run_main("""
        local function boom() local t = nil; return t.x end
        return function() local v = boom(); return v end""")
    assert status == "error"
    tb = str(state.kernel.traceback)
    assert "main:2: in " in tb and "?: in" not in tb


def test_errors_inside_runtime_code_name_the_users_line():
    # ch.send(v) for ch:send(v) fails inside moonflow's (stripped) channel code: the message
    # must point at the user's line, not "?:-1:".
    status, _, state, _ = run_main("""
        return function()
            local ch = channel.new(1)
            ch.send(5)
        end""")
    assert status == "error"
    assert str(state.kernel.error).startswith("main:4: attempt to index a number value")


def test_modules_required_inside_a_running_workflow_function():
    # require() inside main runs Python code from inside a Lua coroutine; lupa 2.8 misreads
    # table fields there, so module loading must only call into Lua (see LuaRun.__init__).
    state = new_state("workflow")
    logged = []
    state.host.log = lambda level, msg, fields=None: logged.append((level, msg))
    env = state.new_env()
    env["M"] = state.module
    env["S"] = state.std_lib
    fn = state.sys.raw.load(
        """
        return function()
            local lg = M("logger")
            lg:info("from main")
            local j = M("json")
            local u = M("uuid")
            local s = S("string")
            local e = errors.new("NOT_FOUND", "x")
            return {j.encode({a = 1}), s.upper("ok"), type(u.v4), e:kind(), tostring(e) ~= nil}
        end""",
        "=main",
        "t",
        env,
    )
    main = state.pcall(fn)[1][0]
    state.kernel.start(main, state.pack([]))
    status, _ = state.kernel.run()
    assert status == "done", state.kernel.error
    assert state.to_python(state.kernel.result[1]) == [
        '{"a":1}',
        "OK",
        "function",  # Python functions reach Lua as Lua functions (issue 11)
        "NotFound",
        True,
    ]
    assert ("info", "from main") in logged


def test_library_imported_inside_a_running_workflow_function(tmp_path):
    # The import is loaded by Python code running inside main's coroutine (see above).
    from moonflow.registry import load_app

    (tmp_path / "_index.yaml").write_text(
        "version: '1.0'\nnamespace: app\nentries:\n"
        "  - name: lib\n    kind: library.lua\n    source: file://lib.lua\n"
        "  - name: wf\n    kind: workflow.lua\n    source: file://wf.lua\n    method: main\n"
        "    imports: {lib: app:lib}\n"
    )
    (tmp_path / "lib.lua").write_text("return { twice = function(x) return 2 * x end }\n")
    (tmp_path / "wf.lua").write_text(
        'local function main() local lib = require("lib") return lib.twice(21) end\n'
        "return { main = main }\n"
    )
    app = load_app(tmp_path)
    state = new_state("workflow", app=app)
    main = state.load_code(app.spec("app:wf"))
    state.kernel.start(main, state.pack([]))
    status, _ = state.kernel.run()
    assert status == "done", state.kernel.error
    assert state.kernel.result[1] == 42
