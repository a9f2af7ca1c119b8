"""Structural errors: YAML syntax, file shape, entries, kinds, required fields."""

from __future__ import annotations

import pytest

from moonflow.errors import AppError
from moonflow.registry import load_app

from .helpers import BASE_YAML, assert_error, more


def test_invalid_yaml_names_file_and_line(load_err) -> None:
    err = load_err(
        {
            "ok.yaml": BASE_YAML,
            "sub/bad.yaml": """
                namespace: app
                entries:
                  - name: x
                    kind: temporal.client
                    address: [unclosed
                  - name: y
                """,
        }
    )
    assert_error(
        err,
        "sub/bad.yaml",
        6,
        None,
        "invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence started "
        "at line 5): fix the YAML syntax",
    )


def test_invalid_yaml_bad_indentation(load_err) -> None:
    err = load_err({"app.yaml": "namespace: app\nentries:\n  - name: a\n kind: b\n"})
    assert_error(err, "app.yaml", 4, None, "invalid YAML")


def test_invalid_yaml_in_an_unrelated_file_is_still_an_error(load_err) -> None:
    err = load_err({"app.yaml": BASE_YAML, "config/other.yml": "a: b: c\n"})
    assert_error(err, "config/other.yml", 1, None, "invalid YAML: mapping values are not allowed")


def test_multiple_documents_are_rejected(load_err) -> None:
    err = load_err({"app.yaml": BASE_YAML + "---\nnamespace: other\n"})
    assert_error(err, "app.yaml", 10, None, "invalid YAML")


def test_list_of_entries_without_namespace(load_err) -> None:
    err = load_err(
        {
            "app.yaml": """
                # the seed's Definition snippet, on its own
                - name: order_workflow
                  kind: workflow.lua
                """
        }
    )
    assert_error(err, "app.yaml", 2, None, "list of entries without a namespace", "namespace:")


def test_entries_without_namespace(load_err) -> None:
    err = load_err({"app.yaml": BASE_YAML.replace("namespace: app\n", "version: '1.0'\n")})
    assert_error(err, "app.yaml", 1, None, "without namespace", "namespace: <ns>")


def test_invalid_namespace(load_err) -> None:
    err = load_err({"app.yaml": "version: '1.0'\n" + BASE_YAML.replace("app", "my app", 1)})
    assert_error(err, "app.yaml", 2, None, "invalid namespace 'my app'")


def test_entries_must_be_a_list(load_err) -> None:
    err = load_err({"app.yaml": "namespace: app\nentries:\n  name: x\n  kind: y\n"})
    assert_error(err, "app.yaml", 2, None, "entries must be a list")


def test_entry_must_be_a_mapping(load_err) -> None:
    err = load_err({"app.yaml": BASE_YAML + "  - just a string\n"})
    assert_error(err, "app.yaml", 10, None, "an entry must be a mapping with name and kind")


def test_entry_without_name(load_err) -> None:
    err = load_err({"app.yaml": BASE_YAML + more("- kind: temporal.client\n  address: x\n")})
    assert_error(err, "app.yaml", 10, None, "entry without name", "add 'name: <name>'")


def test_entry_with_invalid_name(load_err) -> None:
    err = load_err({"app.yaml": BASE_YAML + more("- kind: temporal.client\n  name: 'a:b'\n")})
    assert_error(err, "app.yaml", 11, None, "invalid entry name 'a:b'")


def test_entry_without_kind(load_err) -> None:
    err = load_err({"app.yaml": BASE_YAML + more("- name: lonely\n  address: x\n")})
    assert_error(
        err, "app.yaml", 10, "app:lonely", "entry without kind", "temporal.client, temporal.worker"
    )


def test_single_entry_file_without_kind(load_err) -> None:
    err = load_err({"one.yaml": "namespace: app\n\nname: lonely\naddress: x\n"})
    assert_error(err, "one.yaml", 3, "app:lonely", "entry without kind")


def test_unknown_kind_lists_known_kinds(load_err) -> None:
    yaml = BASE_YAML + more("- name: thing\n  kind: workflow.lau\n")
    err = load_err({"app.yaml": yaml})
    assert_error(
        err,
        "app.yaml",
        11,
        "app:thing",
        "unknown kind 'workflow.lau'",
        "did you mean workflow.lua?",
        "known kinds are function.lua, function.py, library.lua, process.host, process.lua, "
        "process.service, temporal.client, temporal.worker, terminal.host, workflow.lua",
    )


def test_meta_must_be_a_mapping(load_err) -> None:
    err = load_err({"app.yaml": BASE_YAML + "    meta: [a]\n"})
    assert_error(err, "app.yaml", 10, "app:worker", "meta must be a mapping")


def test_duplicate_key_in_an_entry(load_err) -> None:
    err = load_err({"app.yaml": BASE_YAML + "    task_queue: again\n"})
    assert_error(
        err, "app.yaml", 10, "app:worker", "key 'task_queue' is written twice (first at line 9)"
    )


def test_duplicate_top_level_key(load_err) -> None:
    err = load_err({"app.yaml": "namespace: a\n" + BASE_YAML})
    assert_error(err, "app.yaml", 2, None, "key 'namespace' is written twice (first at line 1)")


@pytest.mark.parametrize(
    ("drop", "line", "entry_id", "field"),
    [
        ("    address: localhost:7233\n", 3, "app:client", "'address' for a temporal.client"),
        ("    client: client\n", 6, "app:worker", "'client' for a temporal.worker"),
        ("    task_queue: q\n", 6, "app:worker", "'task_queue' for a temporal.worker"),
    ],
)
def test_missing_required_temporal_fields(load_err, drop, line, entry_id, field) -> None:
    err = load_err({"app.yaml": BASE_YAML.replace(drop, "")})
    assert_error(err, "app.yaml", line, entry_id, f"missing required field {field}", "add ")


@pytest.mark.parametrize(
    ("kind", "drop", "field"),
    [
        ("workflow.lua", "source", "source"),
        ("workflow.lua", "method", "method"),
        ("function.lua", "source", "source"),
        ("function.lua", "method", "method"),
        ("process.lua", "method", "method"),
        ("library.lua", "source", "source"),
    ],
)
def test_missing_required_lua_fields(load_err, kind, drop, field) -> None:
    fields = {"source": "file://code.lua", "method": "main"}
    body = "".join(f"  {k}: {v}\n" for k, v in fields.items() if k != drop)
    yaml = BASE_YAML + more(f"- name: code\n  kind: {kind}\n{body}")
    err = load_err({"app.yaml": yaml, "code.lua": "return { main = function() end }\n"})
    assert_error(
        err, "app.yaml", 10, "app:code", f"missing required field '{field}' for a {kind} entry"
    )


def test_library_needs_no_method(load_ok) -> None:
    yaml = BASE_YAML + more("- name: lib\n  kind: library.lua\n  source: file://lib.lua\n")
    app = load_ok({"app.yaml": yaml, "lib.lua": "return {}\n"})
    assert app.spec("app:lib").method is None


def test_app_directory_must_exist(tmp_path) -> None:
    with pytest.raises(AppError, match="does not exist"):
        load_app(tmp_path / "nope")
    (tmp_path / "file.yaml").write_text(BASE_YAML)
    with pytest.raises(AppError, match="is not a directory"):
        load_app(tmp_path / "file.yaml")


def test_empty_directory_is_an_error(tmp_path) -> None:
    # A wrong directory must not pass `moonflow check` as an app with nothing in it.
    with pytest.raises(AppError, match="no moonflow entries found under") as exc:
        load_app(tmp_path)
    assert "\n" not in str(exc.value)
