"""The per-activation memory cap (``LuaVM.arm_memory``) is relative to what the shared state
holds; garbage of earlier runs counts in that, and the collector may free it while the next
code runs. A review of a flaky CI run found a runaway loop under a 64 MiB cap reaching its
instruction budget first, in a state a huge payload had passed through: the cap must hold
within 1.5 times its allowance whatever garbage the state carries."""

from __future__ import annotations

from .helpers import new_state

MB = 1 << 20

FILL = "local t = {} for i = 1, 300000 do t[i] = ('x'):rep(64) .. i end return #t"
HOG = """
local count = M("count")
local t = {}
for i = 1, 1e7 do
  t[i] = ('x'):rep(64) .. i
  count.n = i
end
"""


def test_garbage_of_earlier_runs_does_not_widen_the_cap():
    state = new_state("activity", max_memory=8 * MB)
    count = state.rt.table_from({"n": 0})
    for _ in range(2):
        env = state.new_env()
        fn = state.sys.raw.load(FILL, "=fill", "t", env)
        assert state.pcall(fn)[0]
    # two runs of ~30 MB each, both garbage now (nothing holds their tables)
    env = state.new_env()
    env["M"] = lambda name: count
    fn = state.sys.raw.load(HOG, "=hog", "t", env)
    state.arm_memory()
    try:
        ok, err, _ = state.pcall(fn)
    finally:
        state.rt.set_max_memory(0)  # the state is the thread's: the next tests run uncapped
    assert not ok and "not enough memory" in state.error_text(err)
    # one element is about 100 bytes: 8 MiB hold ~85,000 of them, 12 MiB ~125,000; the garbage
    # (~60 MB) would have let it reach ~600,000
    assert count["n"] < 130_000, count["n"]


def test_a_state_holding_much_live_is_not_collected_every_half_allowance():
    # A review of a process node with 16,000 waiting processes: each time the state grew by
    # half an allowance (36 MiB) a full collection walked all of it (250 MB), and a node's work
    # grew with the square of its processes. With more live than that, a full collection waits
    # until the state has doubled, as Lua's own collector paces itself.
    state = new_state("activity", max_memory=8 * MB)
    vm = state.vm
    full = []
    collect = vm.collectgarbage

    def counting(*args):
        if args and args[0] == "collect":
            full.append(vm.memory_used())
        return collect(*args)

    vm.collectgarbage = counting
    env = state.new_env()  # holds `kept` (~30 MB live) while the test runs
    hold = "kept = {} for i = 1, 300000 do kept[i] = ('x'):rep(64) .. i end"
    assert state.pcall(state.sys.raw.load(hold, "=hold", "t", env))[0]
    some = "local t = {} for i = 1, 50000 do t[i] = ('x'):rep(64) .. i end"
    garbage = state.sys.raw.load(some, "=some", "t", env)
    try:
        vm.arm_memory(8 * MB)  # the first collection: nothing measured yet
        for _ in range(4):
            vm.disarm_memory()  # (as the process node does between its pumps)
            assert state.pcall(garbage)[0]  # ~9 MB of garbage each time
            vm.arm_memory(8 * MB)
    finally:
        state.rt.set_max_memory(0)
    assert len(full) <= 2, f"{len(full)} full collections at {full}"
