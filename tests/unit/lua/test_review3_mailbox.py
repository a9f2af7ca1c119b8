"""The process module's mailbox (modules/process.lua), third review of the process layer
(issue 14). 6b3f9b8 gives each channel a cursor (``take_for``: ``scanned[ch]``), reset when
the routing changes or the mailbox is renumbered. A model-based check drives a workflow run's
mailbox at random (messages of several topics and an "@"-topic, listen / unlisten / inbox,
try_receive, select with a default, receivers parked for the idle pump, enough traffic for
``compact``) and compares every message taken with a plain FIFO model (passing check; it
fails when unlisten no longer resets the cursors). And a finding: a query handler can change
the workflow's routing (process.listen / process.inbox / process.unlisten are not read-only).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from .helpers import load_main, new_state
from .test_query_readonly import query, start

DRIVER = r"""
local process = M("process")
local chans = {}     -- "inbox" or a topic -> its channel
local got = {}
local ops = {}
function ops.listen(t) chans[t] = process.listen(t) end
function ops.unlisten(t) process.unlisten(chans[t]); chans[t] = nil end
function ops.inbox() chans.inbox = process.inbox() end
local function shown(v)
  if type(v) == "table" then return v:topic() .. ":" .. tostring(v:payload():data()) end
  return v
end
function ops.take(name) return shown(chans[name]:try_receive()) end
function ops.select(names)
  local cases = { default = true }
  for i = 1, #names do cases[i] = chans[names[i]]:case_receive() end
  local r = M("channel").select(cases)
  if r.default then return nil end
  for i = 1, #names do
    if chans[names[i]] == r.channel then return names[i] .. "=" .. tostring(shown(r.value)) end
  end
end
function ops.park(name, id)
  local ch = chans[name]
  coroutine.spawn(function()
    local v = shown(ch:receive())  -- (before `got` is read: ops.got replaces it meanwhile)
    got[#got + 1] = id .. "=" .. tostring(v)
  end)
end
function ops.got() local g = got; got = {}; return table.concat(g, ",") end
return function() M("channel").new(0):receive() end, ops
"""

TOPICS = ["a", "b", "c", "d", "@z"]


class Model:
    """What the mailbox must do: messages in arrival order, each taken by the first receive
    on the channel its topic routes to (its listen channel, else the inbox unless "@")."""

    def __init__(self) -> None:
        self.pending: list[tuple[int, str]] = []
        self.listeners: dict[str, int] = {}
        self.inbox: int | None = None
        self.parked: dict[int, list[str]] = {}
        self._ids = 0

    def new_channel(self) -> int:
        self._ids += 1
        return self._ids

    def route(self, topic: str) -> int | None:
        if topic in self.listeners:
            return self.listeners[topic]
        return self.inbox if not topic.startswith("@") else None

    def shown(self, topic: str, seq: int) -> Any:
        return seq if topic in self.listeners else f"{topic}:{seq}"

    def take(self, cid: int) -> Any:
        for m in self.pending:
            if self.route(m[1]) == cid:
                self.pending.remove(m)
                return self.shown(m[1], m[0])
        return None

    def pump(self) -> list[str]:
        out = []
        for seq, topic in list(self.pending):
            cid = self.route(topic)
            if cid is not None and self.parked.get(cid):
                out.append(f"{self.parked[cid].pop(0)}={self.shown(topic, seq)}")
                self.pending.remove((seq, topic))
        return out


def _drive(seed: int, steps: int) -> None:
    rnd = random.Random(seed)
    state = new_state("workflow", instruction_budget=0)
    main, ops = load_main(state, DRIVER, with_time=False)[:2]
    k = state.kernel
    k.start(main, state.pack([]))
    k.run()
    model = Model()
    names: dict[str, int] = {}  # "inbox" / topic -> model channel
    seq = 0
    send_share = rnd.choice([0.35, 0.5, 0.6])
    log: list[str] = []

    def check_pump(what: str) -> None:
        k.run()
        expected = sorted(model.pump())
        seen = ops.got()
        log.append(f"{what} -> {seen}")
        assert sorted(seen.split(",") if seen else []) == expected, (seed, log[-40:])

    for step in range(steps):
        r = rnd.random()
        if r < send_share:
            seq += 1
            topic = rnd.choice(TOPICS)
            k.deliver(topic, state.pack([seq]), "{sender|1}")
            model.pending.append((seq, topic))
            log.append(f"deliver {topic} {seq}")
            if rnd.random() < 0.3:
                check_pump("run")
        elif r < 0.65:
            topic = rnd.choice(TOPICS[:4])
            if topic in model.listeners and rnd.random() < 0.5:
                ops.unlisten(topic)
                del model.listeners[topic], names[topic]
                log.append(f"unlisten {topic}")
            elif topic not in model.listeners:
                ops.listen(topic)
                model.listeners[topic] = names[topic] = model.new_channel()
                log.append(f"listen {topic}")
        elif r < 0.68:
            if model.inbox is None:
                ops.inbox()
                model.inbox = names["inbox"] = model.new_channel()
                log.append("inbox")
        elif r < 0.85 and names:
            name = rnd.choice(sorted(names))
            if model.parked.get(names[name]):
                continue  # the pump's to hand out
            expected = model.take(names[name])
            taken = ops.take(name)
            log.append(f"try_receive {name} -> {taken}")
            assert taken == expected, (seed, log[-40:])
        elif r < 0.93 and names:
            chosen = rnd.sample(sorted(names), k=min(len(names), rnd.randint(1, 3)))
            if any(model.parked.get(names[n]) for n in chosen):
                continue
            expected = None
            for n in chosen:
                v = model.take(names[n])
                if v is not None:
                    expected = f"{n}={v}"
                    break
            lua_names = state.sys.raw.load("return {" + ",".join(repr(n) for n in chosen) + "}")()
            taken = ops.select(lua_names)
            log.append(f"select {chosen} -> {taken}")
            assert taken == expected, (seed, log[-40:])
        elif names:
            name = rnd.choice(sorted(names))
            rid = f"r{step}"
            ops.park(name, rid)
            model.parked.setdefault(names[name], []).append(rid)
            check_pump(f"park {name} {rid}")


@pytest.mark.parametrize("seed", range(40))
def test_every_receive_takes_the_oldest_message_of_its_channel(seed: int) -> None:
    # checked, fine: take_for's per-channel cursor never skips, reorders or misroutes a
    # message against the model, with listen/unlisten/inbox while messages wait, selects,
    # the idle pump's own walk (mb_seen) in between and compaction after many holes
    _drive(seed, 2000)


QUERY_APP = """
    local process = M("process")
    local function main()
        local msg = process.inbox():receive()
        return msg:topic()
    end
    local q = {}
    q.listen = function() process.listen("x"); return true end
    q.events = function() process.events(); return true end
    return main, q
"""


def test_a_query_does_not_change_where_messages_go() -> None:
    # Finding: process.listen (like process.inbox and process.unlisten) has no read-only
    # check (modules/process.lua M.listen; kernel.lua K.call_query keeps a query from channel
    # operations and commands, not from these), so a query handler that calls
    # process.listen("x") makes a listen channel for "x" in the workflow: the workflow's
    # own inbox then never gets "x", and it stays blocked where, without the query (a
    # replay, another worker), it returns "x". The query must fail as read-only or change
    # nothing.
    state, queries, status, _ = start(QUERY_APP)
    assert status == "blocked"
    query(state, queries, "listen")
    state.kernel.deliver("x", state.pack([1]), "{client|1}")
    status, _ = state.kernel.run()
    assert status == "done", "the workflow's inbox did not get 'x' after a query listened to it"
    assert state.to_python(state.kernel.result[1], "result") == "x"


def test_a_query_does_not_change_how_a_cancellation_arrives() -> None:
    # Finding (same place): process.events() from a query handler makes the workflow's events
    # channel, and from then on the driver turns a cancellation request into a CANCEL event
    # (kernel.watching_events(), modules/process.lua) where the workflow, which never reads
    # its events, would have been cancelled; a replay without the query cancels it.
    state, queries, status, _ = start(QUERY_APP)
    assert status == "blocked"
    assert not state.kernel.watching_events()
    query(state, queries, "events")
    assert not state.kernel.watching_events(), "a query made the workflow watch its events"
