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
