"""Query handlers run read-only (kernel.lua K.call_query): no channel operation, no command,
no task parked or woken, and math.random from a generator of the query's own."""

from __future__ import annotations

import pytest

from .helpers import load_main, new_state

READ_ONLY = "query handlers are read-only"


def start(src: str):
    """Load `src` (a chunk returning main, queries) in a workflow state and run main until it
    blocks; returns (state, queries table, first status)."""
    state = new_state("workflow")
    res = load_main(state, src)
    main, queries = res[0], res[1]
    k = state.kernel
    k.start(main, state.pack([]))
    status, out = k.run()
    return state, queries, status, len(out)


def query(state, queries, name, *args):
    ok, value = state.kernel.call_query(queries[name], state.pack([state.to_lua(a) for a in args]))
    return ok, (state.to_python(value, "query") if ok else state.error_text(value))


CHANNEL_APP = """
    local ch = channel.new()
    local buf = channel.new(1)
    local log = {}
    local function main()
        buf:send("kept")
        local v = ch:receive()
        log[#log + 1] = "got " .. tostring(v)
        return {v = v, buf = buf:receive()}
    end
    local q = {}
    q.send = function() ch:send("from query") end
    q.try = function() local v = buf:try_receive(); return v end
    q.select = function() local r = channel.select{ch:case_receive()}; return r end
    q.select_default = function()
        local r = channel.select{buf:case_receive(), default = true}
        return r
    end
    q.close = function() ch:close() end
    q.spawn = function() coroutine.spawn(function() ch:send("spawned") end) end
    q.sleep = function() M_time.sleep("1s") end
    q.timer = function() local t = M_time.after("1s"); return t end
    q.feed = function() ch:send("real") end  -- not a query: run as a workflow task
    q.pcall_send = function() local ok, err = pcall(ch.send, ch, "x"); return {ok, tostring(err)} end
    q.log = function() return #log end
    return main, q
"""


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("send", "ch:send"),
        ("try", "ch:try_receive"),
        ("select", "channel.select"),
        ("select_default", "channel.select"),
        ("close", "ch:close"),
        ("spawn", "coroutine.spawn"),
        ("sleep", "the sleep command"),
        ("timer", "the timer command"),
    ],
)
def test_a_query_that_would_change_the_workflow_fails_and_leaves_nothing(name, what):
    state, queries, status, _ = start(CHANNEL_APP)
    assert status == "blocked"
    ok, err = query(state, queries, name)
    assert not ok
    assert f"{READ_ONLY}: {what} would change the workflow (queries are not in the history" in err
    if "command" in what:
        assert err.endswith("; a handler cannot wait or issue commands)")
    assert "main:" in err  # names the handler's line
    # nothing was woken, queued or emitted: the workflow goes on as if the query never ran
    k = state.kernel
    status, out = k.run()
    assert (status, len(out)) == ("blocked", 0)
    ok, n = query(state, queries, "log")
    assert (ok, n) == (True, 0)
    assert not k.in_query
    # a real send from the workflow side still works (no stale select waiter left behind),
    # and the buffered value the query tried to take is still there
    k.spawn(queries["feed"])
    status, _ = k.run()
    assert status == "done"
    assert state.to_python(k.result[1], "result") == {"v": "real", "buf": "kept"}


def test_a_caught_read_only_error_changes_nothing_either():
    state, queries, status, _ = start(CHANNEL_APP)
    ok, value = query(state, queries, "pcall_send")
    assert ok and value[0] is False and READ_ONLY in value[1]
    status, out = state.kernel.run()
    assert (status, len(out)) == ("blocked", 0)


def test_queries_draw_from_their_own_generator():
    src = """
        local draws = {}
        local function main()
            draws[1] = math.random(1, 1000000)
            M_time.sleep("1s")
            draws[2] = math.random(1, 1000000)
            return draws
        end
        local q = {}
        q.r = function() return {math.random(1, 1000000), math.random()} end
        q.seed = function() math.randomseed(); return math.random(1, 1000000) end
        return main, q
    """

    def run(with_query: bool):
        state, queries, status, n = start(src)
        assert (status, n) == ("blocked", 1)
        answers = []
        if with_query:
            answers = [query(state, queries, "r"), query(state, queries, "r")]
            answers.append(query(state, queries, "seed"))
        k = state.kernel
        k.complete(1)
        status, _ = k.run()
        assert status == "done"
        return state.to_python(k.result[1], "result"), answers

    plain, _ = run(False)
    queried, answers = run(True)
    # the helper seeds every workflow state alike, so the two runs draw the same sequence
    assert queried == plain
    # each query starts its generator afresh: the same query gives the same numbers
    assert answers[0] == answers[1] and answers[0][0] is True
    assert answers[2][0] is True
