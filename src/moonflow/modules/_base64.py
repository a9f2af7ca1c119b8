"""The ``base64`` Lua module (workflows and activities; pure), lua-api.md §2.0 / §2.14.

Lua strings are byte strings: ``encode`` takes any bytes (NUL and bytes 128-255 included) and
``decode`` gives back exactly those bytes.

* ``base64.encode(s)`` -> ``string, nil``: standard alphabet (RFC 4648 §4, ``+`` ``/``) with
  ``=`` padding.
* ``base64.decode(s)`` -> ``string, err``: strict standard base64: only the alphabet and
  correct ``=`` padding (the length a multiple of 4); whitespace, line breaks, the URL-safe
  characters ``-`` ``_`` or anything after the padding are errors. ``""`` decodes to ``""``.
* ``base64.url_encode(s)`` -> ``string, nil``: URL- and filename-safe alphabet (RFC 4648 §5,
  ``-`` ``_``) with ``=`` padding (like Go's ``base64.URLEncoding``; strip it with
  ``s:gsub("=", "")`` where a raw form is wanted).
* ``base64.url_decode(s)`` -> ``string, err``: the URL-safe alphabet, with or without the
  ``=`` padding (a padded input must be padded completely); ``+`` ``/`` are errors.

Arguments: ``s`` is a string; a number is accepted as its ``tostring`` form, as Lua's string
functions do. Anything else, and input that is not valid base64, gives ``nil, err`` with kind
``Invalid`` (not retryable). Extra arguments are ignored.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from ._binary import arg_data, binary_module, describe

_URL_TEXT = re.compile(rb"[A-Za-z0-9_-]*={0,2}")
_URL_TO_STD = bytes.maketrans(b"-_", b"+/")


def build(state: Any) -> Any:
    """Build the module table for one Lua state (see the module docstring for the API)."""

    def invalid(message: str) -> tuple[None, Any]:
        return None, state.new_error("Invalid", message, False)

    def encoder(name: str, url: bool) -> Callable[..., Any]:
        def encode(s: Any = None, *_: Any) -> Any:
            data = arg_data(state, s)
            if data is None:
                return invalid(f"base64.{name}: expected a string, got {describe(s)}")
            out = base64.urlsafe_b64encode(data) if url else base64.b64encode(data)
            return out.decode("ascii"), None

        return encode

    def decode(s: Any = None, *_: Any) -> Any:
        text = arg_data(state, s)
        if text is None:
            return invalid(f"base64.decode: expected a string, got {describe(s)}")
        try:
            return binascii.a2b_base64(text, strict_mode=True), None
        except binascii.Error as e:
            return invalid(f"base64.decode: invalid base64 ({e})")

    def url_decode(s: Any = None, *_: Any) -> Any:
        text = arg_data(state, s)
        if text is None:
            return invalid(f"base64.url_decode: expected a string, got {describe(s)}")
        if not _URL_TEXT.fullmatch(text):
            return invalid(
                "base64.url_decode: invalid base64 (only A-Z a-z 0-9 - _ and = padding at the end)"
            )
        body = text.rstrip(b"=")
        if len(body) % 4 == 1 or (len(body) != len(text) and len(text) % 4 != 0):
            return invalid("base64.url_decode: invalid base64 (incorrect length or padding)")
        padded = body.translate(_URL_TO_STD) + b"=" * (-len(body) % 4)
        try:
            return binascii.a2b_base64(padded, strict_mode=True), None
        except binascii.Error as e:  # not expected after the checks above
            return invalid(f"base64.url_decode: invalid base64 ({e})")

    return binary_module(
        state,
        "base64",
        {
            "encode": (encoder("encode", url=False), 1),
            "decode": (decode, 1),
            "url_encode": (encoder("url_encode", url=True), 1),
            "url_decode": (url_decode, 1),
        },
    )
