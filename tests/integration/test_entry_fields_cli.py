"""Unknown entry fields through the real command (issue 17 item 9): ``check`` lists them as
warnings with a did-you-mean (exit 0) and ``--strict`` makes each one an error (exit 2);
``run`` and ``execute`` print each once on stderr and go on; ``execute`` of a workflow that no
worker runs says so."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

MOONFLOW = [sys.executable, "-m", "moonflow"]

APP = """\
namespace: app
entries:
  - name: temporal_client
    kind: temporal.client
    address: "localhost:7233"
    search_atributes: {status: Keyword}
  - name: worker
    kind: temporal.worker
    client: temporal_client
    task_queue: fields
  - name: hello
    kind: workflow.lua
    source: file://hello.lua
    method: main
    meta: {temporal: {workflow: {worker: worker, nmae: hello_type}}}
  - name: orphan
    kind: workflow.lua
    source: file://hello.lua
    method: main
  - name: main
    kind: function.lua
    source: file://hello.lua
    method: exit_code
"""

LUA = textwrap.dedent(
    """\
    local function main(input) return {hello = input.name} end
    local function exit_code() return 7 end
    return { main = main, exit_code = exit_code }
    """
)

SA_WARNING = (
    "warning: app/_index.yaml:6: app:temporal_client: ignoring unknown field 'search_atributes' "
    "for a temporal.client entry: did you mean search_attributes? (its fields: address, "
    "namespace, tq_prefix, search_attributes, connection_timeout, keep_alive_time, "
    "keep_alive_timeout, tls, auth, health_check, lifecycle)"
)
NAME_WARNING = (
    "warning: app/_index.yaml:15: app:hello: ignoring unknown key 'nmae' in meta.temporal.workflow: "
    "did you mean name? (its keys: worker, name)"
)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "_index.yaml").write_text(APP)
    (tmp_path / "app" / "hello.lua").write_text(LUA)
    return tmp_path


def _moonflow(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MOONFLOW, *args], cwd=cwd, capture_output=True, text=True, timeout=180)


def test_check_warns_and_strict_refuses(app_dir: Path) -> None:
    done = _moonflow(app_dir, "check", "app")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert SA_WARNING in lines and NAME_WARNING in lines
    assert lines[-1] == "ok"
    strict = _moonflow(app_dir, "check", "app", "--strict")
    assert strict.returncode == 2
    assert strict.stdout == ""
    # the error names the file from where the command runs (app/_index.yaml), or as check's
    # warnings do, relative to the app folder; every warning is an error line (review item 3)
    errors = strict.stderr.splitlines()
    assert len(errors) == len([x for x in lines if x.startswith("warning: ")]), errors
    line = next(e for e in errors if "_index.yaml:6: " in e)
    assert re.fullmatch(r"moonflow: error: (app/)?_index\.yaml:6: (.*)", line), line
    assert line.endswith(
        SA_WARNING.partition("_index.yaml:6: ")[2].replace("ignoring unknown", "unknown")
    )


GLOBAL_APP = """\
namespace: g
entries:
  - name: temporal_client
    kind: temporal.client
    address: "localhost:7233"
  - name: worker
    kind: temporal.worker
    client: temporal_client
    task_queue: g
  - name: hello
    kind: workflow.lua
    source: file://flows/hello.lua
    method: main
    meta: {temporal: {workflow: {worker: worker}}}
"""

GLOBAL_LUA = """\
local function main(input)
  return {hello = inptu.name}
end
return { main = main }
"""


def test_check_paths_are_relative_to_where_it_ran_and_strict_refuses_every_warning(
    tmp_path: Path,
) -> None:
    """Warnings name files as reached from the working directory (issue 17 item 10), and
    ``--strict`` makes every warning an error, a mistyped global too (the same line, exit 2)."""
    (tmp_path / "g" / "flows").mkdir(parents=True)
    (tmp_path / "g" / "_index.yaml").write_text(GLOBAL_APP)
    (tmp_path / "g" / "flows" / "hello.lua").write_text(GLOBAL_LUA)
    done = _moonflow(tmp_path, "check", "g")
    assert done.returncode == 0, done.stderr
    (warning,) = [line for line in done.stdout.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: g/flows/hello.lua:2: g:hello: global 'inptu' "), warning
    assert "did you mean 'input'?" in warning, warning
    strict = _moonflow(tmp_path, "check", "g", "--strict")
    assert strict.returncode == 2, strict.stderr
    assert strict.stdout == ""
    assert strict.stderr.splitlines() == [f"moonflow: error: {warning.removeprefix('warning: ')}"]
    # from inside the app folder the path is the app-relative one
    inside = _moonflow(tmp_path / "g", "check", ".")
    assert any(
        line.startswith("warning: flows/hello.lua:2: ") for line in inside.stdout.splitlines()
    )
    assert "--strict" in _moonflow(tmp_path, "check", "--help").stdout
    help_text = " ".join(_moonflow(tmp_path, "check", "--help").stdout.split())
    assert "every warning of check is an error" in help_text


def test_execute_and_run_print_each_warning_once_and_go_on(app_dir: Path) -> None:
    done = _moonflow(
        app_dir,
        "execute",
        "app",
        "app:hello",
        "--input",
        '{"name": "ada"}',
        "--server",
        "time-skipping",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"hello": "ada"}
    err = done.stderr.splitlines()
    assert err.count(f"moonflow: {SA_WARNING}") == 1, done.stderr
    assert err.count(f"moonflow: {NAME_WARNING}") == 1, done.stderr

    run = _moonflow(app_dir, "run", "app", "--server", "time-skipping", "-x", "app:main")
    assert run.returncode == 7, run.stderr
    err = run.stderr.splitlines()
    assert err.count(f"moonflow: {SA_WARNING}") == 1, run.stderr
    assert err.count(f"moonflow: {NAME_WARNING}") == 1, run.stderr


def test_execute_of_a_workflow_no_worker_runs_says_so(app_dir: Path) -> None:
    for target in ("app:orphan", "orphan"):
        done = _moonflow(app_dir, "execute", "app", target, "--server", "time-skipping")
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        last = done.stderr.splitlines()[-1]
        assert re.fullmatch(r"moonflow: error: (app/)?_index\.yaml:16: app:orphan: .*", last)
        assert last.endswith(
            "app:orphan: no worker runs this workflow (it has no meta.temporal.workflow.worker): "
            "add meta: {temporal: {workflow: {worker: <id>}}} naming a temporal.worker entry "
            "(the app's workers: app:worker)"
        ), last


def test_a_key_written_one_level_too_high_gets_the_nested_field_suggested(tmp_path: Path) -> None:
    (tmp_path / "g" / "flows").mkdir(parents=True)
    index = GLOBAL_APP.replace(
        "    task_queue: g\n", "    task_queue: g\n    max_concurent_activities: 5\n"
    )
    (tmp_path / "g" / "_index.yaml").write_text(index)
    (tmp_path / "g" / "flows" / "hello.lua").write_text(GLOBAL_LUA.replace("inptu", "input"))
    done = _moonflow(tmp_path, "check", "g")
    assert done.returncode == 0, done.stderr
    (warning,) = [line for line in done.stdout.splitlines() if line.startswith("warning:")]
    assert warning.startswith(
        "warning: g/_index.yaml:10: g:worker: ignoring unknown field 'max_concurent_activities' "
        "for a temporal.worker entry: did you mean "
        "worker_options.max_concurrent_activity_execution_size or "
        "worker_options.max_concurrent_activity_task_pollers? (its fields: "
    ), warning


TEST_APP = """\
namespace: t
entries:
  - name: adds
    kind: function.lua
    source: file://adds.lua
    method: main
    modles: [time]
    meta: {type: test}
"""

TEST_LUA = """\
local function main()
  assert(1 + 1 == 2)
end
return { main = main }
"""


def test_moonflow_test_warns_about_unknown_fields(tmp_path: Path) -> None:
    # `moonflow test` loads the app as `run` does, so a misspelt field is said once, on stderr,
    # and the tests still run (before, `test` said nothing about it)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "_index.yaml").write_text(TEST_APP)
    (tmp_path / "t" / "adds.lua").write_text(TEST_LUA)
    done = _moonflow(tmp_path, "test", "t")
    assert done.returncode == 0, done.stdout + done.stderr
    warnings = [x for x in done.stderr.splitlines() if "unknown field" in x]
    assert len(warnings) == 1, done.stderr
    assert "t/_index.yaml:7: t:adds: ignoring unknown field 'modles'" in warnings[0]
    assert "did you mean modules?" in warnings[0]
    assert "passed" in done.stdout, done.stdout
