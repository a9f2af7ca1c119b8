"""docs/entries.md, the entry reference, stays true (issue 17 items 2 and 9).

* Its field tables are the kinds' declared fields (``KindSpec.fields``), every kind has one,
  and they match what the code declares. Refresh them after changing a declaration with
  ``.venv/bin/python tests/integration/test_docs_entries.py``.
* Its examples run as written: the files it shows (``# app/...``, ``-- app/...``) make apps
  that pass ``moonflow check --strict``, its ``sh`` commands print what it shows, and the typo
  example prints the warning it shows.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from moonflow.kinds import KINDS
from moonflow.kinds._fields import doc_blocks, fields_table, update_doc

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "entries.md"
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)
PATH_COMMENT = re.compile(r"^(?:#|--) ((?:app|cloud|typo)/[\w./]+)\n")
MOONFLOW = [sys.executable, "-m", "moonflow"]


def _moonflow(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run(
        [*MOONFLOW, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def _write_examples(root: Path) -> list[str]:
    written = []
    for _lang, body in FENCE.findall(DOC.read_text()):
        m = PATH_COMMENT.match(body)
        if m:
            path = root / m.group(1)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
            written.append(m.group(1))
    return written


def test_every_kind_has_its_declared_fields_in_the_reference() -> None:
    text = DOC.read_text()
    blocks = doc_blocks(text)
    for kind, spec in KINDS.items():
        assert spec.fields, f"kind {kind} declares no fields (KindSpec.fields)"
        assert kind in blocks, f"docs/entries.md has no '<!-- fields: {kind} -->' block"
        assert blocks[kind] == fields_table(spec), (
            f"the {kind} table in docs/entries.md is out of date: "
            "run .venv/bin/python tests/integration/test_docs_entries.py"
        )
        for field in spec.fields:
            assert f"| `{field.path}` |" in blocks[kind]
    assert set(blocks) == set(KINDS), "a table for a kind moonflow does not have"


def test_the_examples_pass_check_strict_and_run(tmp_path: Path) -> None:
    written = _write_examples(tmp_path)
    assert {
        "app/_index.yaml",
        "app/flows/_index.yaml",
        "app/procs/_index.yaml",
        "app/py/_index.yaml",
        "app/py/tax.py",
    } <= set(written)
    for app in ("app", "cloud"):
        done = _moonflow(tmp_path, "check", app, "--strict", env={"TEMPORAL_API_KEY": "k"})
        assert done.returncode == 0, done.stderr
        assert "warning:" not in done.stdout, done.stdout
        assert done.stdout.splitlines()[-1] == "ok"
    # the entry kinds the page shows are all in the example apps
    shown = "".join((tmp_path / f).read_text() for f in written if f.endswith(".yaml"))
    for kind in KINDS:
        assert f"kind: {kind}\n" in shown, kind
    commands = [body for lang, body in FENCE.findall(DOC.read_text()) if lang == "sh"]
    assert commands
    ran = 0
    for block in commands:
        lines = block.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("moonflow "):
                continue
            done = _moonflow(tmp_path, *shlex.split(line, comments=True)[1:], timeout=180)
            assert done.returncode == 0, f"{line}\n{done.stderr}"
            assert "warning" not in done.stderr, done.stderr
            expected = lines[i + 1] if i + 1 < len(lines) else ""
            if expected.startswith("# "):
                assert done.stdout.strip() == expected[2:], line
            ran += 1
    assert ran >= 2


def test_the_typo_example_prints_the_warning_shown(tmp_path: Path) -> None:
    _write_examples(tmp_path)
    text = DOC.read_text()
    shown = next(body for lang, body in FENCE.findall(text) if "$ moonflow check typo" in body)
    warning = next(line for line in shown.splitlines() if line.startswith("warning:"))
    done = _moonflow(tmp_path, "check", "typo")
    assert done.returncode == 0, done.stderr
    assert warning in done.stdout.splitlines(), done.stdout
    assert done.stdout.splitlines()[-1] == "ok"
    strict = _moonflow(tmp_path, "check", "typo", "--strict")
    assert strict.returncode == 2
    # the error's file is as reached from where the command runs (typo/_index.yaml), or as
    # check's warnings show it, relative to the app folder
    where, _, what = warning.removeprefix("warning: ").partition(": ")
    error = strict.stderr.strip()
    assert re.fullmatch(rf"moonflow: error: (typo/)?{re.escape(where)}: .*", error), error
    assert error.endswith(what.replace("ignoring unknown", "unknown")), error


def test_the_readme_points_a_pip_user_at_the_reference() -> None:
    readme = (REPO / "README.md").read_text()
    assert "[docs/entries.md](docs/entries.md)" in readme
    for spec in ("../shared", "lua-api.md", "reference-runtime.md", "seed/workflows.md"):
        assert spec not in readme, f"{spec}: a pip user has no workspace beside the package"
    assert "`.moonflow/` to your `.gitignore`" in readme
    assert "**Web UI**" in readme
    for flag in ("--strict", "--determinism [--json]", "--namespace NS", "--headless", "--ip"):
        assert flag in readme, flag


if __name__ == "__main__":  # refresh the field tables of docs/entries.md
    DOC.write_text(update_doc(DOC.read_text(encoding="utf-8"), KINDS), encoding="utf-8")
