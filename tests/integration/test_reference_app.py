"""An app written for the reference runtime runs unchanged (issue #12): typed Lua in a workflow,
an activity and a library, ``string(x)``, ``unpack``, ``table.getn``, ``type`` aliases,
``interface``, casts (``as``, ``::``, ``!``), an unset global read as nil, the crypto, hash,
base64, uuid and env modules, and entries of kinds moonflow skips. The typed app and its plain
twin (``apps/reference_typed``, ``apps/reference_plain``) run on the time-skipping server with the
worker cache off (every workflow task replays the history so far) and return the same result,
which is also checked against values computed here in Python."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import uuid
from pathlib import Path

import pytest

from moonflow.cli import run
from moonflow.registry import load_app

from .conftest import TestApp

pytestmark = pytest.mark.integration

APPS = Path(__file__).parent / "apps"

ORDER = {
    "id": "o-42",
    "items": [
        {"sku": "tea", "qty": 2, "price": 3.25},
        {"sku": "cup", "qty": 1, "price": 7.5},
        {"sku": "pot", "qty": 3, "price": 1.1},
    ],
}


def _copy(name: str, tmp_path: Path) -> TestApp:
    root = tmp_path / name
    shutil.copytree(APPS / name, root)
    tq = f"tq-{uuid.uuid4().hex[:12]}"
    environ = {**os.environ, "REFERENCE_APP_TASK_QUEUE": tq}
    environ.pop("REFERENCE_APP_REGION", None)
    return TestApp(root=root, task_queue=tq, app=load_app(root, environ), no_cache=True)


def test_the_twins_differ_only_in_their_annotations() -> None:
    typed, plain = APPS / "reference_typed", APPS / "reference_plain"
    assert (typed / "_index.yaml").read_text() == (plain / "_index.yaml").read_text()
    assert sorted(p.name for p in typed.iterdir()) == sorted(p.name for p in plain.iterdir())
    assert "type Item" in (typed / "order_flow.lua").read_text()
    assert ":" not in (plain / "fmt.lua").read_text().split("function M.line")[1].split(")")[0]


async def test_typed_app_and_plain_twin_return_the_same_result(ts_env, tmp_path) -> None:
    results = []
    for name in ("reference_typed", "reference_plain"):
        app = _copy(name, tmp_path)
        results.append(await app.execute(ts_env, "app:order_flow", ORDER))
    typed, plain = results
    assert typed == plain

    total = sum(i["qty"] * i["price"] for i in ORDER["items"])
    assert typed["total"] == pytest.approx(total)
    assert typed["lines"] == [
        f"{i['sku']} x{i['qty']} = {i['qty'] * i['price']:.2f}" for i in ORDER["items"]
    ]
    assert typed["label"] == "3 items, first tea, then cup"
    canonical = "o-42|" + ",".join(i["sku"] for i in ORDER["items"])
    assert typed["check"] == hashlib.sha256(canonical.encode()).hexdigest()
    # the activity read REFERENCE_APP_REGION (unset here) through env.get: the default of
    # its env.variable entry; and it hashed string(total), which Lua writes with %.14g
    assert typed["ref"] == base64.urlsafe_b64encode(b"o-42@eu-west").decode()
    assert typed["digest"] == hashlib.md5(f"o-42:{total:.14g}".encode()).hexdigest()
    # AES-GCM: 12-byte nonce + ciphertext + 16-byte tag, decrypted after a replay
    assert typed["opened"] == "o-42"
    assert typed["key_len"] == 32
    assert typed["sealed_b64_len"] == len(base64.b64encode(bytes(12 + 4 + 16)))
    assert typed["id_version"] == 4
    assert typed["runs"] == 1  # each replay is a fresh run: the global starts unset again
    assert typed["three"] == 3


def test_check_says_which_entries_are_skipped(tmp_path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run(["check", str(APPS / "reference_typed")], out=out, err=err) == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("5 skipped")
    assert [line.split(" (")[0] for line in lines if line.startswith("note: skipped")] == [
        "note: skipped 3 entries",
        "note: skipped 2 entries",
    ]
    assert not [line for line in lines if line.startswith("warning")], lines
    assert lines[-1] == "ok"
