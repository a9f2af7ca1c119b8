"""Unknown entry fields through the real command (issue 17 item 9): ``check`` lists them as
warnings with a did-you-mean (exit 0) and ``--strict`` makes the first one an error (exit 2);
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
    "warning: _index.yaml:6: app:temporal_client: ignoring unknown field 'search_atributes' "
    "for a temporal.client entry: did you mean search_attributes? (its fields: address, "
    "namespace, tq_prefix, search_attributes, connection_timeout, keep_alive_time, "
    "keep_alive_timeout, tls, auth, health_check, lifecycle)"
)
NAME_WARNING = (
    "warning: _index.yaml:15: app:hello: ignoring unknown key 'nmae' in meta.temporal.workflow: "
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
    # warnings do, relative to the app folder
    (line,) = strict.stderr.splitlines()
    assert re.fullmatch(r"moonflow: error: (app/)?_index\.yaml:6: (.*)", line), line
    assert line.endswith(
        SA_WARNING.partition("_index.yaml:6: ")[2].replace("ignoring unknown", "unknown")
    )


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
