"""``crypto``, ``hash`` and ``base64`` in a real workflow and activity on the time-skipping server.

The workflow draws random bytes, a random string and UUIDs, encrypts with AES-GCM, hashes and
base64-encodes, hands those values to an activity (so the first execution's values are written
to history as the activity's input and come back as its recorded result), sleeps on a durable
timer, then decrypts and compares. With the workflow cache off every workflow task replays the
run from the start, so the values recomputed after the timer are only equal to the recorded
ones if the module's randomness is replay-safe (lua-api.md §2.0, reference-runtime.md §3).
The recorded history is then replayed with :func:`moonflow.testing.replay` (no
nondeterminism error) and the ciphertext is checked with another AES-GCM implementation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from moonflow.testing import replay

from .conftest import activity_entry, workflow_entry

pytestmark = pytest.mark.integration

WORKFLOW_LUA = """\
local funcs = require("funcs")
local time = require("time")
local crypto = require("crypto")
local hash = require("hash")
local base64 = require("base64")
local uuid = require("uuid")

local function main(input)
    local key = crypto.random.bytes(32)
    local blob = crypto.random.bytes(64) -- binary: NUL and high bytes likely
    local ct, err = crypto.encrypt.aes(input.plaintext, key, "order")
    if err then
        return nil, err
    end
    local blob_ct = crypto.encrypt.aes(blob, key)
    local before = {
        key = base64.encode(key),
        token = crypto.random.string(24),
        id = uuid.v4(),
        rid = crypto.random.uuid(),
        ct = base64.encode(ct),
        ct_hash = hash.sha256(ct),
        blob = base64.url_encode(blob),
    }
    -- The activity's input is this execution's values; its result comes back from history
    -- in every later replay.
    local recorded, aerr = funcs.call("app:check", before)
    if aerr then
        return nil, aerr
    end

    time.sleep("1h")

    local pt, derr = crypto.decrypt.aes(ct, key, "order")
    if derr then
        return nil, derr
    end
    local blob_pt = crypto.decrypt.aes(blob_ct, key)
    local same = true
    for k, v in pairs(before) do
        if recorded.echo[k] ~= v then
            same = false
        end
    end
    return {
        before = before,
        recorded = recorded,
        same_as_recorded = same,
        decrypted = pt,
        plaintext_ok = pt == input.plaintext,
        blob_ok = blob_pt == blob and base64.url_decode(before.blob) == blob,
        later = base64.encode(crypto.random.bytes(16)), -- drawn after the timer
    }
end

return { main = main }
"""

ACTIVITY_LUA = """\
local crypto = require("crypto")
local hash = require("hash")
local base64 = require("base64")

local function check(rec)
    local key = base64.decode(rec.key)
    local ct, err = base64.decode(rec.ct)
    if err then
        return nil, err
    end
    local pt, derr = crypto.decrypt.aes(ct, key, "order")
    if derr then
        return nil, derr
    end
    return {
        echo = rec,
        plaintext = pt,
        ct_hash = hash.sha256(ct),
        mac = crypto.hmac.sha256(key, pt),
        fnv = hash.fnv64a(pt),
        nonce = base64.encode(crypto.random.bytes(12)),
    }
end

return { check = check }
"""

PLAINTEXT = "héllo\u0000wörld: order 42 ✓"
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _app(make_app):
    return make_app(
        workflow_entry("flow", "flow.lua", "[funcs, time, crypto, hash, base64, uuid]")
        + activity_entry("check", "check.lua", "check", "[crypto, hash, base64]"),
        {"flow.lua": WORKFLOW_LUA, "check.lua": ACTIVITY_LUA},
    )


@pytest.mark.parametrize("no_cache", [True, False], ids=["no-cache", "cached"])
async def test_crypto_values_survive_replay(ts_env, make_app, no_cache):
    app = _app(make_app)
    app.no_cache = no_cache  # max_cached_workflows=0: every task replays from the start
    wid = f"crypto-{uuid.uuid4()}"
    result = await app.execute(ts_env, "app:flow", {"plaintext": PLAINTEXT}, id=wid)

    before, recorded = result["before"], result["recorded"]
    # recomputed after the timer (in a replay when the cache is off) == recorded before it
    assert result["same_as_recorded"] is True
    assert recorded["echo"] == before
    assert result["decrypted"] == PLAINTEXT and result["plaintext_ok"] is True
    assert result["blob_ok"] is True

    key = base64.b64decode(before["key"])
    ct = base64.b64decode(before["ct"])
    assert len(key) == 32 and len(ct) == 12 + len(PLAINTEXT.encode()) + 16
    assert AESGCM(key).decrypt(ct[:12], ct[12:], b"order") == PLAINTEXT.encode()
    assert before["ct_hash"] == hashlib.sha256(ct).hexdigest()
    assert re.fullmatch(r"[A-Za-z0-9]{24}", before["token"])
    assert UUID4.fullmatch(before["id"]) and UUID4.fullmatch(before["rid"])
    assert before["id"] != before["rid"]
    assert len(base64.urlsafe_b64decode(before["blob"])) == 64
    assert len(base64.b64decode(result["later"])) == 16

    # the activity (function.lua) decrypted and hashed what the workflow made
    assert recorded["plaintext"] == PLAINTEXT
    assert recorded["ct_hash"] == before["ct_hash"]
    assert recorded["mac"] == hmac.new(key, PLAINTEXT.encode(), hashlib.sha256).hexdigest()
    assert len(recorded["fnv"]) == 16
    assert len(base64.b64decode(recorded["nonce"])) == 12

    # the recorded history replays against the same code without a nondeterminism error
    history = await ts_env.client.get_workflow_handle(wid).fetch_history()
    await replay(app.app, history)
