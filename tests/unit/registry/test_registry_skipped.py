"""Kinds of the reference runtime moonflow does not run are skipped, not fatal (issue #12, item 6)."""

from __future__ import annotations

import io

import pytest

from moonflow.cli import run

from .helpers import BASE_YAML, MAIN_LUA, line_of, more

REFERENCE_APP = BASE_YAML + more(
    """
    - name: api
      kind: http.service
      addr: ":8080"
    - name: router
      kind: http.router
      meta: {server: api}
    - name: secret
      kind: env.variable
      variable: API_KEY
      storage: os_env
      default: ${env:ONLY_THE_REFERENCE_RUNTIME_SETS_THIS}
    - name: os_env
      kind: env.storage.os
    - name: jobs
      kind: queue.queue
    - name: handler
      kind: function.lua
      source: file://code.lua
      method: main
      lifecycle:
        depends_on: [api, os_env]
    """
)


def test_an_app_with_kinds_moonflow_does_not_run_loads(load_ok) -> None:
    app = load_ok({"app.yaml": REFERENCE_APP, "code.lua": MAIN_LUA})
    assert set(app.skipped) == {"app:api", "app:router", "app:secret", "app:os_env", "app:jobs"}
    assert "app:api" not in app.entries and "app:handler" in app.entries
    # depends_on a skipped entry: nothing to wait for, the reference is dropped
    assert app.dependencies("app:handler") == ()


def test_the_notes_say_once_which_entries_are_skipped_and_why(load_ok) -> None:
    app = load_ok({"app.yaml": REFERENCE_APP, "code.lua": MAIN_LUA})
    notes = app.skipped_notes()
    assert notes[0] == (
        "note: skipped 2 entries (app:api http.service, app:router http.router): an HTTP server "
        "part; moonflow does not serve HTTP"
    )
    assert any(n.startswith("note: skipped 2 entries (app:secret env.variable") for n in notes)
    assert any("app:jobs queue.queue): a message queue" in n for n in notes)
    assert len(notes) == 3


def test_using_a_skipped_entry_fails_naming_it(load_ok) -> None:
    app = load_ok({"app.yaml": REFERENCE_APP, "code.lua": MAIN_LUA})
    with pytest.raises(Exception) as info:
        app.get("app:api")
    assert str(info.value) == (
        f"app.yaml:{line_of(REFERENCE_APP, 'name: api')}: app:api: app:api is a http.service "
        "entry, which moonflow skips (an HTTP server part; moonflow does not serve HTTP)"
    )
    assert app.why_skipped("app:handler") is None


def test_a_typo_in_a_kind_stays_a_load_error_with_a_did_you_mean(load_err) -> None:
    yaml = BASE_YAML + more("- name: api\n  kind: http.servce\n")
    err = load_err({"app.yaml": yaml})
    assert "unknown kind 'http.servce': did you mean http.service?" in str(err)
    assert err.line == line_of(yaml, "kind: http.servce")


def test_a_worker_reference_to_a_skipped_entry_is_an_error_naming_it(load_err) -> None:
    yaml = REFERENCE_APP + more(
        "- name: wf\n  kind: workflow.lua\n  source: file://code.lua\n  method: main\n"
        "  meta: {temporal: {workflow: {worker: api}}}\n"
    )
    err = load_err({"app.yaml": yaml, "code.lua": MAIN_LUA})
    assert "meta.temporal.workflow.worker refers to app:api, a http.service entry, which " in (
        str(err)
    )


def test_an_import_of_a_skipped_entry_fails_only_when_required(load_ok) -> None:
    yaml = REFERENCE_APP + more(
        """
        - name: page
          kind: template.jet
        - name: render
          kind: function.lua
          source: file://render.lua
          method: main
          imports: {tpl: page}
        """
    )
    render = (
        "local function main()\n"
        '  local ok, err = pcall(require, "tpl")\n'
        "  return tostring(err)\n"
        "end\n"
        "return { main = main }\n"
    )
    app = load_ok({"app.yaml": yaml, "code.lua": MAIN_LUA, "render.lua": render})
    [(file, line, message)] = app.spec("app:render").warnings
    assert (file, line) == ("app.yaml", line_of(yaml, "imports: {tpl: page}"))
    assert message.startswith("imports.tpl: app:page is a template.jet entry, which moonflow ")
    from moonflow.lua import LuaRun, MachineHost

    host = MachineHost()
    state = LuaRun("activity", host, app=app)
    host.state = state
    ok, res, tb = state.pcall(state.load_code(app.spec("app:render")))
    assert ok, tb
    assert 'require("tpl"): app:page is a template.jet entry, which moonflow skips' in res[0]


def test_an_app_of_only_skipped_kinds_says_what_moonflow_runs(load_err) -> None:
    err = load_err(
        {"app.yaml": "namespace: app\nentries:\n  - name: api\n    kind: http.service\n"}
    )
    assert "every entry under" in str(err) and "http.service" in str(err)
    assert "moonflow runs temporal.client, temporal.worker and Lua code entries" in str(err)


def test_moonflow_check_prints_the_skipped_entries(make_app) -> None:
    root = make_app({"app.yaml": REFERENCE_APP, "code.lua": MAIN_LUA})
    out, err = io.StringIO(), io.StringIO()
    assert run(["check", str(root)], out=out, err=err) == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert lines[0].endswith(", 5 skipped")
    assert sum(1 for line in lines if line.startswith("note: skipped")) == 3
    assert lines[-1] == "ok"


def test_a_skipped_entry_imported_directly_and_through_a_library_is_blamed_right(load_ok) -> None:
    yaml = REFERENCE_APP + more(
        """
        - name: lib
          kind: library.lua
          source: file://lib.lua
          imports: {gw: api}
        - name: render
          kind: function.lua
          source: file://code.lua
          method: main
          imports: {lib: lib, gw: api}
        """
    )
    app = load_ok({"app.yaml": yaml, "code.lua": MAIN_LUA, "lib.lua": "return {}\n"})
    [(_, _, message)] = app.spec("app:render").warnings
    assert message.startswith("imports.gw: app:api is a http.service entry")
    assert message.endswith('require("gw") fails')
