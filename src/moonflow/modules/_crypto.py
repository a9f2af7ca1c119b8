"""The ``crypto`` Lua module (workflows and activities), lua-api.md §2.0 / §2.14.

Lua strings are byte strings: keys, ciphertexts and random bytes are strings holding raw bytes
(NUL and bytes 128-255 included). Every function returns ``value, nil`` or ``nil, err``.

Randomness:

* ``crypto.random.bytes(n)`` -> ``string, err``: ``n`` random bytes.
* ``crypto.random.string(n, charset?)`` -> ``string, err``: ``n`` characters drawn uniformly
  and independently from ``charset`` (a non-empty UTF-8 string whose characters, not bytes,
  are drawn; a character listed twice is twice as likely). Default: ASCII letters and digits.
* ``crypto.random.uuid()`` -> ``string, err``: a version 4 UUID, lower case.

  ``n`` is an integer (an integral float such as ``16.0`` too) from 0 to 1 MiB (1048576).

Authenticated encryption (``cryptography``'s AEADs):

* ``crypto.encrypt.aes(plaintext, key, aad?)`` -> ``ciphertext, err``: AES-GCM with a 16-, 24-
  or 32-byte key (AES-128/192/256). The result is the 12-byte random nonce, then the encrypted
  bytes, then the 16-byte tag (``#plaintext + 28`` bytes).
* ``crypto.decrypt.aes(ciphertext, key, aad?)`` -> ``plaintext, err``: the reverse.
* ``crypto.encrypt.chacha20(plaintext, key, aad?)`` / ``crypto.decrypt.chacha20(...)``: the
  same with ChaCha20-Poly1305 (RFC 8439) and a 32-byte key; same layout (nonce, data, tag).

  ``aad`` (additional authenticated data) is an optional string that is authenticated but not
  encrypted: decrypting needs the same ``aad``. A wrong key, a wrong ``aad`` or altered
  ciphertext fails decryption with kind ``Invalid`` ("authentication failed: the ciphertext
  or key is wrong").

Keyed hashes and key derivation:

* ``crypto.hmac.sha256(key, data, raw?)`` / ``crypto.hmac.sha512(key, data, raw?)`` ->
  ``string, err``: lower-case hex HMAC (64 / 128 digits), or with ``raw = true`` the raw bytes.
  Note the order: **key first** (``hash.hmac_sha256(data, secret)`` takes the data first).
* ``crypto.pbkdf2(password, salt, iterations, length)`` -> ``string, err``: PBKDF2-HMAC-SHA256
  (RFC 8018), the raw derived key of ``length`` bytes (1..1024); ``iterations`` 1..10,000,000.
  Costs about 0.2 us an iteration per 32 bytes of output, charged to the instruction budget:
  in workflow code (50M instructions per activation by default) keep it to a few hundred
  thousand iterations, or derive keys in an activity.

Arguments: ``plaintext``, ``data``, ``password`` and ``salt`` are strings, and a number is
accepted as its ``tostring`` form, as Lua's string functions do; ``key``, ``ciphertext``,
``aad`` and ``charset`` must be strings; ``raw`` is a boolean or nil. Anything else, a key of
the wrong length, a count out of range, or a ciphertext shorter than nonce and tag gives
``nil, err`` with kind ``Invalid`` (not retryable). Error messages describe a bad argument by
type and size, never by content. Extra arguments are ignored.

Determinism (reference-runtime.md §3 item 3): in workflow code ``crypto.random.*`` and the
nonces of ``crypto.encrypt.*`` are replay-safe. The reference runtime records them as Temporal
SideEffects; here ``random.uuid`` comes from the workflow host (``temporalio.workflow.uuid4()``)
and all random bytes (``random.bytes``, ``random.string``, the nonces) from a generator seeded
once per Lua state, on first use, from the workflow's deterministic randomness
(``host.random_seed()``). A replay therefore produces the same bytes, ``encrypt`` returns the
same ciphertext, and a later ``decrypt`` of what the run encrypted gives back the plaintext.
That randomness is reproducible by anyone who can read the workflow's history (the reference
runtime stores it in history too): it is not secret from them, so do not make long-lived
secrets in workflow code. In activities the OS random source (``os.urandom``) is used.
``hmac``, ``pbkdf2`` and ``decrypt`` are pure.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import string
import uuid
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ._binary import arg_bytes, arg_data, binary_module, describe

#: The largest ``n`` of ``crypto.random.bytes`` / ``crypto.random.string``.
MAX_RANDOM = 1 << 20
MAX_ITERATIONS = 10_000_000
MAX_KEY_LENGTH = 1024
NONCE_SIZE = 12
TAG_SIZE = 16
DEFAULT_CHARSET = string.ascii_letters + string.digits
#: name -> (AEAD class, allowed key lengths in bytes)
_CIPHERS: dict[str, tuple[Any, tuple[int, ...]]] = {
    "aes": (AESGCM, (16, 24, 32)),
    "chacha20": (ChaCha20Poly1305, (32,)),
}


class RandomSource:
    """The random bytes and v4 UUIDs of one Lua state.

    In workflow code: bytes from a ``random.Random`` seeded on first use from
    ``state.host.random_seed()`` (so a state that never draws consumes none of the workflow's
    randomness), UUIDs from ``state.host.uuid4()``; elsewhere the OS random source.
    """

    def __init__(self, state: Any) -> None:
        self._state = state  # a weak proxy (see LuaRun._build_module)
        self._rng: random.Random | None = None

    def bytes(self, n: int) -> bytes:
        if self._state.context != "workflow":
            return os.urandom(n)
        self._state.host.refuse_in_query("crypto.random")  # a query must not move it
        if self._rng is None:
            self._rng = random.Random(self._state.host.random_seed())
        return self._rng.randbytes(n)

    def uuid4(self) -> str:
        if self._state.context != "workflow":
            return str(uuid.uuid4())
        return str(uuid.UUID(self._state.host.uuid4()))

    def indices(self, m: int, n: int) -> list[int]:
        """``n`` integers drawn uniformly from ``range(m)`` (rejection sampling on whole bytes,
        so every index is equally likely)."""
        if m == 1:
            return [0] * n
        size = ((m - 1).bit_length() + 7) // 8
        span = 1 << (8 * size)
        limit = span - span % m
        out: list[int] = []
        while len(out) < n:
            need = n - len(out)
            buf = self.bytes((need + need // 4 + 8) * size)
            if size == 1:
                out.extend(b % m for b in buf if b < limit)
            else:
                values = (
                    int.from_bytes(buf[i : i + size], "big") for i in range(0, len(buf), size)
                )
                out.extend(v % m for v in values if v < limit)
        del out[n:]
        return out


def _integer(value: Any) -> int | None:
    """An integer argument (an integral float too), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def build(state: Any) -> Any:
    """Build the module table for one Lua state (see the module docstring for the API)."""
    source = RandomSource(state)

    def invalid(message: str) -> tuple[None, Any]:
        return None, state.new_error("Invalid", message, False)

    def count(name: str, value: Any, what: str, low: int, high: int) -> tuple[int, Any]:
        """(the integer, None) or (0, error)."""
        n = _integer(value)
        if n is None or not low <= n <= high:
            return 0, invalid(
                f"crypto.{name}: {what} must be an integer from {low} to {high}, "
                f"got {describe(value)}"
            )[1]
        return n, None

    # ---- random ----------------------------------------------------------------------
    def random_bytes(n: Any = None, *_: Any) -> Any:
        size, err = count("random.bytes", n, "n", 0, MAX_RANDOM)
        if err is not None:
            return None, err
        return source.bytes(size), None

    def random_string(n: Any = None, charset: Any = None, *_: Any) -> Any:
        size, err = count("random.string", n, "n", 0, MAX_RANDOM)
        if err is not None:
            return None, err
        chars: str = DEFAULT_CHARSET
        if charset is not None:
            raw = arg_bytes(charset)
            if raw is None:
                return invalid(
                    f"crypto.random.string: charset must be a string, got {describe(charset)}"
                )
            try:
                chars = raw.decode("utf-8")
            except UnicodeDecodeError:
                return invalid("crypto.random.string: charset must be UTF-8 text")
            if not chars:
                return invalid("crypto.random.string: charset must not be empty")
        picked = source.indices(len(chars), size)
        return "".join([chars[i] for i in picked]), None

    def random_uuid(*_: Any) -> Any:
        return source.uuid4(), None

    # ---- AEAD ------------------------------------------------------------------------
    def key_of(name: str, alg: str, key: Any) -> tuple[Any, Any]:
        """(the AEAD for ``key``, None) or (None, error)."""
        cls, lengths = _CIPHERS[alg]
        k = arg_bytes(key)
        if k is None:
            return None, invalid(f"crypto.{name}: key must be a string, got {describe(key)}")[1]
        if len(k) not in lengths:
            allowed = ", ".join(map(str, lengths[:-1])) + (" or " if len(lengths) > 1 else "")
            return None, invalid(
                f"crypto.{name}: key must be {allowed}{lengths[-1]} bytes, got {len(k)} bytes"
            )[1]
        return cls(k), None

    def aad_of(name: str, aad: Any) -> tuple[bytes | None, Any]:
        if aad is None:
            return None, None
        a = arg_bytes(aad)
        if a is None:
            return None, invalid(f"crypto.{name}: aad must be a string, got {describe(aad)}")[1]
        return a, None

    def encrypt(alg: str) -> Callable[..., Any]:
        name = f"encrypt.{alg}"

        def fn(plaintext: Any = None, key: Any = None, aad: Any = None, *_: Any) -> Any:
            data = arg_data(state, plaintext)
            if data is None:
                return invalid(
                    f"crypto.{name}: plaintext must be a string, got {describe(plaintext)}"
                )
            cipher, err = key_of(name, alg, key)
            if err is not None:
                return None, err
            ad, err = aad_of(name, aad)
            if err is not None:
                return None, err
            nonce = source.bytes(NONCE_SIZE)
            return nonce + cipher.encrypt(nonce, data, ad), None

        return fn

    def decrypt(alg: str) -> Callable[..., Any]:
        name = f"decrypt.{alg}"

        def fn(ciphertext: Any = None, key: Any = None, aad: Any = None, *_: Any) -> Any:
            data = arg_bytes(ciphertext)
            if data is None:
                return invalid(
                    f"crypto.{name}: ciphertext must be a string, got {describe(ciphertext)}"
                )
            cipher, err = key_of(name, alg, key)
            if err is not None:
                return None, err
            ad, err = aad_of(name, aad)
            if err is not None:
                return None, err
            if len(data) < NONCE_SIZE + TAG_SIZE:
                return invalid(
                    f"crypto.{name}: ciphertext too short ({len(data)} bytes; it holds a "
                    f"{NONCE_SIZE}-byte nonce and a {TAG_SIZE}-byte tag)"
                )
            try:
                return cipher.decrypt(data[:NONCE_SIZE], data[NONCE_SIZE:], ad), None
            except InvalidTag:
                return invalid(
                    f"crypto.{name}: authentication failed: the ciphertext or key is wrong "
                    "(or the ciphertext or aad was altered)"
                )

        return fn

    # ---- hmac, pbkdf2 ----------------------------------------------------------------
    def hmac_fn(digest: str) -> Callable[..., Any]:
        name = f"hmac.{digest}"

        def fn(key: Any = None, data: Any = None, raw: Any = None, *_: Any) -> Any:
            k = arg_bytes(key)
            if k is None:
                return invalid(f"crypto.{name}: key must be a string, got {describe(key)}")
            b = arg_data(state, data)
            if b is None:
                return invalid(f"crypto.{name}: data must be a string, got {describe(data)}")
            if raw is not None and not isinstance(raw, bool):
                return invalid(f"crypto.{name}: raw must be a boolean, got {describe(raw)}")
            mac = hmac.digest(k, b, digest)
            return (mac if raw else mac.hex()), None

        return fn

    def pbkdf2(
        password: Any = None, salt: Any = None, iterations: Any = None, length: Any = None, *_: Any
    ) -> Any:
        pw = arg_data(state, password)
        if pw is None:
            return invalid(f"crypto.pbkdf2: password must be a string, got {describe(password)}")
        s = arg_data(state, salt)
        if s is None:
            return invalid(f"crypto.pbkdf2: salt must be a string, got {describe(salt)}")
        it, err = count("pbkdf2", iterations, "iterations", 1, MAX_ITERATIONS)
        if err is not None:
            return None, err
        size, err = count("pbkdf2", length, "length", 1, MAX_KEY_LENGTH)
        if err is not None:
            return None, err
        return hashlib.pbkdf2_hmac("sha256", pw, s, it, size), None

    functions: dict[str, tuple[Callable[..., Any], int]] = {
        "random.bytes": (random_bytes, 1),
        "random.string": (random_string, 1),
        "random.uuid": (random_uuid, 1),
        "hmac.sha256": (hmac_fn("sha256"), 1),
        "hmac.sha512": (hmac_fn("sha512"), 1),
        "pbkdf2": (pbkdf2, 1),
    }
    for alg in _CIPHERS:
        functions[f"encrypt.{alg}"] = (encrypt(alg), 1)
        functions[f"decrypt.{alg}"] = (decrypt(alg), 1)
    return binary_module(state, "crypto", functions)
