"""The one place that decides what a duration means.

Durations arrive as Go-style strings (``"1h30m"``, ``"250ms"``, ``"1.5s"``, ``"-2m"``) or as bare
numbers whose unit depends on the API they were given to (lua-api.md §2.15):

* Lua ``time`` module (``time.sleep``, ``receive_timeout``, ``time.SECOND``...): **nanoseconds**.
* Temporal option tables (``activity.*``, ``workflow.*``, retry intervals): **milliseconds**.
* ``http_client`` ``timeout``: **seconds**.

Everything is normalised to integer nanoseconds, or to :class:`datetime.timedelta` for the SDK.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

NANOSECOND = 1
MICROSECOND = 1_000
MILLISECOND = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "µs": MICROSECOND,
    "μs": MICROSECOND,
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_MAX_NS = 2**63 - 1


class DurationError(ValueError):
    """A value is not a duration; the message says what was given and what is accepted."""


def parse_go_duration(text: str) -> int:
    """Parse a Go duration string into integer nanoseconds.

    Accepts an optional sign then one or more ``<number><unit>`` parts, units ``ns us µs ms s m
    h`` (``"1h30m"``, ``"1.5s"``, ``"-250ms"``). ``"0"`` alone is zero.

    Raises:
        DurationError: on anything else, naming the bad text.
    """
    s = text.strip()
    if not s:
        raise DurationError('empty duration: use a string like "30s" or "1h30m"')
    sign = 1
    if s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    pos = 0
    total = 0.0
    exact = 0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            raise DurationError(
                f"invalid duration {text!r}: use a number followed by a unit "
                '(ns, us, ms, s, m, h), e.g. "30s", "1h30m", "250ms"'
            )
        number, unit = m.group(1), m.group(2)
        if "." in number:
            total += float(number) * _UNITS[unit]
        else:
            exact += int(number) * _UNITS[unit]
        pos = m.end()
    ns = exact + round(total)
    if ns > _MAX_NS:
        raise DurationError(f"duration {text!r} is too large")
    return sign * ns


def _number_to_ns(value: float | int, unit_ns: int, what: str) -> int:
    if isinstance(value, bool):
        raise DurationError(f"{what}: expected a duration, got a boolean")
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise DurationError(f"{what}: duration must be a finite number")
        return round(value * unit_ns)
    return int(value) * unit_ns


def lua_duration_ns(value: object, what: str = "duration") -> int:
    """Duration given to the Lua ``time`` module: number = nanoseconds, or a Go string."""
    if isinstance(value, str):
        return parse_go_duration(value)
    if isinstance(value, (int, float)):
        return _number_to_ns(value, NANOSECOND, what)
    raise DurationError(
        f'{what}: expected a duration string like "30s" or a number of nanoseconds, '
        f"got {type(value).__name__}"
    )


#: The longest duration an option may have: Go's (int64 nanoseconds, about 292 years), what
#: Temporal's servers and SDKs hold. Longer values used to fail deep in the SDK ("Python int
#: too large to convert to C int"), in a workflow task that then failed forever.
MAX_OPTION_NS = 2**63 - 1


def option_duration(value: object, what: str = "duration") -> timedelta:
    """Duration in a Temporal option table: number = milliseconds, or a Go string.

    Raises:
        DurationError: not a duration, longer than :data:`MAX_OPTION_NS` either way, or
            shorter than 1 ms but not 0 (Temporal's unit; ``0.5`` is half a millisecond).
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        ns = parse_go_duration(value)
    elif isinstance(value, (int, float)):
        ns = _number_to_ns(value, MILLISECOND, what)
    else:
        raise DurationError(
            f'{what}: expected a duration string like "5s" or a number of milliseconds, '
            f"got {type(value).__name__}"
        )
    if abs(ns) > MAX_OPTION_NS:
        raise DurationError(
            f"{what}: {value!r} is too long: at most about 292 years (Go's longest duration, "
            "what Temporal holds)"
        )
    if 0 < ns < MILLISECOND:
        # Temporal counts in milliseconds: a sub-millisecond timeout expires at once, every
        # attempt, and is nearly always seconds written as a number of milliseconds
        if isinstance(value, str):
            raise DurationError(
                f"{what}: {value!r} is under 1 millisecond, Temporal's smallest unit; use 0 "
                'for none or at least "1ms"'
            )
        raise DurationError(
            f"{what}: {value!r} is under 1 millisecond (numbers are milliseconds; for {value} "
            f'seconds write "{value}s"); use 0 for none or at least 1'
        )
    return ns_to_timedelta(ns)


def seconds_duration(value: object, what: str = "timeout") -> float:
    """Duration where a bare number means seconds (``http_client`` timeout); returns seconds."""
    if isinstance(value, str):
        return parse_go_duration(value) / SECOND
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise DurationError(f'{what}: expected seconds or a duration string like "5s"')


def ns_to_timedelta(ns: int) -> timedelta:
    """Integer nanoseconds -> timedelta (microsecond resolution, rounded)."""
    return timedelta(microseconds=round(ns / 1000))


def format_ns(ns: int) -> str:
    """Integer nanoseconds -> Go-style string (``"1h30m0s"``, ``"250ms"``, ``"0s"``)."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < MICROSECOND:
        return f"{sign}{ns}ns"
    if ns < MILLISECOND:
        return f"{sign}{_trim(ns / MICROSECOND)}µs"
    if ns < SECOND:
        return f"{sign}{_trim(ns / MILLISECOND)}ms"
    h, rem = divmod(ns, HOUR)
    m, rem = divmod(rem, MINUTE)
    s = _trim(rem / SECOND)
    if h:
        return f"{sign}{h}h{m}m{s}s"
    if m:
        return f"{sign}{m}m{s}s"
    return f"{sign}{s}s"


def _trim(x: float) -> str:
    text = f"{x:.9f}".rstrip("0").rstrip(".")
    return text or "0"
