"""The ``uuid`` Lua module (workflows and activities), lua-api.md §2.9.

Generation: ``uuid.v1()``, ``uuid.v4()``, ``uuid.v7()`` -> ``string, err`` (lower-case
``xxxxxxxx-xxxx-Mxxx-Nxxx-xxxxxxxxxxxx``); ``uuid.v3(ns, name)`` and ``uuid.v5(ns, name)`` ->
``string, err`` (name-based, the same everywhere; ``ns`` is a UUID string).

Inspection: ``uuid.validate(x)`` -> boolean; ``uuid.version(id)`` -> ``integer, err``;
``uuid.variant(id)`` -> ``"RFC4122" | "Microsoft" | "Future" | "NCS" | "Invalid"``;
``uuid.parse(id)`` -> ``table, err`` with ``version``, ``variant``, and for v1/v7 ``timestamp``
(integer Unix **nanoseconds**; ``time.unix(0, t.timestamp)`` makes a Time of it) and for v1
``node`` (``"aa:bb:cc:dd:ee:ff"``); ``uuid.format(id, "standard" | "simple" | "urn")`` ->
``string, err``. Accepted input forms: standard (36 characters), ``{standard}``,
``urn:uuid:standard`` and simple (32 hex digits), any letter case.

Determinism: in workflow code every random or time-based UUID is replay-safe. ``v4`` comes from
the workflow host (``temporalio.workflow.uuid4()``); ``v1`` and ``v7`` take their time from
workflow time (``host.now_ns()``) and their random bits from a generator seeded once per Lua
state from the workflow's deterministic randomness (``host.random_seed()``). In activities the
machine clock and the OS random source are used.

Errors: a malformed UUID or argument is kind ``Invalid`` (not retryable).
"""

from __future__ import annotations

import hashlib
import random
import re
import time
import uuid
from typing import Any

import lupa.lua54 as lupa

_FORMS = re.compile(
    r"^(?:urn:uuid:)?(?P<std>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
    r"|^\{(?P<braced>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}$"
    r"|^(?P<simple>[0-9a-f]{32})$",
    re.IGNORECASE,
)
#: 100-ns intervals between the Gregorian epoch (1582-10-15) and the Unix epoch.
_GREGORIAN_OFFSET = 0x01B21DD213814000
_FORMATS = ("standard", "simple", "urn")


def parse_uuid(text: Any) -> uuid.UUID | None:
    """A UUID from one of the accepted text forms, or None."""
    if not isinstance(text, str):
        return None
    m = _FORMS.match(text.strip())
    if m is None:
        return None
    return uuid.UUID(hex=(m.group("std") or m.group("braced") or m.group("simple")))


def variant_name(u: uuid.UUID) -> str:
    """The variant of ``u`` as the module reports it."""
    return {
        uuid.RFC_4122: "RFC4122",
        uuid.RESERVED_MICROSOFT: "Microsoft",
        uuid.RESERVED_FUTURE: "Future",
        uuid.RESERVED_NCS: "NCS",
    }.get(u.variant, "Invalid")


def timestamp_ns(u: uuid.UUID) -> int | None:
    """Unix nanoseconds encoded in a v1 or v7 UUID, else None."""
    if u.version == 1:
        return (u.time - _GREGORIAN_OFFSET) * 100
    if u.version == 7:
        return (u.int >> 80) * 1_000_000
    return None


class Generator:
    """Time-based and random UUIDs from a clock and a random source.

    Args:
        now_ns: returns Unix nanoseconds (workflow time in workflows).
        make_rng: returns the source of random bits, called on the first v1/v7 (so a state
            that only makes v4 or name-based UUIDs draws nothing from the workflow's randomness).
        uuid4: returns a v4 UUID string.
    """

    def __init__(self, now_ns: Any, make_rng: Any, uuid4: Any, guard: Any = None) -> None:
        self._guard = guard or (lambda what: None)  # raises in a query handler (workflows)
        self._now_ns = now_ns
        self._make_rng = make_rng
        self._rng_: random.Random | None = None
        self._uuid4 = uuid4
        self._node: int | None = None
        self._clock_seq = 0
        self._last_v1 = 0
        self._last_v7 = (0, 0)

    @property
    def _rng(self) -> random.Random:
        if self._rng_ is None:
            self._rng_ = self._make_rng()
        return self._rng_

    def v1(self) -> str:
        """RFC 4122 version 1; node is random with the multicast bit set (RFC 4122 §4.5)."""
        self._guard("uuid.v1")
        if self._node is None:
            self._node = self._rng.getrandbits(48) | 0x010000000000
            self._clock_seq = self._rng.getrandbits(14)
        ts = self._now_ns() // 100 + _GREGORIAN_OFFSET
        if ts <= self._last_v1:  # same tick (frozen workflow time): stay unique and ordered
            ts = self._last_v1 + 1
        self._last_v1 = ts
        u = uuid.UUID(
            fields=(
                ts & 0xFFFFFFFF,
                (ts >> 32) & 0xFFFF,
                (ts >> 48) & 0x0FFF | 0x1000,
                (self._clock_seq >> 8) | 0x80,
                self._clock_seq & 0xFF,
                self._node,
            )
        )
        return str(u)

    def v4(self) -> str:
        """RFC 4122 version 4 (random)."""
        self._guard("uuid.v4")
        return str(uuid.UUID(self._uuid4()))

    def v7(self) -> str:
        """RFC 9562 version 7: 48-bit Unix milliseconds, then a 12-bit sequence and 62 random bits.

        The sequence starts at a random value each millisecond and increments for UUIDs made
        within the same millisecond, so the UUIDs of one state sort in creation order.
        """
        self._guard("uuid.v7")
        ms = self._now_ns() // 1_000_000
        last_ms, last_seq = self._last_v7
        if ms <= last_ms:
            ms, seq = last_ms, last_seq + 1
            if seq > 0xFFF:
                ms, seq = ms + 1, self._rng.getrandbits(11)
        else:
            seq = self._rng.getrandbits(11)  # leave headroom for increments
        self._last_v7 = (ms, seq)
        value = (ms & 0xFFFFFFFFFFFF) << 80 | 0x7 << 76 | seq << 64
        value |= 0b10 << 62 | self._rng.getrandbits(62)
        return str(uuid.UUID(int=value))


def _generator(state: Any) -> Generator:
    if state.context == "workflow":
        # The generator lives as long as the Lua functions that use it: it reaches the host
        # through ``state`` (a weak proxy, see LuaRun._build_module), never holding it.
        return Generator(
            lambda: state.host.now_ns(),
            lambda: random.Random(state.host.random_seed()),
            lambda: state.host.uuid4(),
            lambda what: state.host.refuse_in_query(what),
        )
    return Generator(time.time_ns, random.SystemRandom, lambda: str(uuid.uuid4()))


def build(state: Any) -> Any:
    """Build the module table for one Lua state (see the module docstring for the API)."""
    gen: list[Generator] = []
    # Every function ignores extra arguments: Lua passes all results of f(g()) along, e.g.
    # uuid.parse(uuid.v4()) receives the id and v4's nil error.

    def generator() -> Generator:
        if not gen:
            gen.append(_generator(state))
        return gen[0]

    def invalid(message: str) -> tuple[None, Any]:
        return None, state.new_error("Invalid", message, False)

    def generate(which: str) -> Any:
        def fn(*_args: Any) -> Any:
            try:
                return getattr(generator(), which)(), None
            except Exception as e:  # noqa: BLE001 - never let a Python error reach Lua
                return None, state.new_error("Internal", f"uuid.{which}: {e}", True)

        return fn

    def name_based(version: int) -> Any:
        def fn(namespace: Any = None, name: Any = None, *_: Any) -> Any:
            ns = parse_uuid(namespace)
            if ns is None:
                return invalid(
                    f"uuid.v{version}: namespace must be a UUID string, got {_show(namespace)}"
                )
            if not isinstance(name, str):
                return invalid(f"uuid.v{version}: name must be a string, got {_show(name)}")
            digest = (hashlib.md5 if version == 3 else hashlib.sha1)(
                ns.bytes + name.encode("utf-8")
            ).digest()
            return str(uuid.UUID(bytes=digest[:16], version=version)), None

        return fn

    def validate(value: Any = None, *_: Any) -> bool:
        return parse_uuid(value) is not None

    def version(value: Any = None, *_: Any) -> Any:
        u = parse_uuid(value)
        if u is None:
            return invalid(f"uuid.version: invalid UUID {_show(value)}")
        return (u.int >> 76) & 0xF, None

    def variant(value: Any = None, *_: Any) -> str:
        u = parse_uuid(value)
        return "Invalid" if u is None else variant_name(u)

    def parse(value: Any = None, *_: Any) -> Any:
        u = parse_uuid(value)
        if u is None:
            return invalid(f"uuid.parse: invalid UUID {_show(value)}")
        info: dict[str, Any] = {"version": (u.int >> 76) & 0xF, "variant": variant_name(u)}
        if u.variant == uuid.RFC_4122:
            ts = timestamp_ns(u)
            if ts is not None:
                info["timestamp"] = ts
            if u.version == 1:
                info["node"] = ":".join(f"{b:02x}" for b in u.node.to_bytes(6, "big"))
        return state.to_lua(info), None

    def fmt(value: Any = None, form: Any = "standard", *_: Any) -> Any:
        u = parse_uuid(value)
        if u is None:
            return invalid(f"uuid.format: invalid UUID {_show(value)}")
        if form is None:
            form = "standard"
        if form == "standard":
            return str(u), None
        if form == "simple":
            return u.hex, None
        if form == "urn":
            return u.urn, None
        return invalid(f"uuid.format: unknown format {_show(form)}: use one of {_FORMATS}")

    return state.module_table(
        "uuid",
        {
            "v1": generate("v1"),
            "v4": generate("v4"),
            "v7": generate("v7"),
            "v3": name_based(3),
            "v5": name_based(5),
            "validate": validate,
            "version": version,
            "variant": variant,
            "parse": parse,
            "format": fmt,
        },
    )


def _show(value: Any) -> str:
    """A short description of a Lua argument for error messages."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return f"a {lupa.lua_type(value) or type(value).__name__}"
