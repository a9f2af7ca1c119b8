"""The ``hash`` Lua module (workflows and activities; pure), lua-api.md §2.0 / §2.14.

Digests (``hashlib``):

* ``hash.md5(data, raw?)``, ``hash.sha1(data, raw?)``, ``hash.sha256(data, raw?)``,
  ``hash.sha512(data, raw?)`` -> ``string, err``: the digest as lower-case hex (32, 40, 64,
  128 digits), or with ``raw = true`` as a string of the raw digest bytes (16, 20, 32, 64).

FNV (the ``fnvhash`` package; the same values as Go's ``hash/fnv``):

* ``hash.fnv32(data, raw?)``, ``hash.fnv64(data, raw?)`` (FNV-1, Go's ``fnv.New32`` /
  ``New64``) and ``hash.fnv32a(data, raw?)``, ``hash.fnv64a(data, raw?)`` (FNV-1a, ``New32a``
  / ``New64a``) -> ``string, err``: the big-endian digest (Go's ``Sum``) as 8 / 16 lower-case
  hex digits, or with ``raw = true`` its 4 / 8 bytes. Not a cryptographic hash.

HMAC (``hmac``):

* ``hash.hmac_md5(data, secret, raw?)``, ``hash.hmac_sha1(...)``, ``hash.hmac_sha256(...)``,
  ``hash.hmac_sha512(...)`` -> ``string, err``: hex (or raw) HMAC of ``data`` keyed with
  ``secret``. Note the order: **data first, secret second**, while ``crypto.hmac.sha256(key,
  data)`` takes the key first.

Arguments: ``data`` is a string of any bytes; a number is accepted as its ``tostring`` form, as
Lua's string functions do (``hash.sha256(42)`` is ``hash.sha256("42")``). ``secret`` must be a
string. ``raw`` is a boolean or nil. Anything else gives ``nil, err`` with kind ``Invalid``
(not retryable); error messages describe a bad argument by type and size, never by content.
Extra arguments are ignored.

Every function is pure, so all may be used in workflow code (reference-runtime.md §3 item 1
lists ``hash`` as deterministic). Their work is charged to the instruction budget by input size
(FNV, a Python loop, at about 24 instructions a byte).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import fnvhash  # type: ignore[import-untyped]

from ._binary import arg_bytes, arg_data, binary_module, describe

_DIGESTS = ("md5", "sha1", "sha256", "sha512")
#: name -> (function of bytes -> int, digest size in bytes)
_FNV: dict[str, tuple[Callable[[bytes], int], int]] = {
    "fnv32": (fnvhash.fnv1_32, 4),
    "fnv32a": (fnvhash.fnv1a_32, 4),
    "fnv64": (fnvhash.fnv1_64, 8),
    "fnv64a": (fnvhash.fnv1a_64, 8),
}
#: FNV in pure Python: ~140 ns a byte, in eighths of an instruction (~6 ns)
_FNV_COST = 192


def digest_result(digest: bytes, raw: Any) -> str | bytes:
    """Hex text, or the raw bytes when ``raw`` is true."""
    return digest if raw else digest.hex()


def build(state: Any) -> Any:
    """Build the module table for one Lua state (see the module docstring for the API)."""

    def invalid(message: str) -> tuple[None, Any]:
        return None, state.new_error("Invalid", message, False)

    def check_raw(name: str, raw: Any) -> tuple[None, Any] | None:
        if raw is None or isinstance(raw, bool):
            return None
        return invalid(f"hash.{name}: raw must be a boolean, got {describe(raw)}")

    def digest_fn(name: str) -> Callable[..., Any]:
        def fn(data: Any = None, raw: Any = None, *_: Any) -> Any:
            b = arg_data(state, data)
            if b is None:
                return invalid(f"hash.{name}: data must be a string, got {describe(data)}")
            bad = check_raw(name, raw)
            if bad is not None:
                return bad
            h = hashlib.new(name, b, usedforsecurity=name not in ("md5", "sha1"))
            return digest_result(h.digest(), raw), None

        return fn

    def fnv_fn(name: str) -> Callable[..., Any]:
        compute, size = _FNV[name]

        def fn(data: Any = None, raw: Any = None, *_: Any) -> Any:
            b = arg_data(state, data)
            if b is None:
                return invalid(f"hash.{name}: data must be a string, got {describe(data)}")
            bad = check_raw(name, raw)
            if bad is not None:
                return bad
            return digest_result(compute(b).to_bytes(size, "big"), raw), None

        return fn

    def hmac_fn(digest: str) -> Callable[..., Any]:
        name = f"hmac_{digest}"

        def fn(data: Any = None, secret: Any = None, raw: Any = None, *_: Any) -> Any:
            b = arg_data(state, data)
            if b is None:
                return invalid(f"hash.{name}: data must be a string, got {describe(data)}")
            key = arg_bytes(secret)
            if key is None:
                return invalid(f"hash.{name}: secret must be a string, got {describe(secret)}")
            bad = check_raw(name, raw)
            if bad is not None:
                return bad
            return digest_result(hmac.digest(key, b, digest), raw), None

        return fn

    functions: dict[str, tuple[Callable[..., Any], int]] = {}
    for d in _DIGESTS:
        functions[d] = (digest_fn(d), 1)
    for f in _FNV:
        functions[f] = (fnv_fn(f), _FNV_COST)
    for d in _DIGESTS:
        functions[f"hmac_{d}"] = (hmac_fn(d), 1)
    return binary_module(state, "hash", functions)
