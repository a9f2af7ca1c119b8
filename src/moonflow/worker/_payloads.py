"""Payload size limits: a value too large for the Temporal server is refused before it is sent.

The server refuses a payload list larger than its blob size limit (dynamic config
``limit.blobSize.error``: 2 MB by default, the bundled dev server's too; it warns from
``limit.blobSize.warn``, 512 KB) and every request larger than its gRPC message limit (4 MB).
What it refuses in a workflow task (an activity's arguments, a child's input, a signal's
arguments, the workflow's result) fails the *workflow task*, which Temporal then retries
forever with the same oversized command: the run is stuck. So moonflow measures each list of
payloads as the server will (the encoded ``Payloads`` message) and refuses it with kind
``Invalid`` first: ``funcs.call`` / ``process.send`` / a child start return ``nil, err``, an
activity whose result is too large fails with ``Invalid``, a workflow whose result is too large
fails with ``Invalid``.

:data:`PAYLOAD_LIMIT` is the one limit (bytes); a server configured with a higher blob size
limit still gets at most this much from moonflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio.api.common.v1 import Payloads
from temporalio.common import RawValue
from temporalio.converter import PayloadConverter
from temporalio.converter import default as default_converter

from .. import errors as mferrors
from ..errors import ErrorInfo

#: Bytes one encoded payload list (all the arguments of one call, or one result) may take:
#: Temporal's default blob size limit (``limit.blobSize.error``), 2 MiB.
PAYLOAD_LIMIT = 2 * 1024 * 1024


class PayloadTooLarge(ValueError):
    """An encoded payload list is over :data:`PAYLOAD_LIMIT`; ``info`` is the ``Invalid``
    error to hand to Lua (or to fail with)."""

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(info.message)
        self.info = info


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def encode_checked(
    converter: PayloadConverter, values: Sequence[Any], what: str, limit: int = PAYLOAD_LIMIT
) -> list[RawValue]:
    """Encode ``values`` (JSON-like Python values) as the SDK would and check their size.

    Args:
        converter: the run's payload converter (``workflow.payload_converter()``).
        values: the values of one payload list (a call's arguments, or ``[result]``).
        what: names the values in the message (``"funcs.call(app:x) arguments"``).
        limit: bytes allowed for the whole encoded list.

    Returns:
        The payloads as ``RawValue`` s, which the SDK sends as they are (no second encoding).

    Raises:
        PayloadTooLarge: the encoded list is over ``limit`` bytes; the message names the size
            and the limit.
    """
    payloads = converter.to_payloads(values)
    size = Payloads(payloads=payloads).ByteSize()
    if size > limit:
        raise PayloadTooLarge(too_large(what, size, limit))
    return [RawValue(p) for p in payloads]


def too_large(what: str, size: int, limit: int = PAYLOAD_LIMIT) -> ErrorInfo:
    """The ``Invalid`` error (not retryable) for ``what`` being ``size`` bytes encoded, over
    ``limit`` bytes: names both, and says to pass a reference instead."""
    return ErrorInfo(
        mferrors.INVALID,
        f"{what}: {size} bytes encoded ({_mb(size)}), over the {limit}-byte "
        f"({_mb(limit)}) payload limit of Temporal (limit.blobSize.error): pass a "
        "reference (a URL, a storage key, a file path) instead of the data, or split it",
        retryable=False,
    )


def encoded_size(values: Sequence[Any], converter: PayloadConverter | None = None) -> int:
    """Bytes ``values`` take as one encoded payload list (as the server measures it), with
    ``converter`` (default: the SDK's default JSON converter, moonflow's)."""
    converter = converter or default_converter().payload_converter
    return Payloads(payloads=converter.to_payloads(values)).ByteSize()
