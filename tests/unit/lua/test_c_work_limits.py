"""Work done in C or Python on behalf of Lua code is bounded too (issue 11, from a review that
attacked the budgets): C library loops that run no Lua instruction, gsub replacements, values
reached along many paths, caches fed by user strings, Python failures, and the random
generator of activity calls."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from moonflow.lua import ConversionError, RunStopped

from .helpers import new_state, run

# Each of these ran for seconds to hours within the 50M-instruction budget before.
BOMBS = [
    "local t = table.move({}, 1, 1 << 40, 1, {})",
    "local t = setmetatable({}, {__len = function() return 1 << 40 end})\ntable.insert(t, 1, 5)",
    "local t = setmetatable({}, {__len = function() return 1 << 40 end})\ntable.remove(t, 1)",
    "for i = 1, 1e9 do local s = string.rep('x', 4e6) end",
    "local r = string.gsub(string.rep('x', 3000), '', string.rep('%0', 2e6))",
    "local s = string.rep('a', 1e6) local t = {} for i = 1, 20000 do t[i] = s end\ntable.sort(t)",
    # a second review: counts as numeric strings, a number to repeat, one long string late
    "table.move({}, '1', '1099511627776', 1, {})",
    "for i = 1, 1e9 do local s = string.rep(1, 4e6) end",
    "for i = 1, 1e9 do local s = string.rep('x', '4000000') end",
    "local s = string.rep('a', 1e6) local t = {'a'} for i = 2, 20000 do t[i] = s end\ntable.sort(t)",
]


@pytest.mark.parametrize("src", BOMBS)
def test_c_loops_are_charged_to_the_budget(src):
    state = new_state("activity", instruction_budget=50_000_000)
    fn = state.sys.raw.load(src, "=c.lua", "t", state.new_env())
    # CPU time of this thread (the Lua code runs in it): a busy machine does not inflate it,
    # and a loop the budget does not charge would take minutes of it
    t = time.thread_time()
    with pytest.raises(RunStopped) as stopped:
        state.guarded_pcall(fn)
    elapsed = time.thread_time() - t
    print(f"\nstopped after {elapsed:.3f} s: {src!r}")
    assert stopped.value.reason == "budget"
    assert elapsed < 5


def test_an_empty_rep_costs_nothing():
    state = new_state("workflow")
    assert run(
        state,
        "return #string.rep('', 1 << 40), #(''):rep(1 << 40, ''), ('ab'):rep(3, ','), "
        "string.rep('x', 3.0)",
    ) == [0, 0, "ab,ab,ab", "xxx"]


@pytest.mark.parametrize("leaf", ["setmetatable({}, {})", "{}"])
def test_a_table_reached_along_many_paths_is_refused_quickly(leaf):
    state = new_state("activity")
    fn = state.sys.raw.load(
        f"local t = {leaf} for i = 1, 24 do t = {{t, t}} end return t", "=d", "t", state.new_env()
    )
    value = state.pcall(fn)[1][0]
    t = time.thread_time()  # CPU time: the walk of every path would take minutes of it
    with pytest.raises(ConversionError, match="more than 200000 tables"):
        state.to_python(value)
    assert time.thread_time() - t < 3


@pytest.mark.parametrize("context", ["workflow", "activity"])
def test_python_failures_in_time_parsing_are_invalid_errors(context):
    state = new_state(context)
    kinds = run(
        state,
        """
        local time = M("time")
        local out = {}
        for _, text in ipairs({string.rep("9", 5000) .. "s", string.rep("1", 400) .. ".5s"}) do
          local ok, e = pcall(time.parse_duration, text)
          out[#out + 1] = type(e) == "table" and e:kind() or type(e)
        end
        return out
        """,
    )
    assert state.to_python(kinds[0]) in (["Invalid", "Invalid"],)


def test_the_random_seed_of_one_activity_call_does_not_reach_the_next():
    first = new_state("activity")
    run(first, "math.randomseed(7)")
    first.close()
    draws = []
    for _ in range(3):
        call = new_state("activity")  # the same thread: the same Lua state
        draws.append(run(call, "return math.random(1, 1000000000)")[0])
        call.close()
    seeded = new_state("activity")
    [expected] = run(seeded, "math.randomseed(7) return math.random(1, 1000000000)")
    assert expected not in draws and len(set(draws)) == 3, draws


def test_long_patterns_and_durations_are_not_kept_by_the_state():
    probe = new_state("activity")
    before = probe.memory_used()
    for i in range(40):
        call = new_state("activity")
        run(
            call,
            f"local time = M('time') string.find('y', string.rep('x', 200000) .. '{i}') "
            f"pcall(time.parse_duration, string.rep('1s', 50000) .. '{i}s')",
        )
        call.close()
    probe.collect_garbage()
    grown = probe.memory_used() - before
    print(f"\nstate grew by {grown / 1e6:.1f} MB after 40 calls with 200 KB patterns")
    assert grown < 4_000_000, grown


def test_a_big_http_response_under_the_memory_cap_does_not_freeze_the_worker(tmp_path: Path):
    # The response table was built by lupa under the call's memory cap: the refused allocation
    # froze the whole process (a 70 MB body under 64 MiB). Run in a child, with a timeout.
    code = textwrap.dedent(
        """
        import sys, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        sys.path.insert(0, %r)
        from helpers import new_state, run

        BODY = b"x" * 20_000_000

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY)

            def log_message(self, *a):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        state = new_state("activity", max_memory=16_000_000)
        state.arm_memory()
        url = "http://127.0.0.1:%%d/" %% server.server_address[1]
        print("got", run(state, "local r, e = M('http_client').get(%%r) return r and #r.body" %% url))
        """
    ) % (str(Path(__file__).parent),)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("the worker froze on a big HTTP response") from None
    assert "got [20000000]" in proc.stdout, proc.stdout + proc.stderr


def test_a_length_that_changes_does_not_escape_the_budget():
    # C reads #t again after the wrapper charged it: tables with a metatable shift in Lua
    state = new_state("activity", instruction_budget=50_000_000)
    [r] = run(
        state,
        """
        local n = 0
        local t = setmetatable({}, {__len = function() n = n + 1 return n == 1 and 1 or 1 << 40 end})
        table.insert(t, 1, 5)
        local m = setmetatable({1, 2, 3}, {})
        table.insert(m, 2, 9)
        local v = table.remove(m, 1)
        return t[1] .. ":" .. table.concat(m, ",") .. ":" .. v
        """,
    )
    assert r == "5:9,2,3:1"


def test_ordinary_sorts_and_rep_errors_are_not_spurious_stops():
    state = new_state("workflow")
    assert run(
        state,
        """
        local t = {string.rep('z', 1e6)} for i = 2, 10000 do t[i] = tostring(i) end
        table.sort(t)
        local ok, e = pcall(function() local s = string.rep('x', 1 << 40) end)
        return #t, e
        """,
    ) == [10000, "resulting string too large"]


def test_json_decode_refuses_lone_surrogates_and_huge_documents():
    state = new_state("workflow")
    assert run(
        state,
        r"""
        local json = M("json")
        local v1, e1 = json.decode('"\\ud800"')
        local v2, e2 = json.decode('["\\ud800"]')
        local v3, e3 = json.decode('[' .. string.rep('[],', 300000) .. '[]]')
        return v1, e1:kind(), e2:message(), e3:message()
        """,
    ) == [
        None,
        "Invalid",
        "json.decode: value[1]: string is not valid UTF-8: it holds a lone UTF-16 surrogate "
        "(U+D800 at character 0; a JSON \\u escape without its pair decodes to one)",
        "json.decode: the document has more than 200000 objects and arrays",
    ]


def test_a_string_in_many_slots_is_not_copied_without_end():
    state = new_state("activity")
    fn = state.sys.raw.load(
        "local s = string.rep('x', 1e6) local t = {} for i = 1, 200 do t[i] = s end return t",
        "=x",
        "t",
        state.new_env(),
    )
    value = state.pcall(fn)[1][0]
    with pytest.raises(ConversionError, match="larger than 67108864 bytes"):
        state.convert.walk(value)


def test_a_costly_module_call_is_charged_and_named_by_the_users_line(tmp_path):
    # The budget stop names the user's line, not the Lua half of the module (moonflow/crypto).
    from moonflow.registry import load_app

    (tmp_path / "_index.yaml").write_text(
        "version: '1.0'\nnamespace: app\nentries:\n"
        "  - name: f\n    kind: function.lua\n    source: file://f.lua\n    method: main\n"
        "    modules: [crypto]\n"
    )
    (tmp_path / "f.lua").write_text(
        'local crypto = require("crypto")\n'
        "local function main()\n"
        '  local key = crypto.pbkdf2("pw", "salt", 2000000, 32)\n'
        "  return key\n"
        "end\n"
        "return { main = main }\n"
    )
    app = load_app(tmp_path)
    state = new_state("activity", app=app, instruction_budget=50_000_000)
    fn = state.load_code(app.spec("app:f"))
    with pytest.raises(RunStopped) as stopped:
        state.guarded_pcall(fn)
    assert stopped.value.reason == "budget"
    assert stopped.value.where == "f.lua:3"
