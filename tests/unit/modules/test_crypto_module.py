"""The ``crypto`` Lua module: randomness, AEAD (AES-GCM, ChaCha20-Poly1305), HMAC, PBKDF2;
known answers, binary round trips, invalid arguments, and replay-safe randomness in workflows."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from moonflow.lua import LuaRun, RunStopped

from .helpers import FakeWorkflowHost, RecordingHost, new_state, run

PRELUDE = r"""
local crypto = M('crypto')
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end
local function unhex(h) return (h:gsub('..', function(x) return string.char(tonumber(x, 16)) end)) end
local ALL = {} for i = 0, 255 do ALL[#ALL + 1] = string.char(i) end ALL = table.concat(ALL)
"""
ALL = bytes(range(256))
NOW = 1_700_000_000_000_000_000
V4S = ["0b9e7e2a-5a3f-4a8e-9a67-2d3f0d6c1a01", "4d3b7f71-2f7a-4b0b-8d52-0a7e1e6c9b02"]


def workflow_state(seed=7):
    return new_state("workflow", FakeWorkflowHost(NOW, seed, V4S))


@pytest.fixture(params=["activity", "workflow"])
def state(request):
    return new_state("activity") if request.param == "activity" else workflow_state()


def lua(state, src):
    return run(state, PRELUDE + src)


def invalid(state, call):
    """(message) of a call that must give nil, err with kind Invalid, not retryable."""
    value, kind, retryable, message = lua(
        state, f"local v, e = {call} return v, e:kind(), e:retryable(), e:message()"
    )
    assert (value, kind, retryable) == (None, "Invalid", False), (call, message)
    return message


# ---- random ------------------------------------------------------------------------------
def test_random_bytes_length_and_content(state):
    n0, n1, n32, nbig, distinct = lua(
        state,
        """
        local a, b = crypto.random.bytes(32), crypto.random.bytes(32)
        local seen = {}
        for i = 1, #a do seen[a:byte(i)] = true end
        local big = crypto.random.bytes(100000)
        local counts = {}
        for i = 1, #big do counts[big:byte(i)] = true end
        local distinct = 0 for _ in pairs(counts) do distinct = distinct + 1 end
        return #crypto.random.bytes(0), #crypto.random.bytes(1), #a, #big, distinct
        """,
    )
    assert (n0, n1, n32, nbig) == (0, 1, 32, 100000)
    assert distinct == 256  # every byte value, high bytes and NUL included


def test_random_bytes_differ_between_calls(state):
    a, b = lua(state, "return hex(crypto.random.bytes(16)), hex(crypto.random.bytes(16))")
    assert a != b


def test_random_bytes_accepts_an_integral_float(state):
    assert lua(state, "return #crypto.random.bytes(8.0)") == [8]


def test_random_string_default_charset(state):
    s, err = lua(state, "return crypto.random.string(500)")
    assert err is None
    assert re.fullmatch(r"[A-Za-z0-9]{500}", s)
    assert len(set(s)) > 40


def test_random_string_charset_of_characters(state):
    [s] = lua(state, "return (crypto.random.string(300, 'äb✓'))")
    assert len(s) == 300 and set(s) == {"ä", "b", "✓"}
    assert lua(state, "return (crypto.random.string(0)), crypto.random.string(5, 'x')") == [
        "",
        "xxxxx",
        None,
    ]


def test_random_string_is_roughly_uniform(state):
    [s] = lua(state, "return (crypto.random.string(30000, 'abc'))")
    for c in "abc":
        assert 9000 < s.count(c) < 11000


def test_random_uuid(state):
    value, err = lua(state, "return crypto.random.uuid()")
    assert err is None
    assert uuid.UUID(value).version == 4 and value == value.lower()


@pytest.mark.parametrize(
    "call",
    [
        "crypto.random.bytes(-1)",
        "crypto.random.bytes(1.5)",
        "crypto.random.bytes('8')",
        "crypto.random.bytes(nil)",
        "crypto.random.bytes(true)",
        "crypto.random.bytes(1048577)",
        "crypto.random.bytes(1e300)",
        "crypto.random.string(-1)",
        "crypto.random.string(nil)",
        "crypto.random.string(1048577)",
        "crypto.random.string(2, '')",
        "crypto.random.string(2, {})",
        "crypto.random.string(2, 5)",
        "crypto.random.string(2, '\\255\\254')",  # not UTF-8
    ],
)
def test_random_invalid_arguments(state, call):
    assert invalid(state, call).startswith("crypto.random.")


def test_random_largest_size(state):
    assert lua(state, "return #crypto.random.bytes(1048576)") == [1 << 20]


# ---- AEAD --------------------------------------------------------------------------------
# McGrew & Viega, "The Galois/Counter Mode of Operation", test case 3 (AES-128, no AAD).
GCM_KEY = "feffe9928665731c6d6a8f9467308308"
GCM_IV = "cafebabefacedbaddecaf888"
GCM_P = (
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
GCM_C = (
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
)
GCM_T = "4d5c2af327cd64a62cf35abd2ba6fab4"
# RFC 8439 §2.8.2 (ChaCha20-Poly1305 AEAD).
CC_KEY = "".join(f"{i:02x}" for i in range(0x80, 0xA0))
CC_NONCE = "070000004041424344454647"
CC_AAD = "50515253c0c1c2c3c4c5c6c7"
CC_P = (
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
    "future, sunscreen would be it."
)
CC_C = (
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
    "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
    "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
    "3ff4def08e4b7a9de576d26586cec64b6116"
)
CC_T = "1ae10b594f09e26a7e902ecbd0600691"


def test_aes_gcm_known_answer_decrypts(state):
    assert lua(
        state,
        f"local p, e = crypto.decrypt.aes(unhex('{GCM_IV}{GCM_C}{GCM_T}'), unhex('{GCM_KEY}')) "
        "return hex(p), e",
    ) == [GCM_P, None]


def test_chacha20_poly1305_rfc8439_decrypts(state):
    assert lua(
        state,
        f"return (crypto.decrypt.chacha20(unhex('{CC_NONCE}{CC_C}{CC_T}'), unhex('{CC_KEY}'), "
        f"unhex('{CC_AAD}')))",
    ) == [CC_P]


@pytest.mark.parametrize("alg, key_len", [("aes", 16), ("aes", 24), ("aes", 32), ("chacha20", 32)])
def test_binary_round_trip(state, alg, key_len):
    size, same, err, ct_hex, key_hex = lua(
        state,
        f"""
        local key = crypto.random.bytes({key_len})
        local ct, e1 = crypto.encrypt.{alg}(ALL, key)
        local pt, e2 = crypto.decrypt.{alg}(ct, key)
        return #ct, pt == ALL, e1 or e2, hex(ct), hex(key)
        """,
    )
    assert err is None and same
    assert size == 12 + 256 + 16  # nonce, data, tag
    # the layout is the standard one: another implementation decrypts it
    ct, key = bytes.fromhex(ct_hex), bytes.fromhex(key_hex)
    cls = AESGCM if alg == "aes" else ChaCha20Poly1305
    assert cls(key).decrypt(ct[:12], ct[12:], None) == ALL


@pytest.mark.parametrize("alg", ["aes", "chacha20"])
def test_encrypt_output_decrypts_elsewhere_with_aad(state, alg):
    key = bytes(range(32))
    ct_hex, pt = lua(
        state,
        f"""
        local key = unhex('{key.hex()}')
        local ct = crypto.encrypt.{alg}('héllo', key, 'header\\0')
        return hex(ct), (crypto.decrypt.{alg}(ct, key, 'header\\0'))
        """,
    )
    assert pt == "héllo"
    ct = bytes.fromhex(ct_hex)
    cls = AESGCM if alg == "aes" else ChaCha20Poly1305
    assert cls(key).decrypt(ct[:12], ct[12:], b"header\0") == "héllo".encode()


@pytest.mark.parametrize("alg", ["aes", "chacha20"])
def test_nonces_differ_between_encryptions(state, alg):
    a, b = lua(
        state,
        f"local k = string.rep('k', 32) return hex(crypto.encrypt.{alg}('x', k)), "
        f"hex(crypto.encrypt.{alg}('x', k))",
    )
    assert a != b and a[:24] != b[:24]


@pytest.mark.parametrize("alg", ["aes", "chacha20"])
@pytest.mark.parametrize(
    "tamper",
    [
        "crypto.decrypt.{alg}(ct, string.rep('K', 32))",  # wrong key
        # one bit flipped (a byte replaced by a fixed one was that byte 1 time in 256: the
        # random nonce makes every ciphertext different, and the test failed then)
        "crypto.decrypt.{alg}(ct:sub(1, -2) .. string.char(ct:byte(-1) ~ 1), key)",  # tag
        "crypto.decrypt.{alg}(ct:sub(1, 12) .. string.char(ct:byte(13) ~ 1) .. ct:sub(14), key)",
        "crypto.decrypt.{alg}(ct, key, 'aad')",  # aad that was not used
        "crypto.decrypt.{alg}(ct2, key)",  # aad missing
        "crypto.decrypt.{alg}(ct2, key, 'other')",  # another aad
    ],
)
def test_authentication_failure_is_invalid(state, alg, tamper):
    call = tamper.format(alg=alg)
    message = invalid(
        state,
        f"(function() local key = string.rep('k', 32) "
        f"local ct = crypto.encrypt.{alg}('secret text', key) "
        f"local ct2 = crypto.encrypt.{alg}('secret text', key, 'aad') "
        f"return {call} end)()",
    )
    assert "authentication failed: the ciphertext or key is wrong" in message


@pytest.mark.parametrize(
    "call",
    [
        "crypto.encrypt.aes('x', string.rep('k', 15))",
        "crypto.encrypt.aes('x', string.rep('k', 33))",
        "crypto.encrypt.aes('x', '')",
        "crypto.encrypt.aes('x', nil)",
        "crypto.encrypt.aes('x', 1234567890123456)",  # a number is not a key
        "crypto.encrypt.aes(nil, string.rep('k', 16))",
        "crypto.encrypt.aes({}, string.rep('k', 16))",
        "crypto.encrypt.aes('x', string.rep('k', 16), 5)",  # aad must be a string
        "crypto.encrypt.chacha20('x', string.rep('k', 16))",
        "crypto.encrypt.chacha20('x', string.rep('k', 24))",
        "crypto.encrypt.chacha20(true, string.rep('k', 32))",
        "crypto.decrypt.aes(string.rep('c', 40), string.rep('k', 20))",
        "crypto.decrypt.aes(nil, string.rep('k', 16))",
        "crypto.decrypt.aes(42, string.rep('k', 16))",
        "crypto.decrypt.aes(string.rep('c', 27), string.rep('k', 16))",  # shorter than nonce+tag
        "crypto.decrypt.aes('', string.rep('k', 16))",
        "crypto.decrypt.chacha20(string.rep('c', 40), string.rep('k', 16))",
        "crypto.decrypt.chacha20(string.rep('c', 40), string.rep('k', 32), {})",
    ],
)
def test_aead_invalid_arguments(state, call):
    message = invalid(state, call)
    assert message.startswith(("crypto.encrypt.", "crypto.decrypt."))
    assert "kkkk" not in message  # keys are described, never shown


def test_empty_plaintext_and_number_plaintext(state):
    assert lua(
        state,
        "local k = string.rep('k', 32) "
        "return (crypto.decrypt.aes(crypto.encrypt.aes('', k), k)), "
        "(crypto.decrypt.chacha20(crypto.encrypt.chacha20(1.5, k), k))",
    ) == ["", "1.5"]


# ---- hmac, pbkdf2 ------------------------------------------------------------------------
def test_hmac_rfc4231_key_first(state):
    # RFC 4231 test case 2 (key "Jefe") and test case 1 (key 0x0b * 20, "Hi There")
    assert lua(
        state,
        "return (crypto.hmac.sha256('Jefe', 'what do ya want for nothing?')), "
        "(crypto.hmac.sha512('Jefe', 'what do ya want for nothing?')), "
        "(crypto.hmac.sha256(string.rep('\\11', 20), 'Hi There'))",
    ) == [
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
        "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ]


def test_hmac_binary_and_raw(state):
    h, n, same = lua(
        state,
        "local r = crypto.hmac.sha256(ALL, ALL, true) "
        "return (crypto.hmac.sha256(ALL, ALL)), #r, hex(r) == crypto.hmac.sha256(ALL, ALL)",
    )
    assert h == hmac.new(ALL, ALL, hashlib.sha256).hexdigest()
    assert (n, same) == (32, True)


def test_hmac_matches_hash_module_with_arguments_swapped(state):
    assert lua(
        state,
        "return crypto.hmac.sha512('key', 'data') == M('hash').hmac_sha512('data', 'key')",
    ) == [True]


@pytest.mark.parametrize(
    "password, salt, iterations, length, expected",
    [
        # RFC 7914 §11
        (
            "passwd",
            "salt",
            1,
            64,
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
            "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783",
        ),
        (
            "password",
            "salt",
            1,
            32,
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b",
        ),
        (
            "password",
            "salt",
            2,
            32,
            "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43",
        ),
        (
            "password",
            "salt",
            4096,
            32,
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a",
        ),
    ],
)
def test_pbkdf2_known_answers(state, password, salt, iterations, length, expected):
    assert lua(
        state,
        f"local k, e = crypto.pbkdf2({password!r}, {salt!r}, {iterations}, {length}) "
        "return #k, hex(k), e",
    ) == [length, expected, None]


def test_pbkdf2_binary_password_and_salt(state):
    [h] = lua(state, "return hex(crypto.pbkdf2(ALL, '\\0\\255', 3, 1024))")
    assert h == hashlib.pbkdf2_hmac("sha256", ALL, b"\0\xff", 3, 1024).hex()


@pytest.mark.parametrize(
    "call",
    [
        "crypto.pbkdf2('p', 's', 0, 32)",
        "crypto.pbkdf2('p', 's', 10000001, 32)",
        "crypto.pbkdf2('p', 's', 1.5, 32)",
        "crypto.pbkdf2('p', 's', nil, 32)",
        "crypto.pbkdf2('p', 's', '1000', 32)",
        "crypto.pbkdf2('p', 's', 1, 0)",
        "crypto.pbkdf2('p', 's', 1, 1025)",
        "crypto.pbkdf2('p', 's', 1, nil)",
        "crypto.pbkdf2('p', 's', 1, -5)",
        "crypto.pbkdf2(nil, 's', 1, 32)",
        "crypto.pbkdf2('p', {}, 1, 32)",
        "crypto.hmac.sha256(nil, 'data')",
        "crypto.hmac.sha256(42, 'data')",
        "crypto.hmac.sha256('key', nil)",
        "crypto.hmac.sha512('key', {})",
        "crypto.hmac.sha512('key', 'data', 1)",
    ],
)
def test_hmac_pbkdf2_invalid_arguments(state, call):
    assert invalid(state, call).startswith(("crypto.pbkdf2: ", "crypto.hmac."))


def test_pbkdf2_work_is_charged_to_the_budget():
    host = RecordingHost()
    state = LuaRun("activity", host, instruction_budget=50_000_000)
    host.state = state
    env = state.new_env()
    env["M"] = state.module
    fn = state.sys.raw.load(
        "local c = M('crypto') done = 0 "
        "for i = 1, 1000 do c.pbkdf2('p', 's', 2000000, 32) done = i end",
        "=kdf",
        "t",
        env,
    )
    t = time.perf_counter()
    with pytest.raises(RunStopped) as stopped:
        state.guarded_pcall(fn)
    assert stopped.value.reason == "budget"
    assert env["done"] == 0  # 2M iterations cost more than the whole budget: never started
    assert time.perf_counter() - t < 1


# ---- workflow determinism ----------------------------------------------------------------
DRAWS = """
local key = crypto.random.bytes(32)
return {
    bytes = hex(crypto.random.bytes(40)),
    text = crypto.random.string(30),
    custom = crypto.random.string(10, 'xyz'),
    uuid = crypto.random.uuid(),
    aes = hex(crypto.encrypt.aes('plain', key)),
    chacha = hex(crypto.encrypt.chacha20('plain', key)),
    key = hex(key),
}
"""


def test_workflow_randomness_repeats_on_replay():
    first = lua(workflow_state(seed=7), DRAWS)[0]
    replay = lua(workflow_state(seed=7), DRAWS)[0]  # a fresh state with the same host answers
    assert first == replay
    assert first["uuid"] == V4S[0]


def test_workflow_randomness_comes_from_the_seed():
    a = lua(workflow_state(seed=7), DRAWS)[0]
    b = lua(workflow_state(seed=8), DRAWS)[0]
    for field in ("bytes", "text", "aes", "chacha", "key"):
        assert a[field] != b[field], field


def test_a_replayed_encryption_decrypts_in_the_next_state():
    key = "string.rep('k', 32)"
    [ct] = lua(workflow_state(), f"return hex(crypto.encrypt.aes('the plaintext', {key}))")
    assert lua(workflow_state(), f"return (crypto.decrypt.aes(unhex('{ct}'), {key}))") == [
        "the plaintext"
    ]


def test_activity_randomness_is_not_seeded():
    a = lua(new_state("activity"), DRAWS)[0]
    b = lua(new_state("activity"), DRAWS)[0]
    assert a["bytes"] != b["bytes"] and a["key"] != b["key"]


def test_requiring_crypto_consumes_no_workflow_randomness():
    class CountingHost(FakeWorkflowHost):
        seeds = 0

        def random_seed(self) -> int:
            CountingHost.seeds += 1
            return 1

    state = new_state("workflow", CountingHost(NOW, 1, V4S))
    before = CountingHost.seeds
    lua(
        state,
        "return crypto.hmac.sha256('k', 'd'), crypto.random.uuid(), #crypto.pbkdf2('p', 's', 1, 8)",
    )
    assert CountingHost.seeds == before
    lua(
        state,
        "return #crypto.random.bytes(4), #crypto.random.string(4), "
        "#crypto.encrypt.aes('x', string.rep('k', 16))",
    )
    assert CountingHost.seeds == before + 1  # seeded once per state
