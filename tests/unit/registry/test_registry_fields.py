"""Declared fields and unknown keys (issue 17 item 9): a key no field of the entry's kind
declares is a warning with a did-you-mean (an error with ``strict``), never silent; ``meta`` is
free except its ``meta.temporal`` blocks; fields the reference runtime defines and moonflow
ignores pass."""

from __future__ import annotations

import pytest

from moonflow.errors import AppError
from moonflow.kinds import KINDS, WORKER_OPTIONS
from moonflow.kinds._fields import field_warnings
from moonflow.registry import load_app

from .helpers import BASE_YAML, MAIN_LUA, assert_error, line_of, more


def _warnings(make_app, files: dict[str, str]) -> list[str]:
    app = load_app(make_app(files))
    return [str(w) for w in field_warnings(app.entries.values())]


def test_a_typo_of_a_field_is_a_warning_with_did_you_mean(make_app) -> None:
    yaml = BASE_YAML.replace("task_queue: q", "task_queue: q\n    taskqueue: other")
    yaml = yaml.replace("address: localhost:7233", "address: x\n    search_atributes: {s: Keyword}")
    warnings = _warnings(make_app, {"app.yaml": yaml})
    assert warnings == [
        f"warning: app.yaml:{line_of(yaml, 'search_atributes')}: app:client: ignoring unknown "
        "field 'search_atributes' for a temporal.client entry: did you mean search_attributes? "
        "(its fields: address, namespace, tq_prefix, search_attributes, connection_timeout, "
        "keep_alive_time, keep_alive_timeout, tls, auth, health_check, lifecycle)",
        f"warning: app.yaml:{line_of(yaml, 'taskqueue')}: app:worker: ignoring unknown field "
        "'taskqueue' for a temporal.worker entry: did you mean task_queue? (its fields: client, "
        "task_queue, worker_options, lifecycle)",
    ]


def test_strict_makes_the_first_unknown_field_an_error(make_app) -> None:
    yaml = BASE_YAML.replace("task_queue: q", "task_queue: q\n    taskqueue: other")
    root = make_app({"app.yaml": yaml})
    load_app(root)  # not strict: loads
    with pytest.raises(AppError) as info:
        load_app(root, strict=True)
    assert_error(
        info.value,
        "app.yaml",
        line_of(yaml, "taskqueue"),
        "app:worker",
        "unknown field 'taskqueue' for a temporal.worker entry: did you mean task_queue?",
    )


def test_a_missing_required_field_names_its_typo(load_err) -> None:
    yaml = BASE_YAML.replace("task_queue: q", "taskqueue: q")
    err = load_err({"app.yaml": yaml})
    assert_error(
        err,
        "app.yaml",
        line_of(yaml, "taskqueue"),
        "app:worker",
        "missing required field 'task_queue' for a temporal.worker entry: did you mean "
        "task_queue where it says taskqueue?",
    )


def test_a_field_of_another_kind_says_whose_it_is(make_app) -> None:
    yaml = BASE_YAML + more(
        """
        - name: wf
          kind: workflow.lua
          source: file://wf.lua
          method: main
          task_queue: q
          meta: {temporal: {workflow: {worker: worker}}}
        """
    )
    warnings = _warnings(make_app, {"app.yaml": yaml, "wf.lua": MAIN_LUA})
    assert len(warnings) == 1
    assert (
        "app:wf: ignoring unknown field 'task_queue' for a workflow.lua entry: task_queue is a "
        "field of temporal.worker entries, not of workflow.lua ones (its fields: source, "
        "method, modules, imports, lifecycle)"
    ) in warnings[0]


def test_meta_is_free_but_meta_temporal_is_checked(make_app) -> None:
    yaml = BASE_YAML + more(
        """
        - name: wf
          kind: workflow.lua
          source: file://wf.lua
          method: main
          meta:
            title: anything
            mine: {deep: [1, 2]}
            command: {name: go, whatever: 1}
            temporal: {workflow: {worker: worker, nmae: custom}}
        - name: act
          kind: function.lua
          source: file://wf.lua
          method: main
          meta: {temporal: {activity: {worker: worker, lcoal: true}, extra: 1}}
        """
    )
    warnings = _warnings(make_app, {"app.yaml": yaml, "wf.lua": MAIN_LUA})
    assert warnings == [
        f"warning: app.yaml:{line_of(yaml, 'nmae')}: app:wf: ignoring unknown key 'nmae' in "
        "meta.temporal.workflow: did you mean name? (its keys: worker, name)",
        f"warning: app.yaml:{line_of(yaml, 'lcoal')}: app:act: ignoring unknown key 'lcoal' in "
        "meta.temporal.activity: did you mean local? (its keys: worker, local)",
        f"warning: app.yaml:{line_of(yaml, 'lcoal')}: app:act: ignoring unknown key 'extra' in "
        "meta.temporal: remove it (its keys: activity)",
    ]


def test_nested_blocks_are_checked_where_their_keys_are_declared(make_app) -> None:
    yaml = BASE_YAML.replace(
        "task_queue: q", "task_queue: q\n    lifecycle: {auto_strat: true, restart: {jiter: 1}}"
    )
    warnings = _warnings(make_app, {"app.yaml": yaml})
    line = line_of(yaml, "auto_strat")
    assert warnings == [
        f"warning: app.yaml:{line}: app:worker: ignoring unknown key 'auto_strat' in lifecycle: "
        "did you mean auto_start? (its keys: auto_start, start_timeout, stop_timeout, "
        "stable_threshold, depends_on, requires, restart, security)",
        f"warning: app.yaml:{line}: app:worker: ignoring unknown key 'jiter' in "
        "lifecycle.restart: did you mean jitter? (its keys: initial_delay, max_delay, "
        "backoff_factor, jitter, max_attempts)",
    ]


def test_fields_moonflow_ignores_and_free_mappings_pass(make_app) -> None:
    yaml = BASE_YAML.replace(
        "task_queue: q",
        "task_queue: q\n"
        "    lifecycle: {auto_start: true, depends_on: [client], security: {actor: {id: x}}}\n"
        "    worker_options: {disable_registration_aliasing: true, lua_max_memory: 1000000}",
    ) + more(
        """
        - name: f
          kind: function.lua
          source: file://f.lua
          method: main
          pool: {type: static, workers: 2}
          imports: {}
        - name: lib
          kind: library.lua
          source: file://f.lua
        """
    )
    files = {"app.yaml": yaml, "f.lua": MAIN_LUA}
    assert _warnings(make_app, files) == []
    load_app(make_app(files), strict=True)


def test_entries_of_skipped_kinds_are_not_checked(make_app) -> None:
    yaml = BASE_YAML + more(
        """
        - name: api
          kind: http.service
          addr: ":8080"
          anything: goes
        """
    )
    assert _warnings(make_app, {"app.yaml": yaml}) == []


def test_every_kind_declares_its_fields() -> None:
    for kind, spec in KINDS.items():
        assert spec.fields, f"{kind} declares no fields"
        paths = [f.path for f in spec.fields]
        assert len(paths) == len(set(paths)), f"{kind}: a field is declared twice"
        required = {f.path for f in spec.fields if f.required}
        assert set(spec.required) <= required, kind
        for f in spec.fields:
            assert f.doc and "\n" not in f.doc, (kind, f.path)
            parent = f.path.rpartition(".")[0]
            if parent and parent != "meta":
                assert parent in paths, f"{kind}: {f.path} is declared without {parent}"


def test_worker_options_are_declared_as_validated() -> None:
    declared = [
        f.path.removeprefix("worker_options.")
        for f in KINDS["temporal.worker"].fields or ()
        if f.path.startswith("worker_options.")
    ]
    assert declared == list(WORKER_OPTIONS)


def test_client_connection_blocks_declare_the_keys_the_connection_checks_accept() -> None:
    from moonflow.kinds._connection import ALL_AUTH_KEYS, HEALTH_CHECK_KEYS, TLS_KEYS

    paths = [f.path for f in KINDS["temporal.client"].fields or ()]
    for block, keys in (
        ("tls", TLS_KEYS),
        ("auth", ALL_AUTH_KEYS),
        ("health_check", HEALTH_CHECK_KEYS),
    ):
        declared = [p.removeprefix(f"{block}.") for p in paths if p.startswith(f"{block}.")]
        assert sorted(declared) == sorted(keys), block
