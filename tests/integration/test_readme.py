"""The README's examples run as written (conventions: the README is the user guide, and its
examples are run by the tests so it cannot go stale)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)
PATH_COMMENT = re.compile(r"^(?:#|--) (app/[\w./]+|run_hello\.py)\n")


def _files_from_readme() -> dict[str, str]:
    files = {}
    for _lang, body in FENCE.findall((REPO / "README.md").read_text()):
        m = PATH_COMMENT.match(body)
        if m:
            files[m.group(1)] = body
    return files


def test_readme_first_app_and_python_api(tmp_path: Path) -> None:
    files = _files_from_readme()
    assert set(files) == {"app/_index.yaml", "app/hello.lua", "app/greet.lua", "run_hello.py"}
    for name, body in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    moonflow = [sys.executable, "-m", "moonflow"]
    check = subprocess.run(
        [*moonflow, "check", "app"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stderr
    run = subprocess.run(
        [
            *moonflow,
            "execute",
            "app",
            "app:hello",
            "--input",
            '{"name": "ada"}',
            "--server",
            "time-skipping",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"message": "hello ada"}
    api = subprocess.run(
        [sys.executable, "run_hello.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert api.returncode == 0, api.stderr
    pid, _, result = api.stdout.strip().partition(" ")
    assert pid.startswith("{app:temporal_client@app:worker|hello-")
    assert result == "{'message': 'hello ada'}"
