"""Error conversion between moonflow's ErrorInfo and Temporal failures (reference runtime §4).

Outgoing (activity or workflow failure): an ``ApplicationError`` whose ``type`` is the kind,
message the error's message, ``non_retryable`` from :func:`moonflow.errors.is_non_retryable`,
and details ``[chain]`` where chain is a list, outermost first, of ``{"msg", "kind", "retry",
"details", "stack"}`` items (keys omitted when empty), as the reference runtime writes it.

Incoming (what a workflow sees from an activity): the SDK's ActivityError/ChildWorkflowError
wrapper is stripped; an ApplicationError is rebuilt from its chain when present, else from its
type/message/non_retryable; timeouts become ``Timeout``, cancellation ``Canceled``.
"""

from __future__ import annotations

import re
from typing import Any

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    FailureError,
    TerminatedError,
    TimeoutError,
    TimeoutType,
)

from .. import errors as mferrors
from ..errors import ErrorInfo
from ._payloads import PAYLOAD_LIMIT, encoded_size

_TIMEOUT_TYPES = {
    TimeoutType.START_TO_CLOSE: "start_to_close",
    TimeoutType.SCHEDULE_TO_START: "schedule_to_start",
    TimeoutType.SCHEDULE_TO_CLOSE: "schedule_to_close",
    TimeoutType.HEARTBEAT: "heartbeat",
}


MB = 1024 * 1024

#: Characters of an oversized error's message kept in the small error sent instead.
KEPT_MESSAGE = 1024


def to_application_error(info: ErrorInfo, stack: str | None = None) -> ApplicationError:
    """ErrorInfo -> ApplicationError carrying the reference runtime's chain in its details.

    Every failure moonflow sends (an activity's, a workflow's) goes through here. One whose
    message (counted twice: it is also the failure's message), details and stack together
    are over :data:`~._payloads.PAYLOAD_LIMIT` encoded would never reach the server (the
    completion is dropped and the caller waits out its timeout, or the server replaces it
    with a bare "Failure exceeds size limit"): it is replaced by a small one, kind
    ``Invalid``, not retryable, naming the original kind, the size and the limit, with the
    first :data:`KEPT_MESSAGE` characters of the message (``details``: ``{"kind", "size",
    "limit"}``, ``size`` the error's own encoded bytes, its message counted once).
    """
    item = _chain_item(info, stack)
    try:
        own = encoded_size([[item]])  # the error itself: message, details, stack, once each
        # as sent: the message travels twice, as the failure's message and in the chain
        sent = len(info.message.encode("utf-8", "surrogatepass")) + own
    except (TypeError, ValueError):  # details the SDK cannot encode: it says so when sending
        own = sent = 0
    if sent > PAYLOAD_LIMIT:
        kept = info.message[:KEPT_MESSAGE]
        more = "..." if len(info.message) > KEPT_MESSAGE else ""
        original = info.kind or mferrors.INTERNAL
        # name the error's own size (what the user can shrink); the doubled message only
        # when it is what crossed the limit
        twice = (
            f", {sent} bytes as a Temporal failure, which carries the message twice (as its "
            "message and in its error chain)"
            if own <= PAYLOAD_LIMIT
            else ""
        )
        info = ErrorInfo(
            mferrors.INVALID,
            f"an error of kind {original} was {own} bytes encoded ({own / MB:.1f} MB){twice}, "
            f"over the {PAYLOAD_LIMIT}-byte ({PAYLOAD_LIMIT / MB:.1f} MB) payload limit of "
            "Temporal, so it could not be sent (keep error messages and details small); its "
            f"message began: {kept}{more}",
            retryable=False,
            details={"kind": original, "size": own, "limit": PAYLOAD_LIMIT},
        )
        item = _chain_item(info, None)
    return ApplicationError(
        info.message,
        [item],
        type=info.kind or mferrors.INTERNAL,
        non_retryable=mferrors.is_non_retryable(info),
    )


def _chain_item(info: ErrorInfo, stack: str | None) -> dict[str, Any]:
    """The reference runtime's chain item for ``info``."""
    item: dict[str, Any] = {"msg": info.message}
    if info.kind and info.kind != mferrors.UNKNOWN:
        item["kind"] = info.kind
    if info.retryable is not None:
        item["retry"] = info.retryable
    if info.details is not None:
        item["details"] = info.details
    if stack:
        item["stack"] = stack
    return item


def application_error_info(exc: ApplicationError) -> ErrorInfo:
    """ErrorInfo of an ``ApplicationError``: from moonflow's (and the reference runtime's) error
    chain in its details when present (the outermost item wins), else from its type, message
    and ``non_retryable`` flag (no type: ``Internal``). Shared by the workflow driver and the
    client API."""
    chain = exc.details[0] if exc.details else None
    if isinstance(chain, list) and chain and isinstance(chain[0], dict) and "msg" in chain[0]:
        top = chain[0]
        retry = top.get("retry")
        return ErrorInfo(
            kind=str(top.get("kind") or mferrors.kind_from_type(exc.type)),
            message=str(top.get("msg", exc.message)),
            retryable=retry if isinstance(retry, bool) else (not exc.non_retryable),
            details=top.get("details"),
        )
    details = exc.details[0] if len(exc.details) == 1 else (list(exc.details) or None)
    # no type at all: not a moonflow error (those always carry their kind) but one the SDK or
    # the server made (e.g. a payload its encoder refused): Internal, never an empty kind
    return ErrorInfo(
        kind=mferrors.kind_from_type(exc.type) if exc.type else mferrors.INTERNAL,
        message=exc.message,
        retryable=not exc.non_retryable,
        details=details,
    )


#: Temporal's names of the timeout types, as the server words an activity's timeout
#: ("activity StartToClose timeout").
_TIMEOUT_WORDS = {
    "start_to_close": "StartToClose",
    "schedule_to_start": "ScheduleToStart",
    "schedule_to_close": "ScheduleToClose",
    "heartbeat": "Heartbeat",
}


def activity_timeout_message(timeout_type: str) -> str:
    """The message of an activity's timeout, the server's wording (``"activity StartToClose
    timeout"``): also used for a local activity's (the SDK says "Activity timed out") and for
    the attempts moonflow stops at their deadline, so all read alike."""
    return f"activity {_TIMEOUT_WORDS.get(timeout_type, timeout_type)} timeout"


def from_exception(exc: BaseException) -> ErrorInfo:
    """A failure raised by the SDK (activity result, child result, workflow result) -> ErrorInfo."""
    of_activity = isinstance(exc, ActivityError)
    while isinstance(exc, (ActivityError, ChildWorkflowError)) and exc.cause is not None:
        exc = exc.cause
    if isinstance(exc, ApplicationError):
        return application_error_info(exc)
    if isinstance(exc, TimeoutError):
        timeout_type = _TIMEOUT_TYPES.get(exc.type) if exc.type is not None else None
        message = exc.message or "timeout"
        if of_activity and timeout_type:  # a local activity's says "Activity timed out"
            message = activity_timeout_message(timeout_type)
        return ErrorInfo(
            kind=mferrors.TIMEOUT,
            message=message,
            retryable=False,
            details={"timeout_type": _TIMEOUT_TYPES.get(exc.type, "unknown")}
            if exc.type is not None
            else None,
        )
    if isinstance(exc, TerminatedError):
        reason = exc.message or ""
        # a child's TerminatedError carries only "Terminated", not the reason
        plain = reason.strip().lower() in ("", "terminated")
        message = "workflow terminated" if plain else f"workflow terminated: {reason}"
        return ErrorInfo(kind=mferrors.TERMINATED, message=message, retryable=False)
    if isinstance(exc, CancelledError):
        return ErrorInfo(kind=mferrors.CANCELED, message="operation canceled", retryable=False)
    if isinstance(exc, FailureError):
        return ErrorInfo(kind=mferrors.INTERNAL, message=exc.message, retryable=False)
    return ErrorInfo(
        kind=mferrors.INTERNAL, message=f"{type(exc).__name__}: {exc}", retryable=False
    )


#: How the server words the reason of a cancel request sent by another workflow.
_FROM_WORKFLOW = re.compile(r"^Cancel requested by workflow with run id \S+ with reason: ", re.S)
#: How a moonflow workflow names itself in a cancel request's reason (``process.cancel``):
#: Temporal carries only the canceller's run id, and the CANCEL event has a ``from`` PID.
_SENDER = re.compile(r"\s*\[from (\{[^\s\[\]]*\})\]$")


def cancel_reason_with_sender(reason: str | None, sender: str) -> str:
    """The reason text a workflow's ``process.cancel(pid, reason)`` sends: ``"<reason> [from
    <sender PID>]"`` (readable in the Web UI too)."""
    return f"{reason} [from {sender}]" if reason else f"[from {sender}]"


def _cancel_reason(raw: str | None) -> tuple[str | None, str | None]:
    """``(reason, sender PID)`` of a cancel request: the reason a canceller gave
    (``process.cancel(pid, reason)``, ``moonflow cancel --reason``) without the server's
    wording around it, and the PID a moonflow workflow added; ``""`` -> None."""
    text = _FROM_WORKFLOW.sub("", raw or "")
    sender = None
    match = _SENDER.search(text)
    if match:
        sender = match.group(1)
        text = text[: match.start()]
    return text or None, sender
