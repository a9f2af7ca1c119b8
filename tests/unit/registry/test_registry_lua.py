"""Lua code entries: source files, syntax, exported method, modules, require, meta.temporal."""

from __future__ import annotations

import pytest

from moonflow.kinds._luacheck import check_chunk, scan_requires

from .helpers import BASE_YAML, MAIN_LUA, assert_error, line_of, more


def code_app(kind: str = "workflow.lua", extra: str = "", method: str = "main") -> str:
    """BASE_YAML plus one Lua entry ``app:code`` at line 10 (source at line 12)."""
    meta = {
        "workflow.lua": "  meta: {temporal: {workflow: {worker: worker}}}\n",
        "function.lua": "  meta: {temporal: {activity: {worker: worker}}}\n",
    }.get(kind, "")
    method_line = f"  method: {method}\n" if kind != "library.lua" else ""
    body = f"- name: code\n  kind: {kind}\n  source: file://code.lua\n{method_line}{extra}{meta}"
    return BASE_YAML + more(body)


# --- source files --------------------------------------------------------------------------------


def test_source_is_relative_to_the_yaml_directory(load_ok) -> None:
    app = load_ok(
        {
            "app.yaml": BASE_YAML,
            "flows/defs.yaml": """
                namespace: app.flows
                entries:
                  - name: wf
                    kind: workflow.lua
                    source: file://lua/wf.lua
                    method: main
                    meta: {temporal: {workflow: {worker: app:worker}}}
                """,
            "flows/lua/wf.lua": MAIN_LUA,
        }
    )
    wf = app.spec("app.flows:wf")
    assert wf.source == app.root / "flows" / "lua" / "wf.lua"
    assert wf.chunkname == "flows/lua/wf.lua"


def test_missing_source_file_shows_resolved_path(load_err, tmp_path) -> None:
    yaml = code_app()
    err = load_err({"sub/app.yaml": yaml})
    assert_error(
        err,
        "sub/app.yaml",
        12,
        "app:code",
        f"source file not found: {tmp_path.resolve() / 'sub' / 'code.lua'}",
        "relative to the directory of the YAML file",
    )


def test_source_with_unknown_scheme(load_err) -> None:
    yaml = code_app().replace("file://code.lua", "https://x/code.lua")
    err = load_err({"app.yaml": yaml})
    assert_error(err, "app.yaml", 12, "app:code", "unsupported scheme 'https'", "file://")


# --- syntax and top level ------------------------------------------------------------------------


def test_lua_syntax_error(load_err) -> None:
    lua = "local function main(x)\n    return x +\nend\nreturn { main = main }\n"
    err = load_err({"flows/app.yaml": code_app(), "flows/code.lua": lua})
    assert_error(
        err,
        "flows/code.lua",
        3,
        "app:code",
        "Lua syntax error: unexpected symbol near 'end'",
        "(entry at flows/app.yaml:10)",
    )


def test_lua_top_level_runtime_error(load_err) -> None:
    lua = "local cfg = nil\nlocal port = cfg.port\n" + MAIN_LUA
    err = load_err({"app.yaml": code_app(), "code.lua": lua})
    assert_error(
        err,
        "code.lua",
        2,
        "app:code",
        "Lua error while loading the file: attempt to index a nil value (local 'cfg')",
    )


def test_lua_top_level_error_call(load_err) -> None:
    err = load_err({"app.yaml": code_app(), "code.lua": 'error("boom")\n'})
    assert_error(err, "code.lua", 1, "app:code", "Lua error while loading the file: boom")
    err = load_err({"app.yaml": code_app(), "code.lua": "error({})\n"})
    assert_error(
        err,
        "code.lua",
        None,
        "app:code",
        "Lua error while loading the file: the top level raised a table as its error",
    )


def test_runaway_top_level_is_stopped(load_err) -> None:
    err = load_err(
        {"app.yaml": code_app(), "code.lua": "local n = 0\nwhile true do n = n + 1 end\n"}
    )
    assert_error(err, "code.lua", 2, "app:code", "did not finish")


def test_memory_hungry_top_level_is_stopped(load_err) -> None:
    lua = 'local big = string.rep("x", 200 * 1024 * 1024)\n' + MAIN_LUA
    err = load_err({"app.yaml": code_app(), "code.lua": lua})
    assert_error(err, "code.lua", None, "app:code", "Lua error while loading the file:", "memory")


@pytest.mark.parametrize(
    "expr",
    [
        "io.open('x')",
        "os.execute('true')",
        "python.eval('1')",
        "load('return 1')",
        "dofile('x')",
        "loadfile('x')",
        "debug.getinfo(1)",
    ],
)
def test_top_level_runs_sandboxed(load_err, expr) -> None:
    err = load_err({"app.yaml": code_app(), "code.lua": f"local x = {expr}\n" + MAIN_LUA})
    assert_error(err, "code.lua", 1, "app:code", "attempt to")


def test_stubbed_modules_tolerate_top_level_use(load_ok) -> None:
    lua = (
        'local funcs = require("funcs")\n'
        'local time = require("time")\n'
        "local runner = funcs.new():with_options({activity = {task_queue = 'x'}})\n"
        "local delay = time.SECOND * 5\n"
        "local inbox = process.inbox()\n"
        "print('loading', os.time(), string.format('%d', 1))\n" + MAIN_LUA
    )
    app = load_ok({"app.yaml": code_app(extra="  modules: [funcs, time]\n"), "code.lua": lua})
    assert app.spec("app:code").exports == ("main",)


# --- exported method -----------------------------------------------------------------------------


def test_method_not_exported(load_err) -> None:
    lua = (
        "local function run() end\nlocal function other() end\n"
        "return { run = run, other = other, n = 1 }\n"
    )
    err = load_err({"app.yaml": code_app(), "code.lua": lua})
    assert_error(
        err,
        "app.yaml",
        13,
        "app:code",
        'method "main" is not exported by code.lua: the file must end with return { main = main } '
        "(it exports: other, run)",
    )


def test_method_not_exported_when_file_returns_nothing(load_err) -> None:
    err = load_err({"app.yaml": code_app(), "code.lua": "local function main() end\n"})
    assert_error(err, "app.yaml", 13, "app:code", "return { main = main } (it returns nil)")
    err = load_err({"app.yaml": code_app(), "code.lua": "return {}\n"})
    assert_error(err, "app.yaml", 13, "app:code", "(it exports: no functions)")


def test_single_function_and_reexport_from_library(load_ok) -> None:
    app = load_ok({"app.yaml": code_app(), "code.lua": "return function(input) return input end\n"})
    assert app.spec("app:code").exports == ()
    yaml = code_app(extra="  imports: {lib: app:lib}\n") + more(
        "- name: lib\n  kind: library.lua\n  source: file://lib.lua\n"
    )
    lua = 'local lib = require("lib")\nreturn { main = lib.main }\n'
    app = load_ok({"app.yaml": yaml, "code.lua": lua, "lib.lua": MAIN_LUA})
    assert app.spec("app:code").exports == ("main",)


def test_several_entries_share_one_file(load_ok) -> None:
    yaml = BASE_YAML + more(
        """
        - name: a
          kind: function.lua
          source: file://utils.lua
          method: generate_id
          modules: [uuid]
          meta: {temporal: {activity: {worker: worker, local: true}}}
        - name: b
          kind: function.lua
          source: file://utils.lua
          method: other
          modules: [uuid]
        """
    )
    lua = (
        'local uuid = require("uuid")\nlocal function generate_id()\n    return uuid.v4()\nend\n'
        "return { generate_id = generate_id, other = generate_id }\n"
    )
    app = load_ok({"app.yaml": yaml, "utils.lua": lua})
    assert app.spec("app:a").activity_local is True
    assert app.spec("app:b").activity_worker is None
    assert app.activities() == [app.spec("app:a")]


# --- modules and require -------------------------------------------------------------------------


def test_unknown_module(load_err) -> None:
    yaml = code_app(extra="  modules:\n    - funcs\n    - jsonn\n")
    err = load_err({"app.yaml": yaml, "code.lua": MAIN_LUA})
    assert_error(
        err, "app.yaml", line_of(yaml, "- jsonn"), "app:code", "unknown module 'jsonn'", "json"
    )


def test_module_not_allowed_in_workflow(load_err) -> None:
    yaml = code_app(extra="  modules: [funcs, http_client]\n")
    err = load_err({"app.yaml": yaml, "code.lua": MAIN_LUA})
    assert_error(
        err,
        "app.yaml",
        line_of(yaml, "modules:"),
        "app:code",
        "module 'http_client' is not supported in workflow context",
        "move the code",
    )


def test_workflow_module_not_allowed_in_activity(load_err) -> None:
    yaml = code_app("function.lua", extra="  modules: [workflow]\n")
    err = load_err({"app.yaml": yaml, "code.lua": MAIN_LUA})
    assert_error(err, "app.yaml", 14, "app:code", "'workflow' is only available in workflow code")


def test_modules_must_be_a_list(load_err) -> None:
    err = load_err({"app.yaml": code_app(extra="  modules: funcs\n"), "code.lua": MAIN_LUA})
    assert_error(err, "app.yaml", 14, "app:code", "modules must be a list")


def test_require_not_in_modules_loads_with_a_warning(load_ok) -> None:
    """The brief's example: not a load error any more (the file may be shared by entries with
    different modules: lists, issue #12); a warning `moonflow check` prints."""
    yaml = BASE_YAML + more(
        """
        - name: validate_order
          kind: function.lua
          source: file://order.lua
          method: validate
          modules:
            - errors
        """
    )
    lua = (
        'local errors = require("errors")\n'
        "-- the next line needs json listed\n"
        'local json = require("json")\n'
        "return { validate = function() end }\n"
    )
    app = load_ok({"app.yaml": yaml, "order.lua": lua})
    assert app.spec("app:validate_order").warnings == (
        (
            "order.lua",
            3,
            'require("json") but "json" is not in the modules list of app:validate_order: '
            "add it under modules: if this entry runs that code (it fails if it runs)",
        ),
    )


def test_require_of_module_not_allowed_in_workflow_is_a_warning(load_ok) -> None:
    lua = "local function main()\n  local h = require 'http_client'\nend\nreturn { main = main }\n"
    app = load_ok({"app.yaml": code_app(), "code.lua": lua})
    [(file, line, message)] = app.spec("app:code").warnings
    assert (file, line) == ("code.lua", 2)
    assert "require(\"http_client\") but module 'http_client' is not supported in workflow " in (
        message
    )


def test_require_of_unknown_name_is_a_warning(load_ok) -> None:
    lua = 'local x = require "mystery"\n' + MAIN_LUA
    app = load_ok({"app.yaml": code_app(), "code.lua": lua})
    [(file, line, message)] = app.spec("app:code").warnings
    assert (file, line) == ("code.lua", 1)
    assert 'require("mystery") but "mystery" is neither a module nor' in message
    assert "imports: {mystery: ns:entry}" in message


def test_file_shared_by_entries_with_different_modules_loads(load_ok) -> None:
    """A require inside a function the entry never calls does not stop the app (issue #12)."""
    yaml = BASE_YAML + more(
        """
        - name: fetch
          kind: function.lua
          source: file://shared.lua
          method: fetch
          modules: [http_client]
        - name: pure
          kind: function.lua
          source: file://shared.lua
          method: pure
        """
    )
    lua = (
        "local function fetch(url)\n"
        "  local http = require('http_client')\n"
        "  return http.get(url)\n"
        "end\n"
        "local function pure(x) return x * 2 end\n"
        "return { fetch = fetch, pure = pure }\n"
    )
    app = load_ok({"app.yaml": yaml, "shared.lua": lua})
    assert app.spec("app:fetch").warnings == ()
    [(_, line, message)] = app.spec("app:pure").warnings
    assert line == 2 and "not in the modules list of app:pure" in message


def test_allowed_requires(load_ok) -> None:
    yaml = code_app(extra="  modules: [time, process]\n  imports: {fmt: lib}\n") + more(
        "- name: lib\n  kind: library.lua\n  source: file://lib.lua\n  modules: [json]\n"
    )
    lua = (
        'local time = require("time")\n'
        'local errors = require("errors")\n'  # always available
        'local channel = require("channel")\n'
        'local str = require("string")\n'  # std lib
        'local fmt = require("fmt")\n'  # imports alias
        '-- local json = require("json")  (a comment)\n'
        '--[[ require("uuid") ]]\n'
        "local s = \"require('ctx')\"\n"
        "local t = obj and obj.require and obj.require('logger')\n" + MAIN_LUA
    )
    lib = 'local json = require("json")\nreturn { f = function() end }\n'
    app = load_ok({"app.yaml": yaml, "code.lua": lua, "lib.lua": lib})
    assert app.spec("app:code").imports == {"fmt": "app:lib"}
    assert app.spec("app:lib").modules == ("json",)
    assert app.spec("app:lib").context == "activity"


def test_workflow_importing_library_with_activity_only_module_warns(load_ok) -> None:
    yaml = code_app(extra="  imports:\n    fmt: lib\n") + more(
        "- name: lib\n  kind: library.lua\n  source: file://lib.lua\n  imports: {inner: inner}\n"
        "- name: inner\n  kind: library.lua\n  source: file://lib.lua\n  modules: [http_client]\n"
    )
    app = load_ok({"app.yaml": yaml, "code.lua": MAIN_LUA, "lib.lua": "return {}\n"})
    [(file, line, message)] = app.spec("app:code").warnings
    assert (file, line) == ("app.yaml", line_of(yaml, "fmt: lib"))
    assert "imports.fmt: library app:inner lists a module this entry cannot use" in message
    assert "'http_client' is not supported in workflow context" in message


def test_reference_runtime_module_moonflow_lacks_loads_with_a_warning(load_ok) -> None:
    yaml = code_app(extra="  modules: [funcs, compress]\n")
    app = load_ok({"app.yaml": yaml, "code.lua": MAIN_LUA})
    [(file, line, message)] = app.spec("app:code").warnings
    assert (file, line) == ("app.yaml", line_of(yaml, "modules:"))
    assert "module 'compress' is part of the reference runtime but moonflow does not" in message


def test_reference_runtime_module_not_for_workflows_stays_an_error(load_err) -> None:
    yaml = code_app(extra="  modules: [sql]\n")
    err = load_err({"app.yaml": yaml, "code.lua": MAIN_LUA})
    assert_error(err, "app.yaml", line_of(yaml, "modules:"), "app:code", "'sql' is not supported")


def test_unknown_module_suggests_a_close_name(load_err) -> None:
    yaml = code_app(extra="  modules: [cryto]\n")
    err = load_err({"app.yaml": yaml, "code.lua": MAIN_LUA})
    assert_error(err, "app.yaml", line_of(yaml, "modules:"), "app:code", "did you mean 'crypto'?")


def test_library_modules_must_exist(load_err) -> None:
    yaml = code_app("library.lua", extra="  modules: [workflow, nope]\n")
    err = load_err({"app.yaml": yaml, "code.lua": "return {}\n"})
    assert_error(err, "app.yaml", 13, "app:code", "unknown module 'nope'")


def test_library_require_not_listed_is_a_warning(load_ok) -> None:
    yaml = code_app("library.lua", extra="  modules: [json]\n")
    app = load_ok({"app.yaml": yaml, "code.lua": 'local t = require("time")\nreturn {}\n'})
    [(file, line, message)] = app.spec("app:code").warnings
    assert (file, line) == ("code.lua", 1)
    assert '"time" is not in the modules list of app:code' in message


# --- meta.temporal -------------------------------------------------------------------------------


def test_activity_local_must_be_bool(load_err) -> None:
    yaml = BASE_YAML + more(
        """
        - name: fn
          kind: function.lua
          source: file://code.lua
          method: main
          meta:
            temporal:
              activity:
                worker: worker
                local: "yes"
        """
    )
    err = load_err({"app.yaml": yaml, "code.lua": MAIN_LUA})
    assert_error(
        err,
        "app.yaml",
        line_of(yaml, 'local: "yes"'),
        "app:fn",
        "meta.temporal.activity.local must be true or false, not 'yes'",
    )


def test_workflow_meta_on_function_and_activity_meta_on_workflow(load_err) -> None:
    yaml = code_app("function.lua").replace("activity:", "workflow:")
    err = load_err({"app.yaml": yaml, "code.lua": MAIN_LUA})
    assert_error(err, "app.yaml", 14, "app:code", "meta.temporal.workflow is only for workflow.lua")
    yaml = code_app("workflow.lua").replace("workflow:", "activity:")
    err = load_err({"app.yaml": yaml, "code.lua": MAIN_LUA})
    assert_error(err, "app.yaml", 14, "app:code", "meta.temporal.activity is only for function.lua")


def test_workflow_meta_without_worker(load_err) -> None:
    yaml = code_app().replace("{worker: worker}", "{name: Flow}")
    err = load_err({"app.yaml": yaml, "code.lua": MAIN_LUA})
    assert_error(
        err, "app.yaml", 14, "app:code", "meta.temporal.workflow.worker must be a non-empty string"
    )


def test_duplicate_workflow_type(load_err) -> None:
    yaml = code_app().replace("{worker: worker}", "{worker: worker, name: app:other}") + more(
        """
        - name: other
          kind: workflow.lua
          source: file://code.lua
          method: main
          meta: {temporal: {workflow: {worker: worker}}}
        """
    )
    err = load_err({"app.yaml": yaml, "code.lua": MAIN_LUA})
    assert_error(
        err,
        "app.yaml",
        line_of(yaml, "meta: {temporal", nth=2),
        "app:other",
        "workflow type 'app:other' is already used by app:code (app.yaml:10)",
    )


# --- the checker itself --------------------------------------------------------------------------


def test_scan_requires_forms() -> None:
    src = (
        'local a = require("a")\n'
        "local b = require 'b'\n"
        'local c = require "c"\n'
        "local d = require ( 'd' )\n"
        "local e = require [[e]]\n"
        "local f = require(name)\n"  # not a literal: ignored
        '--[==[ require("g")\n]==] local h = require("h")\n'
        'local s = [[ require("i") ]] local j = x:require("j")\n'
        'local k = "\\"" .. require("k")\n'
    )
    assert scan_requires(src) == [
        ("a", 1),
        ("b", 2),
        ("c", 3),
        ("d", 4),
        ("e", 5),
        ("h", 8),
        ("k", 10),
    ]


def test_check_chunk_reports_exports() -> None:
    info = check_chunk("return { b = function() end, a = print, n = 1, [1] = print }", "x.lua")
    assert info.returns == "table" and info.exports == ("a", "b")
    assert info.exports_method("a") and not info.exports_method("n")
    assert check_chunk("return 5", "x.lua").value_type == "number"
