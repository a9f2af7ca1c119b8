"""The server address from the environment (issue 17, item 6).

``moonflow run APP --server memory`` prints ``export MOONFLOW_SERVER=HOST:PORT``; with that
variable set, ``start`` and ``result`` reach the run's server without ``--server``. Precedence:
``--server`` > ``$MOONFLOW_SERVER`` > ``$TEMPORAL_ADDRESS`` > embedded (the app's client address).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from moonflow.cli._parser import ArgumentError, parse_args, server_default
from tests.integration._cli import moonflow as _cli
from tests.integration._cli import moonflow_run
from tests.integration.test_cli_basic import _free_port, _one_json_line, write_tiny_app

pytestmark = pytest.mark.integration

EXPORT = re.compile(r"^export MOONFLOW_SERVER=(\S+)  # ", re.M)


def test_precedence() -> None:
    assert server_default({}) == "embedded"
    assert server_default({"TEMPORAL_ADDRESS": "h:1"}) == "h:1"
    assert server_default({"TEMPORAL_ADDRESS": "h:1", "MOONFLOW_SERVER": "m:2"}) == "m:2"
    assert server_default({"MOONFLOW_SERVER": " ", "TEMPORAL_ADDRESS": "h:1"}) == "h:1"
    with pytest.raises(ArgumentError, match=r"^\$TEMPORAL_ADDRESS: expected HOST:PORT"):
        server_default({"TEMPORAL_ADDRESS": "memory"})
    with pytest.raises(ArgumentError, match=r"^\$MOONFLOW_SERVER: expected a --server SPEC"):
        server_default({"MOONFLOW_SERVER": "nowhere"})


def test_explicit_server_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOONFLOW_SERVER", "m:2")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "t:3")
    assert parse_args(["start", "APP", "app:ok", "--server", "x:1"]).server == "x:1"
    assert parse_args(["start", "APP", "app:ok"]).server == "m:2"
    assert parse_args(["result", "APP", "wf"]).server == "m:2"
    assert parse_args(["run", "APP"]).server == "m:2"
    # run reads --server among the words after APP_DIR (cli/_exec.py); a bad variable is moot
    monkeypatch.setenv("MOONFLOW_SERVER", "nowhere")
    assert parse_args(["run", "APP", "--server", "memory"]).server == "embedded"
    monkeypatch.delenv("MOONFLOW_SERVER")
    assert parse_args(["describe", "APP", "wf"]).server == "t:3"


@pytest.fixture
def memory_run(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """``moonflow run APP --server memory`` in the background; yields (app, exported address)."""
    app = write_tiny_app(tmp_path / "tiny", _free_port())  # nothing listens on its address
    log = tmp_path / "run.log"
    with moonflow_run(str(app), "--server", "memory", log=log):
        found = EXPORT.findall(log.read_text())
        assert len(found) == 1, log.read_text()
        yield app, found[0]


def test_run_exports_its_address_and_other_commands_use_it(memory_run: tuple[Path, str]) -> None:
    app, address = memory_run
    assert re.fullmatch(r"[\w.\-]+:\d+", address)

    with ThreadPoolExecutor(max_workers=3) as pool:  # independent commands run side by side
        # Without the variable the app's own (unused) address is tried: nothing listens there.
        lost = pool.submit(_cli, "start", str(app), "app:ok", "--input", '{"n": 1}')
        started = _cli("start", str(app), "app:ok", "--input", '{"n": 5}', MOONFLOW_SERVER=address)
        assert started.returncode == 0, started.stderr
        wid = _one_json_line(started.stdout)["workflow_id"]  # type: ignore[index]
        results = [
            pool.submit(_cli, "result", str(app), wid, MOONFLOW_SERVER=address),
            # TEMPORAL_ADDRESS, as the temporal CLI reads it; MOONFLOW_SERVER wins over it.
            pool.submit(_cli, "result", str(app), wid, TEMPORAL_ADDRESS=address),
            pool.submit(
                _cli,
                "result",
                str(app),
                wid,
                MOONFLOW_SERVER=address,
                TEMPORAL_ADDRESS="127.0.0.1:1",
            ),
        ]
        assert lost.result().returncode == 2, lost.result().stderr
        for result in (r.result() for r in results):
            assert result.returncode == 0, result.stderr
            assert _one_json_line(result.stdout) == {"ok": True, "n": 6}


def test_errors_name_the_variable_and_a_fix_that_works(tmp_path: Path) -> None:
    """An address from the environment is named as such in errors, with fixes that work (issue
    17 review item 1): start a server on its port or unset it, never "use --server"."""
    port = _free_port()
    app = write_tiny_app(tmp_path / "app", _free_port())
    address = f"localhost:{port}"
    with ThreadPoolExecutor(max_workers=3) as pool:  # independent commands run side by side
        started = [
            pool.submit(_cli, "start", str(app), "app:ok", MOONFLOW_SERVER=address),
            pool.submit(_cli, "run", str(app), MOONFLOW_SERVER=address),
            pool.submit(_cli, "start", str(app), "app:ok", TEMPORAL_ADDRESS=f"198.51.100.1:{port}"),
            pool.submit(
                _cli, "execute", str(app), "app:ok", "--ui-port", "5000", MOONFLOW_SERVER=address
            ),
            pool.submit(_cli, "list", str(app), MOONFLOW_SERVER="bogus"),
        ]
        start_gone, run_gone, gone, ui, bogus = (f.result() for f in started)
    for gone_from_variable in (start_gone, run_gone):
        assert gone_from_variable.returncode == 2, gone_from_variable.stderr
        last = gone_from_variable.stderr.splitlines()[-1]
        assert last.startswith(
            f"moonflow: error: cannot reach Temporal at $MOONFLOW_SERVER={address}: "
        )
        assert last.endswith(
            f"; start one there with `moonflow server --port {port}`, or `unset MOONFLOW_SERVER`"
        ), last
    assert gone.stderr.splitlines()[-1].endswith("; `unset TEMPORAL_ADDRESS`"), gone.stderr

    assert ui.returncode == 2
    assert ui.stderr.splitlines() == [
        "moonflow: error: --ui-port applies to a dev server moonflow starts (--server embedded "
        f"or memory); the server of $MOONFLOW_SERVER={address} is not started by moonflow: "
        "drop --ui-port, or `unset MOONFLOW_SERVER`"
    ]
    assert bogus.returncode == 2
    assert bogus.stderr.splitlines() == [
        "moonflow: error: $MOONFLOW_SERVER: expected a --server SPEC: embedded, memory, "
        "time-skipping or HOST:PORT, got 'bogus': fix it or `unset MOONFLOW_SERVER`"
    ]


def test_execute_on_a_memory_server_prints_its_web_ui(tmp_path: Path) -> None:
    app = write_tiny_app(tmp_path / "app", _free_port())
    ui_port = _free_port()
    done = _cli(
        "execute",
        str(app),
        "app:ok",
        "--input",
        '{"n": 1}',
        "--server",
        "memory",
        "--ui-port",
        str(ui_port),
    )
    assert done.returncode == 0, done.stderr
    assert _one_json_line(done.stdout) == {"ok": True, "n": 2}
    started = [line for line in done.stderr.splitlines() if "dev server in memory" in line]
    assert len(started) == 1, done.stderr
    assert re.search(
        rf"\(Web UI http://[\w.\-]+:{ui_port}\); it stops when execute ends$", started[0]
    )
