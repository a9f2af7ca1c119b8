"""The ``hash`` Lua module: published vectors (digests, FNV, HMAC), binary input, raw output,
invalid arguments, and the instruction budget charged for its work."""

from __future__ import annotations

import hashlib
import time

import pytest

from moonflow.lua import LuaRun, RunStopped

from .helpers import RecordingHost, new_state, run

PRELUDE = r"""
local hash = M('hash')
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end
local function unhex(h) return (h:gsub('..', function(x) return string.char(tonumber(x, 16)) end)) end
local ALL = {} for i = 0, 255 do ALL[#ALL + 1] = string.char(i) end ALL = table.concat(ALL)
"""
ALL = bytes(range(256))


@pytest.fixture(params=["activity", "workflow"])
def state(request):
    return new_state(request.param)


def lua(state, src):
    return run(state, PRELUDE + src)


@pytest.mark.parametrize(
    "fn, data, expected",
    [
        # FIPS 180-2 / RFC 1321 examples
        ("md5", "", "d41d8cd98f00b204e9800998ecf8427e"),
        ("md5", "abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("sha1", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("sha256", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("sha256", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (
            "sha512",
            "abc",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
        # FNV: the published offset bases and Go's hash/fnv golden values
        ("fnv32", "", "811c9dc5"),
        ("fnv32", "a", "050c5d7e"),
        ("fnv32", "ab", "70772d38"),
        ("fnv32", "abc", "439c2f4b"),
        ("fnv32a", "", "811c9dc5"),
        ("fnv32a", "a", "e40c292c"),
        ("fnv32a", "ab", "4d2505ca"),
        ("fnv32a", "abc", "1a47e90b"),
        ("fnv64", "", "cbf29ce484222325"),
        ("fnv64", "a", "af63bd4c8601b7be"),
        ("fnv64", "ab", "08326707b4eb37b8"),
        ("fnv64", "abc", "d8dcca186bafadcb"),
        ("fnv64a", "", "cbf29ce484222325"),
        ("fnv64a", "a", "af63dc4c8601ec8c"),
        ("fnv64a", "ab", "089c4407b545986a"),
        ("fnv64a", "abc", "e71fa2190541574b"),
    ],
)
def test_known_digests(state, fn, data, expected):
    assert lua(state, f"return hash.{fn}({data!r})") == [expected, None]


@pytest.mark.parametrize(
    "fn, size",
    [
        ("md5", 16),
        ("sha1", 20),
        ("sha256", 32),
        ("sha512", 64),
        ("fnv32", 4),
        ("fnv32a", 4),
        ("fnv64", 8),
        ("fnv64a", 8),
    ],
)
def test_raw_digest_is_the_bytes_of_the_hex(state, fn, size):
    n, same = lua(state, f"local r = hash.{fn}(ALL, true) return #r, hex(r) == hash.{fn}(ALL)")
    assert (n, same) == (size, True)


@pytest.mark.parametrize("fn", ["md5", "sha1", "sha256", "sha512"])
def test_binary_input_with_nul_and_high_bytes(state, fn):
    assert lua(state, f"return (hash.{fn}(ALL))") == [hashlib.new(fn, ALL).hexdigest()]


def test_binary_input_changes_the_digest_per_byte(state):
    # "\0", "\0\0", "\255" and "\195\191" (UTF-8 of U+00FF) must stay distinct byte strings
    assert lua(
        state,
        "return (hash.sha256('\\0')), (hash.sha256('\\0\\0')), (hash.sha256('\\255')), "
        "(hash.sha256('\\195\\191'))",
    ) == [hashlib.sha256(b).hexdigest() for b in (b"\0", b"\0\0", b"\xff", b"\xc3\xbf")]


def test_utf8_text_is_hashed_as_its_bytes(state):
    text = "héllo ✓"
    assert lua(state, f"return (hash.sha1({text!r}))") == [hashlib.sha1(text.encode()).hexdigest()]


def test_numbers_are_hashed_as_their_tostring(state):
    assert lua(state, "return (hash.md5(42)), (hash.md5(1.5)), (hash.fnv32a(3.0))") == [
        hashlib.md5(b"42").hexdigest(),
        hashlib.md5(b"1.5").hexdigest(),
        lua(state, "return (hash.fnv32a('3.0'))")[0],
    ]


# RFC 2104 (MD5), RFC 2202 (SHA-1) and RFC 4231 (SHA-2) test case 2: key "Jefe".
JEFE = {
    "hmac_md5": "750c783e6ab0b503eaa86e310a5db738",
    "hmac_sha1": "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
    "hmac_sha256": "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    "hmac_sha512": "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
    "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
}


@pytest.mark.parametrize("fn", sorted(JEFE))
def test_hmac_known_answers_data_first(state, fn):
    assert lua(state, f"return hash.{fn}('what do ya want for nothing?', 'Jefe')") == [
        JEFE[fn],
        None,
    ]


def test_hmac_binary_key_rfc4231_case_1(state):
    # key = 20 bytes of 0x0b, data = "Hi There"
    assert lua(state, "return (hash.hmac_sha256('Hi There', string.rep('\\11', 20)))") == [
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    ]


def test_hmac_raw(state):
    n, same = lua(
        state,
        "local r = hash.hmac_sha512(ALL, ALL, true) return #r, hex(r) == hash.hmac_sha512(ALL, ALL)",
    )
    assert (n, same) == (64, True)


@pytest.mark.parametrize(
    "call",
    [
        "hash.sha256(nil)",
        "hash.sha256({})",
        "hash.sha256(true)",
        "hash.md5()",
        "hash.sha1(print)",
        "hash.sha512(nil)",
        "hash.fnv32(nil)",
        "hash.fnv64a({})",
        "hash.sha256('x', 'yes')",  # raw must be a boolean
        "hash.fnv64('x', 1)",
        "hash.hmac_sha256(nil, 'k')",
        "hash.hmac_sha256('d', nil)",
        "hash.hmac_sha256('d', 42)",  # a secret must be a string
        "hash.hmac_md5('d', {})",
        "hash.hmac_sha1({}, 'k')",
        "hash.hmac_sha512('d', 'k', 'raw')",
    ],
)
def test_invalid_arguments(state, call):
    value, kind, retryable, message = lua(
        state, f"local v, e = {call} return v, e:kind(), e:retryable(), e:message()"
    )
    assert value is None and kind == "Invalid" and retryable is False
    assert message.startswith("hash.")


def test_error_messages_do_not_show_secrets(state):
    [message] = lua(
        state, "local _, e = hash.hmac_sha256('d', 'k', 'topsecret') return e:message()"
    )
    assert "topsecret" not in message


def test_extra_arguments_and_nil_error_pass_through(state):
    # hash.sha256(hash.sha256("abc")) passes the nil error as `raw`: ignored
    assert lua(state, "return hash.sha256(hash.sha256('abc'))") == [
        hashlib.sha256(hashlib.sha256(b"abc").hexdigest().encode()).hexdigest(),
        None,
    ]


def test_fnv_over_megabytes_is_charged_to_the_budget():
    # FNV is a Python loop (~140 ns a byte): a loop of it must stop at the budget, not hold
    # the state for minutes.
    host = RecordingHost()
    state = LuaRun("activity", host, instruction_budget=50_000_000)
    host.state = state
    env = state.new_env()
    env["M"] = state.module
    fn = state.sys.raw.load(
        "local h = M('hash') local s = string.rep('x', 1 << 20) "
        "done = 0 for i = 1, 1000 do h.fnv64a(s) done = i end",
        "=fnv",
        "t",
        env,
    )
    t = time.perf_counter()
    with pytest.raises(RunStopped) as stopped:
        state.guarded_pcall(fn)
    assert stopped.value.reason == "budget"
    # ~24 instructions a byte: the 50M budget covers about 2 MB of FNV
    assert env["done"] <= 2
    assert time.perf_counter() - t < 2
