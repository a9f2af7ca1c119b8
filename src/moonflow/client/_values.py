"""The one check that values sent to Temporal are JSON moonflow's Lua side can hold.

The SDK's JSON encoder fails deep inside with messages that name nothing (``'<' not supported
between instances of 'str' and 'int'`` for a map with mixed keys) or sends what Lua cannot hold
exactly. Every public entry point that sends values (:func:`moonflow.client.start_workflow`,
:func:`~moonflow.client.start`, :func:`~moonflow.client.signal`,
:func:`~moonflow.client.update`, :func:`~moonflow.client.query`) calls :func:`check_value`
before any RPC, so a bad value is a one-line :class:`~moonflow.errors.UsageError` naming its
path. The rules are the CLI's (``--input`` etc.): strings, booleans, ``None``, 64-bit integers,
finite floats, lists (and tuples), and maps with string keys.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from moonflow.errors import UsageError

_INT_MIN, _INT_MAX = -(2**63), 2**63


def check_value(value: Any, path: str, *, sized: bool = True) -> None:
    """Refuse a value that is not JSON moonflow can pass to Lua exactly, or that is over
    Temporal's payload limit (``moonflow.worker._payloads.PAYLOAD_LIMIT``, 2 MiB encoded: the
    server would answer with a bare ``Blob data size exceeds limit``).

    Args:
        value: the value about to be sent (an input, a message payload, a memo, ...).
        path: what it is, used as the start of the path in the message (``"input"``).
        sized: check the size too (False: only the shape; the caller checks the size).

    Raises:
        UsageError: naming the path of the first bad part, e.g.
            ``input.d: keys must be strings, got 1`` or ``input.items[2]: nan is not a
            finite number``. List indexes are Python's (from 0). Or ``input: 3145730 bytes
            encoded (3.0 MB), over the 2097152-byte (2.0 MB) payload limit ...: pass a
            reference (a URL, a storage key, a file path) instead ...``.
    """
    try:
        _check_shape(value, path)
    except RecursionError:
        raise UsageError(
            f"{path}: the value contains itself or is nested too deeply (Python stops near "
            "1,000 levels; keep data flatter)"
        ) from None
    if sized and not (value is None or isinstance(value, bool | int | float)):
        # imported here: the client does not load the worker package unless it sends values
        from moonflow.worker._payloads import PAYLOAD_LIMIT, encoded_size, too_large

        size = encoded_size([value])
        if size > PAYLOAD_LIMIT:
            raise UsageError(too_large(path, size).message)


def check_values(values: Sequence[Any], path: str, what: str, *, first: int = 0) -> None:
    """:func:`check_value` for values sent together as one payload list (a workflow's
    arguments, a signal's values): each value's shape and size, then their total, since the
    server's payload limit is on the list.

    Args:
        values: the values, in order.
        path: the path of one value, with ``{}`` where its index goes (``"args[{}]"``).
        what: the values together, for the total's message (``"args"``).
        first: the index of the first value in ``path`` (0, Python's; 1 where the caller
            counts as Lua does, e.g. ``process.send``'s values).

    Raises:
        UsageError: as :func:`check_value` for the first bad value, or ``args: N bytes encoded
            (2.9 MB), over the ... payload limit ...`` when only the total is over it.
    """
    for i, value in enumerate(values):
        check_value(value, path.format(i + first))
    if len(values) > 1:
        from moonflow.worker._payloads import PAYLOAD_LIMIT, encoded_size, too_large

        size = encoded_size(list(values))
        if size > PAYLOAD_LIMIT:
            raise UsageError(too_large(f"{what} ({len(values)} values in total)", size).message)


def lone_surrogate(text: str) -> str | None:
    """What is wrong with ``text`` when it holds a lone UTF-16 surrogate (what a JSON ``\\ud800``
    escape without its pair decodes to; it has no UTF-8 form, so Lua cannot hold it), else
    None. Shared by the client's checks and the CLI's."""
    if text.isascii():  # O(1) for CPython's ASCII strings
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return (
            f"the string holds a lone UTF-16 surrogate (U+{ord(text[e.start]):04X}, a \\u escape "
            "without its pair), which is not text Lua can hold"
        )
    return None


def _check_shape(value: Any, path: str) -> None:
    """The shape part of :func:`check_value`."""
    if isinstance(value, str):
        problem = lone_surrogate(value)
        if problem:
            raise UsageError(f"{path}: {problem}")
        return
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not _INT_MIN <= value < _INT_MAX:
            raise UsageError(
                f"{path}: integer {value} does not fit in 64 bits (Lua integers are 64-bit); "
                "pass it as a string"
            )
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UsageError(f"{path}: {value} is not a finite number (JSON has no NaN/Infinity)")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_shape(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise UsageError(f"{path}: keys must be strings, got {key!r}")
            _check_shape(key, f"{path}[<key>]")
            _check_shape(item, f"{path}.{key}")
        return
    raise UsageError(
        f"{path}: {type(value).__name__} is not a JSON value "
        "(use str, int, float, bool, None, list or dict with string keys)"
    )
