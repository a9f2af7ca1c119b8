"""Issue 17 item 2: ``moonflow update`` to a workflow that does not answer says what it waits
for after a few seconds, and Ctrl-C says how far the update got (Temporal's update stages:
admitted by the server, accepted by the workflow) and the command that waits for it again.

Real dev server, real ``moonflow`` processes, a real SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import sys
import uuid
from pathlib import Path

import pytest

import moonflow.cli

from .conftest import workflow_entry

pytestmark = pytest.mark.integration

SRC = str(Path(moonflow.cli.__file__).resolve().parents[2])

# Never reads its inbox: an update reaches it (accepted) and is never answered.
DEAF = """\
local time = require("time")
local function main()
    time.sleep("1h")
    return "done"
end
return { main = main }
"""

WAITING = re.compile(
    r"^moonflow: waiting for workflow (\S+) to accept and complete update 'poke' "
    r"\(update id ([0-9a-f-]+); Ctrl-C stops waiting, the update stays with the workflow\)$"
)


async def _update_then_interrupt(app_dir: Path, wf_id: str, address: str) -> tuple[int, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "moonflow",
        "update",
        str(app_dir),
        wf_id,
        "poke",
        "--data",
        '{"n": 1}',
        "--server",
        address,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None and proc.stdout is not None
    try:
        first = (await asyncio.wait_for(proc.stderr.readline(), 90)).decode()
        assert WAITING.match(first.rstrip("\n")), first
        proc.send_signal(signal.SIGINT)
        rest = (await asyncio.wait_for(proc.stderr.read(), 60)).decode()
        out = (await proc.stdout.read()).decode()
        code = await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert out == ""
    return code, first + rest


def _check_lines(text: str, app_dir: Path, wf_id: str, address: str, state: str) -> None:
    lines = text.splitlines()
    assert len(lines) == 3, text
    m = WAITING.match(lines[0])
    assert m is not None and m.group(1) == wf_id
    update_id = m.group(2)
    assert lines[1] == (
        f"moonflow: interrupted; update 'poke' of workflow {wf_id} (update id {update_id}): "
        + state
    ), text
    again = shlex.join(
        ["moonflow", "update", str(app_dir), wf_id, "poke", "--data", '{"n": 1}']
        + ["--update-id", update_id, "--server", address]
    )
    assert lines[2] == f"moonflow: to wait for it again: {again}"


@pytest.mark.parametrize(
    "worker, state",
    [
        (
            True,
            "accepted by the workflow, not answered yet (it answers when its code reads the "
            "message and replies)",
        ),
        (
            False,  # no worker runs
            "admitted by the server, not yet accepted by the workflow (no worker has taken it: "
            "is a worker for the workflow running?)",
        ),
    ],
    ids=["deaf-workflow-accepted", "no-worker-admitted"],
)
async def test_update_ctrl_c_says_how_far_it_got(dev_env, make_app, worker: bool, state: str):
    app = make_app(workflow_entry("deaf", "deaf.lua"), {"deaf.lua": DEAF})
    address = dev_env.client.service_client.config.target_host
    async with app.workers(dev_env) if worker else contextlib.nullcontext():
        handle = await app.start(dev_env, "app:deaf", id=f"deaf-{uuid.uuid4()}")
        code, text = await _update_then_interrupt(app.root, handle.id, address)
    assert code == 130, text
    _check_lines(text, app.root, handle.id, address, state)


# Reads its inbox only after the "go" signal, answers one update, then returns.
LATE = """\
local function main()
    process.listen("go"):receive()
    local msg = process.inbox():receive()
    local n = msg:payload():data().n
    process.send(msg:from(), "ok", {answered = n, id = msg:from()})
    return "done"
end
return { main = main }
"""


async def test_the_printed_command_waits_for_the_same_update(dev_env, make_app):
    app = make_app(workflow_entry("late", "late.lua"), {"late.lua": LATE})
    address = dev_env.client.service_client.config.target_host
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:late", id=f"late-{uuid.uuid4()}")
        code, text = await _update_then_interrupt(app.root, handle.id, address)
        assert code == 130, text
        again = text.splitlines()[-1].removeprefix("moonflow: to wait for it again: ")
        update_id = WAITING.match(text.splitlines()[0]).group(2)  # type: ignore[union-attr]
        await handle.signal("go")
        words = shlex.split(again)
        assert words[0] == "moonflow"
        env = dict(os.environ)
        env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            *words,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode == 0, err.decode()
        # the same update (one message, from the update id first sent), not a second one
        assert json.loads(out) == {"answered": 1, "id": "{update|" + update_id + "}"}
        assert await asyncio.wait_for(handle.result(), 60) == "done"


async def test_an_update_id_used_before_says_its_original_data_is_used(dev_env, make_app):
    """Review item 5: ``--update-id`` of an existing update with other ``--data`` says that
    Temporal waits on the original update (its data), and the hint repeats that data."""
    app = make_app(workflow_entry("deaf", "deaf.lua"), {"deaf.lua": DEAF})
    address = dev_env.client.service_client.config.target_host
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:deaf", id=f"deaf-{uuid.uuid4()}")
        code, text = await _update_then_interrupt(app.root, handle.id, address)
        assert code == 130, text
        update_id = WAITING.match(text.splitlines()[0]).group(2)  # type: ignore[union-attr]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "moonflow",
            "update",
            str(app.root),
            handle.id,
            "poke",
            "--data",
            '{"n": 2}',
            "--update-id",
            update_id,
            "--server",
            address,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert proc.stderr is not None
        try:
            first = (await asyncio.wait_for(proc.stderr.readline(), 90)).decode().rstrip("\n")
            assert first == (
                f"moonflow: an update with id {update_id} already exists for workflow "
                f"{handle.id} (accepted); Temporal dedupes updates by id, so its original "
                'arguments are used (--data {"n": 1}), not the --data given here'
            ), first
            second = (await asyncio.wait_for(proc.stderr.readline(), 90)).decode()
            assert WAITING.match(second.rstrip("\n")), second
            proc.send_signal(signal.SIGINT)
            rest = (await asyncio.wait_for(proc.stderr.read(), 60)).decode()
            code = await asyncio.wait_for(proc.wait(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert code == 130, rest
    again = shlex.join(
        ["moonflow", "update", str(app.root), handle.id, "poke", "--data", '{"n": 1}']
        + ["--update-id", update_id, "--server", address]
    )
    assert rest.splitlines()[-1] == f"moonflow: to wait for it again: {again}", rest
