"""Query handlers that write the workflow's state (issue 17 item 1): the static check.

Queries are not in the history, so a handler that assigns to a workflow variable (an upvalue),
to a field of one or to a global changes the workflow without a trace and replay diverges.
``moonflow check --determinism`` and plain ``moonflow check`` flag such writes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from moonflow.determinism import WARNING, check_source, scan
from tests._apps import app_index

FIX = "queries are not in the history: compute from state, do not change it"


def _writes(src: str) -> list[tuple[int, str, bool, bool]]:
    return [(w.line, w.name, w.field, w.upvalue) for w in scan(textwrap.dedent(src)).query_writes]


def test_issue_example_is_flagged_with_line_and_fix():
    src = """\
    local n = 0
    workflow.on_query("mut", function() n = n + 1; return n end)
    process.listen("go"):receive()
    if n > 0 then time.sleep("1s") end
    return {n = n}
    """
    found = [f for f in check_source(textwrap.dedent(src)) if "query handler" in f.message]
    assert [(f.line, f.severity) for f in found] == [(2, WARNING)]
    assert found[0].message == (
        f"query handler 'mut' assigns to 'n', a variable of the workflow: {FIX}"
    )


def test_field_writes_and_globals_are_flagged():
    src = """\
    local state = {x = 0, items = {}}
    workflow.on_query("q", function()
        state.x = 1
        state["y"] = 2
        state.items[3] = true
        total = 7
        return state
    end)
    """
    assert _writes(src) == [
        (3, "state", True, True),
        (4, "state", True, True),
        (5, "state", True, True),
        (6, "total", False, False),
    ]
    messages = [f.message for f in check_source(textwrap.dedent(src)) if f.line == 6]
    assert f"query handler 'q' assigns to the global 'total': {FIX}" in messages


def test_table_library_writes_are_flagged():
    src = """\
    local items, seen = {}, {}
    workflow.on_query("q", function(x)
        table.insert(items, x)
        table.remove(seen.list)
        local mine = {}
        table.insert(mine, #items)   -- the handler's own table
        table.sort(mine)
        return table.concat(mine, ",")
    end)
    """
    assert _writes(src) == [(3, "items", True, True), (4, "seen", True, True)]


def test_handler_locals_and_reads_are_fine():
    src = """\
    local n, state = 0, {x = 1}
    workflow.on_query("read", function(arg)
        local copy = {}
        copy.x = state.x            -- a table the handler made
        local sum = 0
        for i = 1, n do sum = sum + i end
        arg = arg or 1               -- a parameter is the handler's own
        local function inner() sum = sum + 1 end  -- the handler's local, not the workflow's
        inner()
        return {copy = copy, sum = sum + n}
    end)
    n = n + 1                        -- the workflow itself may change its state
    state.x = 2
    local function helper() n = 5 end  -- not a query handler
    helper()
    """
    assert _writes(src) == []


def test_nested_function_in_handler_writing_workflow_state_is_flagged():
    src = """\
    local n = 0
    workflow.on_query("q", function()
        local function bump() n = n + 1 end
        bump()
        return n
    end)
    """
    assert _writes(src) == [(3, "n", False, True)]


def test_named_handlers_defined_in_the_file():
    src = """\
    local n, state = 0, {}
    local function by_local() n = 1 end
    local by_value = function() state.seen = true end
    local function harmless() return n end
    workflow.on_query("a", by_local)
    workflow.on_query("b", by_value)
    workflow.on_query("c", harmless)
    workflow.on_query("d", by_global)
    workflow.on_query("e", unknown_elsewhere)
    function by_global() n = 2 end
    """
    assert _writes(src) == [
        (2, "n", False, True),
        (3, "state", True, True),
        (10, "n", False, True),
    ]


def test_shadowing_local_in_handler_is_not_the_workflow_variable():
    src = """\
    local n = 0
    workflow.on_query("q", function()
        local n = 10
        n = n + 1
        return n
    end)
    """
    assert _writes(src) == []


def test_cli_check_warns_about_a_mutating_query(tmp_path: Path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "app.yaml").write_text(
        app_index(
            "q",
            """\
              - name: wf
                kind: workflow.lua
                source: file://wf.lua
                method: main
                modules: [time]
                meta:
                  temporal:
                    workflow:
                      worker: app:worker
            """,
        )
    )
    (app / "wf.lua").write_text(
        "local time = require('time')\n"
        "local workflow = require('workflow')\n"
        "local function main()\n"
        "    local n = 0\n"
        '    workflow.on_query("mut", function() n = n + 1; return n end)\n'
        '    process.listen("go"):receive()\n'
        '    if n > 0 then time.sleep("1s") end\n'
        "    return {n = n}\n"
        "end\n"
        "return {main = main}\n"
    )
    expected = (
        f"wf.lua:5: app:wf: warning: query handler 'mut' assigns to 'n', a variable of the "
        f"workflow: {FIX}"
    )
    det = subprocess.run(
        [sys.executable, "-m", "moonflow", "check", ".", "--determinism"],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert det.returncode == 0, det.stderr
    assert expected in det.stdout.splitlines(), det.stdout
    plain = subprocess.run(
        [sys.executable, "-m", "moonflow", "check", "."],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plain.returncode == 0, plain.stderr
    assert (
        f"warning: wf.lua:5: app:wf: query handler 'mut' assigns to 'n', a variable of the "
        f"workflow: {FIX}" in plain.stdout.splitlines()
    ), plain.stdout
    assert plain.stdout.splitlines()[-1] == "ok"
