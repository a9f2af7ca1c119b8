"""The ``base64`` Lua module: RFC 4648 vectors, binary round trips, strict decoding."""

from __future__ import annotations

import base64

import pytest

from .helpers import new_state, run

# Lua helpers: binary strings cannot leave Lua as Python text, so tests compare hex.
PRELUDE = r"""
local b64 = M('base64')
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
    "plain, encoded",
    [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ],
)
def test_rfc4648_vectors(state, plain, encoded):
    assert lua(
        state,
        f"return b64.encode({plain!r}), b64.decode({encoded!r}), b64.url_encode({plain!r}), "
        f"b64.url_decode({encoded!r}), b64.url_decode({encoded.rstrip('=')!r})",
    ) == [encoded, plain, encoded, plain, plain, None]


def test_encode_returns_string_and_nil(state):
    assert lua(state, "return select('#', b64.encode('x')), b64.encode('x')") == [2, "eA==", None]


def test_binary_round_trip_with_nul_and_high_bytes(state):
    std, url, ok1, ok2, n1, n2 = lua(
        state,
        """
        local e, u = b64.encode(ALL), b64.url_encode(ALL)
        local d1, d2 = b64.decode(e), b64.url_decode(u)
        return e, u, d1 == ALL, d2 == ALL, #d1, #d2
        """,
    )
    assert std == base64.b64encode(ALL).decode()
    assert url == base64.urlsafe_b64encode(ALL).decode()
    assert (ok1, ok2, n1, n2) == (True, True, 256, 256)


def test_decode_gives_exact_bytes(state):
    [h] = lua(state, "return hex(b64.decode('AP+AwyiQ'))")
    assert h == base64.b64decode("AP+AwyiQ").hex()


def test_url_alphabet(state):
    # 0xfb 0xff -> "+/8=" in the standard alphabet, "-_8=" in the URL-safe one.
    assert lua(
        state,
        "return b64.encode(unhex('fbff')), b64.url_encode(unhex('fbff')), "
        "hex(b64.url_decode('-_8')), hex(b64.url_decode('-_8='))",
    ) == ["+/8=", "-_8=", "fbff", "fbff"]


def test_utf8_text_round_trip(state):
    text = "héllo wörld ✓"
    assert lua(state, f"local e = b64.encode({text!r}) return e, (b64.decode(e))") == [
        base64.b64encode(text.encode()).decode(),
        text,
    ]


def test_numbers_are_encoded_as_their_tostring(state):
    assert lua(state, "return (b64.encode(42)), (b64.encode(1.5)), (b64.encode(3.0))") == [
        base64.b64encode(b"42").decode(),
        base64.b64encode(b"1.5").decode(),
        base64.b64encode(b"3.0").decode(),
    ]


@pytest.mark.parametrize(
    "fn, arg",
    [
        ("decode", "'Zm9v!'"),  # not in the alphabet
        ("decode", "'Zm9v\\n'"),  # whitespace
        ("decode", "' Zm9v'"),
        ("decode", "'Zg'"),  # padding missing
        ("decode", "'Zg='"),  # padding incomplete
        ("decode", "'Zg==Zg=='"),  # data after the padding
        ("decode", "'-_8='"),  # URL-safe characters
        ("decode", "'Z'"),
        ("decode", "'\\255\\0'"),  # binary junk
        ("url_decode", "'+/8='"),  # standard characters
        ("url_decode", "'Zg='"),  # padded, but not completely
        ("url_decode", "'Z'"),  # impossible length
        ("url_decode", "'Zm9v!'"),
        ("url_decode", "'=Zg='"),
        ("url_decode", "'\\255'"),
        ("decode", "nil"),
        ("decode", "{}"),
        ("decode", "true"),
        ("url_decode", "nil"),
        ("encode", "nil"),
        ("encode", "{}"),
        ("encode", "false"),
        ("url_encode", "nil"),
    ],
)
def test_invalid_input_is_nil_and_invalid(state, fn, arg):
    value, kind, retryable, message = lua(
        state,
        f"local v, e = b64.{fn}({arg}) return v, e:kind(), e:retryable(), e:message()",
    )
    assert value is None and kind == "Invalid" and retryable is False
    assert message.startswith(f"base64.{fn}: ")


def test_extra_arguments_are_ignored(state):
    # f(g()) passes g's nil error along.
    assert lua(state, "return b64.decode(b64.encode('abc')), b64.encode('x', 'y', 3)") == [
        "abc",  # Lua keeps only the first result of a call that is not last
        "eA==",
        None,
    ]
