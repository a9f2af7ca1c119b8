"""Issue 17 item 10: the ``moonflow`` command follows common CLI conventions.

Every check runs the real command in a subprocess: bare ``moonflow`` prints the help, ``-V``
the versions, ``completion`` scripts that a real bash completes with, ``-o text|json|jsonl`` on
``list``/``describe``/``history``/``query`` (a table on a pseudo-terminal, JSON lines when
piped), ``list`` and ``describe`` agreeing, exit codes in ``--help``, and app error paths shown
from where the command ran, never cut off.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import moonflow.cli

from .conftest import workflow_entry

pytestmark = pytest.mark.integration

SRC = str(Path(moonflow.cli.__file__).resolve().parents[2])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("MOONFLOW_SERVER", None)
    env.pop("TEMPORAL_ADDRESS", None)
    return env


def moonflow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moonflow", *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=cwd,
        timeout=120,
    )


async def amoonflow(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(moonflow, *args)


def moonflow_on_terminal(*args: str, columns: int = 120) -> str:
    """Run ``moonflow`` with stdout on a pseudo-terminal (``columns`` wide); its output."""
    main, child = pty.openpty()
    env = _env() | {"COLUMNS": str(columns), "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moonflow", *args],
        stdout=child,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed its side
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode().replace("\r\n", "\n")


ANSI = re.compile(r"\x1b\[[0-9;]*m")

EXIT_CODES = ["0 success", "1 the workflow", "2 bad app", "3 internal error", "130 interrupted"]


def test_bare_moonflow_prints_the_help_with_every_exit_code() -> None:
    done = moonflow()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: moonflow")
    assert "completion" in done.stdout and "execute" in done.stdout
    text = " ".join(done.stdout.split())
    for code in EXIT_CODES:
        assert code in text, code
    # ... and every command's --help lists them too
    for command in ("execute", "list", "query", "server"):
        helped = " ".join(moonflow(command, "--help").stdout.split())
        assert all(code in helped for code in EXIT_CODES), command


def test_version_names_moonflow_and_what_it_runs_on() -> None:
    for flag in ("-V", "--version"):
        done = moonflow(flag)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        names = [line.split(" ", 1)[0] for line in lines]
        assert names == [
            "moonflow",
            "temporalio",
            "lupa",
            "Lua",
            "temporal",
            "temporal-test-server",
        ]
        assert lines[3].startswith("Lua 5.")
        # the bundled dev server binary's own report, with its Server version
        assert "Server " in lines[4], lines[4]
        assert "not installed" not in done.stdout


def test_completion_scripts_complete_commands_and_choices(tmp_path: Path) -> None:
    for shell, marker in (
        ("bash", "_shtab_moonflow"),
        ("zsh", "#compdef moonflow"),
        ("fish", "complete -c moonflow"),
    ):
        done = moonflow("completion", shell)
        assert done.returncode == 0, done.stderr
        assert marker in done.stdout, shell
    script = tmp_path / "moonflow.bash"
    script.write_text(moonflow("completion", "bash").stdout)

    def complete(*words: str) -> list[str]:
        line = " ".join(["moonflow", *words])
        probe = (
            f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words)}; "
            f'COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; '
            "_shtab_moonflow; printf '%s\\n' \"${COMPREPLY[@]}\""
        )
        out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert "list" in complete("li")
    assert sorted(complete("list", "app", "-o", "")) == ["json", "jsonl", "text"]
    assert complete("completion", "f") == ["fish"]


def test_an_unknown_shell_is_a_usage_error() -> None:
    done = moonflow("completion", "tcsh")
    assert done.returncode == 2
    assert "invalid choice: 'tcsh'" in done.stderr


FLOW = """\
local workflow = require("workflow")
local function main()
    workflow.attrs{search = {status = "waiting"}}
    workflow.on_query("state", function() return {phase = "waiting", n = 2} end)
    process.listen("go"):receive()
    return "done"
end
return { main = main }
"""


async def test_output_formats_and_list_agrees_with_describe(dev_env, make_app):
    app = make_app(workflow_entry("flow", "flow.lua"), {"flow.lua": FLOW})
    server = ["--server", dev_env.client.service_client.config.target_host]
    root = str(app.root)
    wf_id = f"conv-{uuid.uuid4()}"
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:flow", id=wf_id)
        for _ in range(100):  # the upsert and the query handler are in place
            described = json.loads((await amoonflow("describe", root, wf_id, *server)).stdout)
            if described["search_attributes"].get("status") == "waiting":
                break
            await asyncio.sleep(0.1)
        query = f"WorkflowId = '{wf_id}'"
        for _ in range(100):  # visibility is eventually consistent
            listed = await amoonflow("list", root, "--query", query, *server)
            if listed.stdout.strip():
                listed_info = json.loads(listed.stdout)
                if listed_info["search_attributes"].get("status") == "waiting":
                    break
            await asyncio.sleep(0.1)
        described = json.loads((await amoonflow("describe", root, wf_id, *server)).stdout)

        # list and describe agree: the real event count, no server-internal attributes
        assert listed_info["status"] == described["status"] == "RUNNING"
        assert listed_info["history_length"] == described["history_length"] > 0
        assert (
            listed_info["search_attributes"]
            == described["search_attributes"]
            == {"status": "waiting"}
        )

        # read-only commands on the waiting workflow: run side by side (processes of their own)
        (
            as_json,
            desc_json,
            answer,
            history,
            history_json,
            stack,
            plain,
            table,
            shown,
            events_table,
        ) = await asyncio.gather(
            amoonflow("list", root, "--query", query, "-o", "json", *server),
            amoonflow("describe", root, wf_id, "-o", "json", *server),
            amoonflow("query", root, wf_id, "state", *server),
            amoonflow("history", root, wf_id, *server),
            amoonflow("history", root, wf_id, "-o", "json", *server),
            amoonflow("query", root, wf_id, "__stack_trace", *server),
            amoonflow("query", root, wf_id, "__stack_trace", "-o", "text", *server),
            asyncio.to_thread(moonflow_on_terminal, "list", root, "--query", query, *server),
            asyncio.to_thread(moonflow_on_terminal, "describe", root, wf_id, *server),
            asyncio.to_thread(moonflow_on_terminal, "history", root, wf_id, *server),
        )

        # piped: one JSON line per record (jsonl); -o json: one indented document
        assert json.loads(as_json.stdout)[0]["workflow_id"] == wf_id
        assert as_json.stdout.count("\n") > 3  # indented
        assert json.loads(desc_json.stdout)["workflow_id"] == wf_id
        assert json.loads(answer.stdout) == {"phase": "waiting", "n": 2}
        events = history.stdout.splitlines()
        assert json.loads(events[0])["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
        assert len(events) == described["history_length"]
        assert len(json.loads(history_json.stdout)) == len(events)

        # __stack_trace is JSON like every other answer when piped; text with -o text
        assert stack.returncode == 0, stack.stderr
        assert len(stack.stdout.splitlines()) == 1
        trace = json.loads(stack.stdout)
        assert isinstance(trace, str) and "-- main" in trace
        assert plain.stdout.startswith("-- main"), plain.stdout

        # on a terminal: readable tables by default
        assert "WORKFLOW ID" in table and "STATUS" in table and wf_id in table, table
        assert not table.lstrip().startswith("{")
        assert "workflow_type" in shown and "app:flow" in shown and "RUNNING" in shown, shown
        assert "WORKFLOW_EXECUTION_STARTED" in events_table and "EVENT" in events_table

        await handle.signal("go")
        assert await asyncio.wait_for(handle.result(), 30) == "done"
        # the closed workflow, read side by side as above
        closed, narrow_list, narrow_history, history_json = await asyncio.gather(
            amoonflow("query", root, wf_id, "__stack_trace", *server),
            asyncio.to_thread(
                moonflow_on_terminal, "list", root, "--query", query, *server, columns=80
            ),
            asyncio.to_thread(moonflow_on_terminal, "history", root, wf_id, *server, columns=80),
            amoonflow("history", root, wf_id, "-o", "json", *server),
        )
        # a closed workflow has no stack: one line saying so, not ""
        assert closed.returncode == 2, closed.stdout + closed.stderr
        assert closed.stdout == ""
        assert closed.stderr.splitlines() == [
            f"moonflow: error: workflow {wf_id} is COMPLETED: a closed workflow has no stack "
            "(__stack_trace shows where a running one waits)"
        ]

        # at 80 columns: ids and timestamps whole on their line, one summary line per event
        # (decoded payloads, no base64), nothing wider than the terminal
        narrow = ANSI.sub("", narrow_list)
        assert any(wf_id in line for line in narrow.splitlines()), narrow
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", narrow), narrow
        assert max(len(line) for line in narrow.splitlines()) <= 80, narrow
        shown = ANSI.sub("", narrow_history)
        lines = shown.splitlines()
        assert max(len(line) for line in lines) <= 80, shown
        assert "anNvbi9wbGFpbg" not in shown and "payloads" not in shown, shown
        started = next(line for line in lines if "WORKFLOW_EXECUTION_STARTED" in line)
        assert re.search(r"^\s*1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s", started), started
        assert "app:flow" in started, started
        signaled = next(line for line in lines if "WORKFLOW_EXECUTION_SIGNALED" in line)
        assert signaled.rstrip().endswith(" go"), signaled
        completed = next(line for line in lines if "WORKFLOW_EXECUTION_COMPLETED" in line)
        assert completed.rstrip().endswith('result "done"'), completed
        upsert = next(line for line in lines if "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES" in line)
        assert "status=" in upsert, upsert
        events_count = sum(1 for line in lines if re.match(r"^\s*\d+\s+\d{4}-", line))
        assert events_count == len(json.loads(history_json.stdout))


BROKEN_INDEX = """\
version: "1.0"
namespace: app
entries:
  - name: temporal_client
    kind: temporal.client
    address: "127.0.0.1:1"
    namespace: "default"
  - name: worker
    kind: temporal.worker
    client: app:temporal_client
    task_queue: "q"
  - name: flow
    kind: workflow.lua
    source: file://{source}
    method: main
    meta:
      temporal:
        workflow:
          worker: app:worker
"""


def test_error_paths_are_shown_from_where_the_command_ran(tmp_path: Path) -> None:
    deep = "code/" + "a" * 30 + "/" + "b" * 30 + "/flow.lua"  # longer than Lua's 60 characters
    app = tmp_path / "shop" / "app"
    (app / deep).parent.mkdir(parents=True)
    (app / "_index.yaml").write_text(BROKEN_INDEX.format(source=deep))
    (app / deep).write_text("local function main()\n  local x = = 1\nend\nreturn {main = main}\n")

    from_above = moonflow("check", "app", cwd=tmp_path / "shop")
    assert from_above.returncode == 2
    line = from_above.stderr.strip()
    assert line.startswith(f"moonflow: error: app/{deep}:2: app:flow: Lua syntax error: "), line
    assert "unexpected symbol near '='" in line
    assert line.endswith("(entry at app/_index.yaml:12)"), line
    assert "..." not in line  # Lua's shortened chunk name does not leak in

    inside = moonflow("check", ".", cwd=app)
    assert inside.stderr.strip().startswith(f"moonflow: error: {deep}:2: app:flow:")
    assert inside.stderr.strip().endswith("(entry at _index.yaml:12)")
    absolute = moonflow("check", str(app), cwd=tmp_path)
    assert absolute.stderr.strip().startswith(f"moonflow: error: {app / deep}:2: ")


def test_a_runtime_error_names_the_whole_long_path(tmp_path: Path) -> None:
    # Lua shortens chunk names over 60 characters to "...<tail>" in its messages
    deep = "code/" + "a" * 30 + "/" + "b" * 30 + "/flow.lua"
    app = tmp_path / "app"
    (app / deep).parent.mkdir(parents=True)
    (app / "_index.yaml").write_text(BROKEN_INDEX.format(source=deep))
    (app / deep).write_text(
        "local function main()\n  local t = nil\n  return t.x\nend\nreturn {main = main}\n"
    )
    done = moonflow("execute", "app", "app:flow", "--server", "time-skipping", "-q", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    message = json.loads(done.stdout)["error"]["message"]
    assert message == f"{deep}:3: attempt to index a nil value (local 't')", message


SETTINGS_INDEX = """\
version: "1.0"
namespace: app
entries:
  - name: temporal_client
    kind: temporal.client
    address: "127.0.0.1:1"
    {settings}
  - name: worker
    kind: temporal.worker
    client: app:temporal_client
    task_queue: "q"
  - name: flow
    kind: workflow.lua
    source: file://flow.lua
    method: main
    meta: {{temporal: {{workflow: {{worker: app:worker}}}}}}
"""


def _settings_app(root: Path, settings: str) -> Path:
    app = root / "app"
    app.mkdir(parents=True, exist_ok=True)
    (app / "_index.yaml").write_text(SETTINGS_INDEX.format(settings=settings))
    (app / "flow.lua").write_text("return {main = function() return 1 end}\n")
    return app


def test_setting_errors_name_the_yaml_line_and_entry(tmp_path: Path) -> None:
    """Files and variables the tls/auth blocks name, and a mistyped workflow id, are reported
    as other app errors are: file:line from where the command ran, the entry, the fix."""
    root = tmp_path / "ca"
    _settings_app(root, "tls: {ca_file: certs/nope.pem}")
    done = moonflow("start", "app", "app:flow", "--server", "127.0.0.1:1", cwd=root)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "moonflow: error: app/_index.yaml:7: app:temporal_client: cannot read tls.ca_file "
        "'certs/nope.pem': No such file or directory"
    ]
    typo = moonflow("start", "app", "app:flw", cwd=root)
    assert typo.returncode == 2
    assert typo.stderr.splitlines() == [
        "moonflow: error: no workflow entry 'app:flw' in app: did you mean app:flow? "
        "(workflows: app:flow)"
    ]

    root = tmp_path / "key"
    _settings_app(root, "auth: {type: api_key, api_key_env: NOPE_KEY_17}")
    checked = moonflow("check", "app", cwd=root)
    assert checked.returncode == 0, checked.stderr
    warnings = [line for line in checked.stdout.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: app/_index.yaml:7: app:temporal_client: auth.api_key_env names NOPE_KEY_17, "
        "which is not set in this environment: export NOPE_KEY_17=... before run, execute or "
        "start"
    ]
    assert moonflow("check", "app", "--strict", cwd=root).returncode == 2
    done = moonflow("start", "app", "app:flow", "--server", "127.0.0.1:1", cwd=root)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "moonflow: error: app/_index.yaml:7: app:temporal_client: auth.api_key_env: the "
        "environment variable NOPE_KEY_17 is not set (or empty): export NOPE_KEY_17=... before "
        "starting moonflow"
    ]
