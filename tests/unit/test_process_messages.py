"""Issue 14, newcomer findings 7-9 (no Temporal, no subprocess): a ``process.service`` whose
``input`` is not a list is said in YAML's words; a too-deep value's path is cut after a few
levels (whatever the path it starts from); a ``process.host``'s pool sizes and lifecycle are
declared as not used, and ``moonflow check`` prints no pool sizes."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

from moonflow.cli import run
from moonflow.errors import AppError
from moonflow.kinds import KINDS
from moonflow.lua import ConversionError
from moonflow.registry import load_app

from .lua.helpers import new_state
from .lua.helpers import run as run_lua

SERVICE_APP = """\
namespace: app
entries:
  - name: proc
    kind: process.lua
    source: file://proc.lua
    method: main
  - name: host
    kind: process.host
  - name: svc
    kind: process.service
    process: proc
    host: host
    input: {input}
"""
MAIN_LUA = "return { main = function(...) return ... end }\n"


def _write(root: Path, yaml: str) -> Path:
    (root / "app.yaml").write_text(yaml)
    (root / "proc.lua").write_text(MAIN_LUA)
    return root


# ---- 7. input that is not a list -------------------------------------------------------------
@pytest.mark.parametrize(
    "given, words, fix",
    [
        ("hello", "a string", '["hello"]'),
        ("{a: 1}", "a mapping", '[{"a": 1}]'),
        ("3", "a number", "[3]"),
        ("true", "a boolean (true)", "[true]"),
        ("2024-01-02", "a date", "[...]"),
    ],
)
def test_input_not_a_list_is_said_in_yaml_words(
    tmp_path: Path, given: str, words: str, fix: str
) -> None:
    with pytest.raises(AppError) as info:
        load_app(_write(tmp_path, SERVICE_APP.format(input=given)))
    text = str(info.value)
    assert "\n" not in text.strip()
    assert "app:svc" in text and "app.yaml" in text  # where
    assert text.endswith(
        f"input must be a list (one item per argument of the process), not {words}: write "
        f"input: {fix}"
    ), text
    for python_name in ("str", "dict", "int", "bool", "date"):
        assert f"not {python_name}:" not in text


# ---- 8. a too-deep value's path ---------------------------------------------------------------
@pytest.mark.parametrize(
    "src, base, path",
    [
        # a base path with dots and brackets of its own is kept whole
        (
            "local t = {} for _ = 1, 300 do t = {n = t} end return t",
            'process.send(topic "a.b[1]") value 1',
            'process.send(topic "a.b[1]") value 1.n.n.n.n... (128 levels)',
        ),
        (
            "local t = {} for _ = 1, 300 do t = {['a b'] = {t}} end return t",
            "result",
            "result['a b'][1]['a b'][1]... (128 levels)",
        ),
    ],
)
def test_a_too_deep_value_names_the_first_levels_only(src: str, base: str, path: str) -> None:
    state = new_state()
    value = run_lua(state, src)[0]
    with pytest.raises(ConversionError) as info:
        state.to_python(value, base)
    assert str(info.value) == f"{path}: tables nested deeper than 128 levels"


def test_a_value_at_the_depth_limit_still_converts() -> None:
    state = new_state()  # the limit itself is unchanged: 128 levels pass
    value = run_lua(state, "local t = {} for _ = 1, 127 do t = {n = t} end return t")[0]
    out = state.to_python(value, "result")
    for _ in range(127):
        out = out["n"]
    assert out == {} or out == []


# ---- 9. process.host: what is used ------------------------------------------------------------
def test_process_host_pool_sizes_and_lifecycle_are_declared_not_used() -> None:
    fields = {f.path: f for f in KINDS["process.host"].fields}
    for path in ("host", "host.workers", "host.queue_size", "host.local_queue_size"):
        assert fields[path].ignored, path
        assert "not used" in fields[path].doc, path
    # a host is not started or restarted: only its start order is used
    used = sorted(p for p, f in fields.items() if p.startswith("lifecycle.") and not f.ignored)
    assert used == ["lifecycle.depends_on", "lifecycle.requires"]


def test_check_prints_no_pool_sizes(tmp_path: Path) -> None:
    yaml = textwrap.dedent(
        """\
        namespace: app
        entries:
          - name: plain
            kind: process.host
          - name: sized
            kind: process.host
            host: {workers: 2, queue_size: 10}
            lifecycle: {auto_start: true}
        """
    )
    (tmp_path / "app.yaml").write_text(yaml)
    out, err = io.StringIO(), io.StringIO()
    assert run(["check", str(tmp_path)], out=out, err=err) == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert "process host app:plain" in lines
    assert (
        "process host app:sized (host.workers, host.queue_size not used: every process runs on "
        "one event loop)"
    ) in lines
    assert "2 workers" not in out.getvalue() and "queue 10" not in out.getvalue()


def test_a_service_keeps_only_its_recent_failures_and_restart_delays() -> None:
    # A service restarted forever (max_attempts 0) must not grow these without end.
    from moonflow.errors import ErrorInfo
    from moonflow.process._services import KEPT, Service

    service = Service(spec=None)  # type: ignore[arg-type]
    for i in range(KEPT + 50):
        service.failures.append(ErrorInfo("Internal", f"failure {i}", False))
        service.restart_delays.append(float(i))
    assert len(service.failures) == KEPT and len(service.restart_delays) == KEPT
    assert service.failures[-1].message == f"failure {KEPT + 49}"
    assert service.restart_delays[0] == 50.0
