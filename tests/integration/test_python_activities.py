"""``function.py`` entries: plain Python functions called from Lua with ``funcs.call`` (issue 16
item 6), against a real Temporal dev server, and from a Lua process on a real process node.

What a Lua workflow sees of a Python activity must be what it sees of a Lua one: the same
values (64-bit integers, ``1.0`` vs ``1``, ``{}`` vs ``[]``, checked as the JSON text the client
gets), the same error model (a raised ``moonflow.errors.Error`` keeps kind, message, retryable
flag and details; any other exception is ``Internal``, not retryable, naming file and line).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from moonflow.process import ProcessNode
from moonflow.registry import load_app
from tests._apps import app_index

from .conftest import activity_entry, history_events, workflow_entry

pytestmark = pytest.mark.integration

SRC = str(Path(__file__).resolve().parents[2] / "src")

PAY_PY = """\
import asyncio

from temporalio import activity

from moonflow import errors


def echo(value):
    return value


async def echo_async(value):
    await asyncio.sleep(0.05)
    return {"async": True, "value": value}


def declined(amount):
    raise errors.Error(
        "card declined", kind=errors.INVALID, retryable=False, details={"amount": amount}
    )


def unavailable():
    raise errors.Error("bank offline", kind=errors.UNAVAILABLE, retryable=True)


def boom(text):
    raise ValueError(text)


async def boom_async():
    await asyncio.sleep(0)
    return {1: "non-string key"}


def second_try(marker):
    # retryable (Unknown kind, retryable unspecified): Temporal retries it; the activity info
    # says which attempt this is
    attempt = activity.info().attempt
    with open(marker, "a") as f:
        f.write(f"{attempt}\\n")
    if attempt < 2:
        raise errors.Error("not yet")
    activity.heartbeat("done")
    return {"attempt": attempt, "type": activity.info().activity_type}


def bad_result():
    return {"ids": {1, 2}}


def big(size):
    return "x" * size


def huge_error(size):
    # the user's own Temporal failure, over the payload limit
    from temporalio.exceptions import ApplicationError

    raise ApplicationError("y" * size, {"why": "too much"}, type="Declined", non_retryable=True)
"""

ECHO_LUA = """\
local function echo(value)
  return value
end
return { echo = echo }
"""

ROUND_TRIP_WF = """\
local funcs = require("funcs")
local function main(input)
  local py, e1 = funcs.call("app:py_echo", input)
  local lua, e2 = funcs.call("app:lua_echo", input)
  local async, e3 = funcs.call("app:py_async", input)
  local from_module, e4 = funcs.call("app:py_module", input)
  if e1 or e2 or e3 or e4 then
    return nil, e1 or e2 or e3 or e4
  end
  return { py = py, lua = lua, async = async, module = from_module }
end
return { main = main }
"""

ERRORS_WF = """\
local funcs = require("funcs")
local function seen(value, err)
  if err == nil then
    return { value = value }
  end
  return { kind = err:kind(), retryable = err:retryable(), message = err:message(),
           details = err:details() }
end
local function main(marker)
  local once = funcs.new():with_options({ ["activity.retry_policy"] = { maximum_attempts = 1 } })
  return {
    declined = seen(funcs.call("app:declined", 12)),
    unavailable = seen(once:call("app:unavailable")),
    boom = seen(funcs.call("app:boom", "bad card")),
    boom_async = seen(funcs.call("app:boom_async")),
    bad_result = seen(funcs.call("app:bad_result")),
    second_try = seen(funcs.call("app:second_try", marker)),
    too_big = seen(funcs.call("app:big", 3000000)),
    huge_error = seen(funcs.call("app:huge_error", 3000000)),
  }
end
return { main = main }
"""

PROCESS_LUA = """\
local funcs = require("funcs")
local function main(input)
  local value, err = funcs.call("app:py_echo", input)
  local async, err2 = funcs.call("app:py_async", input)
  local _, declined = funcs.call("app:declined", 7)
  local _, boom = funcs.call("app:boom", "from a process")
  local _, bad = funcs.call("app:bad_result")
  local function shape(e)
    return { kind = e:kind(), retryable = e:retryable(), message = e:message(),
             details = e:details() }
  end
  return {
    value = value, async = async, errs = { err ~= nil, err2 ~= nil },
    declined = shape(declined), boom = shape(boom), bad = shape(bad),
  }
end
return { main = main }
"""


def py_entry(name: str, method: str, *, activity: bool = True, module: bool = False) -> str:
    where = "module: shop.pay" if module else "source: file://pay.py"
    meta = "\n  meta: {temporal: {activity: {worker: app:worker}}}" if activity else ""
    return f"""
- name: {name}
  kind: function.py
  {where}
  method: {method}{meta}
"""


def entries(*, activity: bool = True) -> str:
    names = {
        "py_echo": "echo",
        "py_async": "echo_async",
        "declined": "declined",
        "unavailable": "unavailable",
        "boom": "boom",
        "boom_async": "boom_async",
        "second_try": "second_try",
        "bad_result": "bad_result",
        "big": "big",
        "huge_error": "huge_error",
    }
    return "".join(py_entry(n, m, activity=activity) for n, m in names.items())


def files() -> dict[str, str]:
    return {
        "pay.py": PAY_PY,
        "shop/__init__.py": "",
        "shop/pay.py": "from pay import echo  # the app folder is on sys.path\n",
        "echo.lua": ECHO_LUA,
        "wf.lua": ROUND_TRIP_WF,
        "errors_wf.lua": ERRORS_WF,
    }


@pytest.fixture
def pyapp(make_app):
    return make_app(
        entries()
        + py_entry("py_module", "echo", module=True)
        + activity_entry("lua_echo", "echo.lua", "echo")
        + workflow_entry("wf", "wf.lua")
        + workflow_entry("errors_wf", "errors_wf.lua"),
        files(),
    )


ROUND_TRIP = {"items": [], "meta": {}, "n": 9007199254740993, "f": 1.0}
ROUND_TRIP_TEXT = '{"f": 1.0, "items": [], "meta": {}, "n": 9007199254740993}'


def canonical(value: Any) -> str:
    """JSON text with sorted keys: ``1.0`` and ``1`` differ, so do ``{}`` and ``[]``."""
    return json.dumps(value, sort_keys=True)


async def test_python_and_lua_activities_round_trip_the_same_json(dev_env, pyapp):
    async with pyapp.workers(dev_env):
        raw = await dev_env.client.execute_workflow(
            "app:wf",
            ROUND_TRIP,
            id=f"py-{uuid.uuid4()}",
            task_queue=pyapp.task_queue,
            result_type=RawValue,
        )
    text = raw.payload.data.decode()
    result = json.loads(text)
    assert canonical(ROUND_TRIP) == ROUND_TRIP_TEXT
    assert canonical(result["py"]) == ROUND_TRIP_TEXT, text
    assert canonical(result["lua"]) == ROUND_TRIP_TEXT, text
    assert canonical(result["module"]) == ROUND_TRIP_TEXT, text
    assert canonical(result["async"]) == canonical({"async": True, "value": ROUND_TRIP}), text
    # the exact digits travel: not 9007199254740992 (a float on the way would round it)
    assert "9007199254740993" in text and "1.0" in text


async def test_errors_keep_kind_and_retryable_like_lua_ones(dev_env, pyapp, tmp_path):
    marker = tmp_path / "attempts.txt"
    async with pyapp.workers(dev_env):
        result = await dev_env.client.execute_workflow(
            "app:errors_wf",
            str(marker),
            id=f"pyerr-{uuid.uuid4()}",
            task_queue=pyapp.task_queue,
        )
    assert result["declined"] == {
        "kind": "Invalid",
        "retryable": False,
        "message": "card declined",
        "details": {"amount": 12},
    }
    assert result["unavailable"] == {
        "kind": "Unavailable",
        "retryable": True,
        "message": "bank offline",
    }
    boom = result["boom"]
    assert boom["kind"] == "Internal" and boom["retryable"] is False, boom
    line = PAY_PY.splitlines().index("    raise ValueError(text)") + 1
    assert boom["message"] == f"pay.py:{line}: ValueError: bad card", boom
    # an async function: a result Lua cannot hold (a non-string key) is Invalid, named
    assert result["boom_async"]["kind"] == "Invalid", result
    assert result["boom_async"]["retryable"] is False
    assert "keys must be strings" in result["boom_async"]["message"]
    assert result["bad_result"]["kind"] == "Invalid"
    assert "result.ids: set is not a JSON value" in result["bad_result"]["message"]
    # a retryable error is retried by Temporal; the function sees activity.info()
    assert result["second_try"] == {"value": {"attempt": 2, "type": "app:second_try"}}
    assert marker.read_text().split() == ["1", "2"]
    # a result over Temporal's payload limit fails the call (not the workflow), naming the sizes
    too_big = result["too_big"]
    assert (too_big["kind"], too_big["retryable"]) == ("Invalid", False), too_big
    assert "activity app:big result: 3000" in too_big["message"], too_big
    assert "over the 2097152-byte (2.0 MB) payload limit" in too_big["message"], too_big
    # so does the function's own ApplicationError over the limit (before, it was sent as it
    # was: the server dropped the completion and the call waited out its timeout)
    huge = result["huge_error"]
    assert (huge["kind"], huge["retryable"]) == ("Invalid", False), huge
    assert huge["message"].startswith("an error of kind Declined was 3"), huge["message"][:200]
    assert "payload limit" in huge["message"] and huge["message"].endswith("y..."), huge
    assert huge["details"]["kind"] == "Declined" and huge["details"]["size"] > 3000000, huge


def _app_with_main(root: Path, py_entries: str, main_kind: str, main_lua: str) -> Path:
    """An app in ``root`` (no Temporal entries): ``py_entries`` on pay.py, and app:main, a
    ``main_kind`` entry running ``main_lua`` with the funcs module."""
    root.mkdir()
    main = f"""
    - name: main
      kind: {main_kind}
      source: file://main.lua
      method: main
      modules: [funcs]
    """
    (root / "app.yaml").write_text(
        'version: "1.0"\nnamespace: app\nentries:\n'
        + textwrap.indent(textwrap.dedent(py_entries) + textwrap.dedent(main), "  ")
    )
    (root / "pay.py").write_text(PAY_PY)
    (root / "main.lua").write_text(main_lua)
    return root


async def test_a_process_calls_python_functions(tmp_path):
    root = _app_with_main(tmp_path / "procapp", entries(activity=False), "process.lua", PROCESS_LUA)
    app = load_app(root)
    async with ProcessNode(app) as node:
        outcome = await asyncio.wait_for(node.run("app:main", [ROUND_TRIP]), 60)
    assert outcome.ok, outcome.error
    value = outcome.value
    assert canonical(value["value"]) == ROUND_TRIP_TEXT
    assert canonical(value["async"]) == canonical({"async": True, "value": ROUND_TRIP})
    assert value["errs"] == [False, False]
    assert value["declined"] == {
        "kind": "Invalid",
        "retryable": False,
        "message": "card declined",
        "details": {"amount": 7},
    }
    assert value["boom"]["kind"] == "Internal" and value["boom"]["retryable"] is False
    assert value["boom"]["message"].endswith("ValueError: from a process"), value
    assert value["bad"]["kind"] == "Invalid"


CLI_MAIN_LUA = """\
local funcs = require("funcs")
local function main(name)
  local value, err = funcs.call("app:py_echo", {name = name, n = 9007199254740993})
  if err then
    return nil, err
  end
  return value
end
return { main = main }
"""


def test_moonflow_run_x_calls_a_python_function(tmp_path):
    root = _app_with_main(
        tmp_path / "cliapp",
        py_entry("py_echo", "echo", activity=False),
        "function.lua",
        CLI_MAIN_LUA,
    )
    done = subprocess.run(
        [sys.executable, "-m", "moonflow", "run", str(root), "-x", "app:main", "ada"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"name": "ada", "n": 9007199254740993}


LOCAL_WF = """\
local funcs = require("funcs")
local function main(input)
  return funcs.call("app:py_local", input)
end
return { main = main }
"""


async def test_a_local_python_activity(dev_env, make_app):
    app = make_app(
        py_entry("py_local", "echo_async").replace(
            "worker: app:worker}", "worker: app:worker, local: true}"
        )
        + workflow_entry("wf", "wf.lua"),
        {"pay.py": PAY_PY, "wf.lua": LOCAL_WF},
    )
    assert app.app.spec("app:py_local").activity_local is True
    workflow_id = f"pylocal-{uuid.uuid4()}"
    async with app.workers(dev_env):
        result = await dev_env.client.execute_workflow(
            "app:wf", ROUND_TRIP, id=workflow_id, task_queue=app.task_queue
        )
    assert canonical(result) == canonical({"async": True, "value": ROUND_TRIP})
    events = await history_events(dev_env, workflow_id)
    types = [e["eventType"] for e in events]
    assert "EVENT_TYPE_MARKER_RECORDED" in types, types
    assert "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED" not in types, types


SLOW_PY = """\
import asyncio

from temporalio import activity


async def slow(marker):
    try:
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        with open(marker, "w") as f:
            f.write("cancelled")
        raise
"""

CANCEL_WF = """\
local funcs = require("funcs")
local time = require("time")
local function main(marker)
  local opts = { ["activity.heartbeat_timeout"] = "5s" }
  local f = funcs.new():with_options(opts):async("app:slow", marker)
  time.sleep("1s")
  f:cancel()
  time.sleep("3s")
  local _, err = f:result()
  return err:kind()
end
return { main = main }
"""


async def test_a_cancelled_async_python_activity_is_cancelled_at_its_await(
    dev_env, make_app, tmp_path
):
    app = make_app(
        py_entry("slow", "slow").replace("file://pay.py", "file://slow.py")
        + workflow_entry("wf", "wf.lua"),
        {"slow.py": SLOW_PY, "wf.lua": CANCEL_WF},
    )
    marker = tmp_path / "cancelled.txt"
    async with app.workers(dev_env):
        kind = await dev_env.client.execute_workflow(
            "app:wf", str(marker), id=f"pycancel-{uuid.uuid4()}", task_queue=app.task_queue
        )
    assert kind == "Canceled"
    assert marker.read_text() == "cancelled"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def moonflow_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moonflow", "check", str(root)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )


@pytest.mark.parametrize(
    ("entry", "files_", "expected"),
    [
        (
            "source: file://missing.py\n    method: charge",
            {},
            "source file not found",
        ),
        (
            "source: file://pay.py\n    method: refund",
            {"pay.py": "def charge(x):\n    return x\n"},
            'method "refund" is not defined in pay.py (it defines: charge)',
        ),
        (
            "source: file://pay.py\n    method: RATE",
            {"pay.py": "RATE = 3\n"},
            'method "RATE" of pay.py is a int, not a function',
        ),
        (
            "module: shop.nothere\n    method: charge",
            {},
            "module shop.nothere not found",
        ),
        (
            "source: file://pay.py\n    method: charge",
            {"pay.py": "def charge(x):\n    return x\n\n1 / 0\n"},
            "pay.py:4: app:charge: importing pay.py failed: ZeroDivisionError",
        ),
        (  # review of issue 16, item 5: Lua cannot pass keyword arguments
            "source: file://pay.py\n    method: charge",
            {"pay.py": "\n\ndef charge(a, *, must, may=1):\n    return a\n"},
            'method "charge" (pay.py:3) has required keyword-only parameters (must), which no '
            "call can fill",
        ),
    ],
)
def test_check_names_a_bad_python_entry_in_one_line(tmp_path, entry, files_, expected):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "app.yaml").write_text(
        f'version: "1.0"\nnamespace: app\nentries:\n  - name: charge\n    kind: function.py\n'
        f"    {entry}\n"
    )
    for name, text in files_.items():
        (root / name).write_text(text)
    done = moonflow_check(root)
    assert done.returncode != 0, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert expected in lines[0], lines[0]


def test_check_accepts_a_good_python_entry(tmp_path):
    root = tmp_path / "good"
    root.mkdir()
    (root / "app.yaml").write_text(
        'version: "1.0"\nnamespace: app\nentries:\n  - name: charge\n    kind: function.py\n'
        "    source: file://pay.py\n    method: charge\n"
    )
    (root / "pay.py").write_text("async def charge(x):\n    return x\n")
    done = moonflow_check(root)
    assert done.returncode == 0, done.stderr
    assert "1 function.py" in done.stdout


# ---- the README's example runs as written -------------------------------------------------------
README = Path(__file__).resolve().parents[2] / "README.md"
README_BLOCK = re.compile(r"```(?:yaml|python|lua)\n(?:#|--) pyact/([\w.]+)[^\n]*\n(.*?)```", re.S)


async def test_the_readme_example(dev_env, make_app):
    blocks = dict(README_BLOCK.findall(README.read_text()))
    assert set(blocks) == {"entries.yaml", "payments.py", "checkout.lua"}
    app = make_app(
        blocks["entries.yaml"] + workflow_entry("checkout", "checkout.lua"),
        {"payments.py": blocks["payments.py"], "checkout.lua": blocks["checkout.lua"]},
    )
    async with app.workers(dev_env):
        ok = await dev_env.client.execute_workflow(
            "app:checkout",
            {"id": 7, "amount": 250},
            id=f"readme-py-{uuid.uuid4()}",
            task_queue=app.task_queue,
        )
        assert ok == {"charge": {"id": "ch-7", "amount": 250}, "refund": {"refunded": "ch-7"}}
        with pytest.raises(WorkflowFailureError) as failed:
            await dev_env.client.execute_workflow(
                "app:checkout",
                {"id": 8, "amount": 5000},
                id=f"readme-py-{uuid.uuid4()}",
                task_queue=app.task_queue,
            )
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message, cause.non_retryable) == ("Invalid", "over the limit", True)
    assert cause.details[0][0]["details"] == {"limit": 1000}


# ---- moonflow test: test.mock_activity stubs a Python activity as it stubs a Lua one -----------
STUB_APP_YAML = app_index(
    "py-stubs",
    """\
  - name: processes
    kind: process.host
  - name: wf
    kind: workflow.lua
    source: file://wf.lua
    method: main
    modules: [funcs]
    meta: {temporal: {workflow: {worker: app:worker}}}
  - name: charge
    kind: function.py
    source: file://pay.py
    method: charge
    meta: {temporal: {activity: {worker: app:worker}}}
  - name: refund
    kind: function.py
    source: file://pay.py
    method: refund
    meta: {temporal: {activity: {worker: app:worker}}}
  - name: stubbed
    kind: function.lua
    source: file://tests.lua
    method: stubbed
    modules: [test]
    meta: {type: test}
  - name: real
    kind: function.lua
    source: file://tests.lua
    method: real
    modules: [test]
    meta: {type: test}
""",
)

STUB_PAY_PY = """\
def charge(amount):
    return {"charged": amount, "by": "python"}


async def refund(amount):
    return {"refunded": amount, "by": "python"}
"""

STUB_WF_LUA = """\
local funcs = require("funcs")
local function main(amount)
  local charged, err = funcs.call("app:charge", amount)
  if err then return nil, err end
  local refunded, err2 = funcs.call("app:refund", amount)
  if err2 then return nil, err2 end
  return { charge = charged.by, refund = refunded.by }
end
return { main = main }
"""

STUB_TESTS_LUA = """\
local test = require("test")

local function stubbed()
  test.mock_activity("app:charge", { result = { by = "fixed result" } })
  test.mock_activity("app:refund", function(amount) return { by = "stub " .. amount } end)
  local result, err = process.exec("app:wf", "app:worker", 3)
  if err then return nil, err end
  if result.charge ~= "fixed result" or result.refund ~= "stub 3" then
    return nil, "stubs not used: " .. result.charge .. ", " .. result.refund
  end
  return true
end

local function real()
  local result, err = process.exec("app:wf", "app:worker", 4)
  if err then return nil, err end
  if result.charge ~= "python" or result.refund ~= "python" then
    return nil, "a stub leaked: " .. result.charge .. ", " .. result.refund
  end
  return true
end

return { stubbed = stubbed, real = real }
"""


def test_moonflow_test_stubs_python_activities(tmp_path):
    root = tmp_path / "stubapp"
    root.mkdir()
    for name, text in {
        "_index.yaml": STUB_APP_YAML,
        "pay.py": STUB_PAY_PY,
        "wf.lua": STUB_WF_LUA,
        "tests.lua": STUB_TESTS_LUA,
    }.items():
        (root / name).write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "moonflow", "test", str(root)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().splitlines()[-1] == "2 passed, 0 failed", done.stdout


HEARTBEAT_PY = """\
from temporalio import activity

from moonflow import errors


def beat_big(marker):
    with open(marker, "a") as f:
        f.write("x")
    activity.heartbeat("h" * 3_000_000)
    return "not reached"


async def beat_big_async(marker):
    with open(marker, "a") as f:
        f.write("x")
    activity.heartbeat("h" * 3_000_000)
    return "not reached"


def beat_caught(marker):
    try:
        activity.heartbeat("h" * 3_000_000)
    except errors.Error as e:
        activity.heartbeat("small")  # a small heartbeat still goes out
        return e.info.kind
    return "no error"
"""

HEARTBEAT_WF = """\
local funcs = require("funcs")
local function shape(v, err)
  if err then return {kind = err:kind(), retryable = err:retryable(), message = err:message()} end
  return {value = v}
end
local function main(markers)
  return {
    sync = shape(funcs.call("app:beat_big", markers[1])),
    async = shape(funcs.call("app:beat_big_async", markers[2])),
    caught = shape(funcs.call("app:beat_caught", markers[3])),
  }
end
return { main = main }
"""


async def test_an_oversized_python_heartbeat_is_invalid_not_retried(dev_env, make_app, tmp_path):
    # review of issue 16, item 1: the SDK's encoder refused the details after the call
    # returned, failing the attempt with an empty kind, retryable: retried forever
    app = make_app(
        "".join(
            py_entry(n, n).replace("file://pay.py", "file://beat.py")
            for n in ("beat_big", "beat_big_async", "beat_caught")
        )
        + workflow_entry("wf", "wf.lua"),
        {"beat.py": HEARTBEAT_PY, "wf.lua": HEARTBEAT_WF},
    )
    markers = [str(tmp_path / f"attempts{i}.txt") for i in range(3)]
    async with app.workers(dev_env):
        handle = await dev_env.client.start_workflow(
            "app:wf", markers, id=f"pybeat-{uuid.uuid4()}", task_queue=app.task_queue
        )
        out = await asyncio.wait_for(handle.result(), 90)
    for case in ("sync", "async"):
        got = out[case]
        assert got["kind"] == "Invalid", got
        assert got["retryable"] is False, got
        assert got["message"].startswith(
            f"app:{'beat_big' if case == 'sync' else 'beat_big_async'}: "
            "temporalio.activity.heartbeat details: "
        ), got
        assert "over the 2097152-byte (2.0 MB) payload limit" in got["message"], got
    # one attempt each: not retried
    assert Path(markers[0]).read_text() == "x"
    assert Path(markers[1]).read_text() == "x"
    assert out["caught"] == {"value": "Invalid"}
