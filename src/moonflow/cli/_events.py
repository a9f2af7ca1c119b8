"""One-line summaries of history events for ``moonflow history -o text`` (issue 17 review
item 4): what a person reads (activity type and attempt, timer duration, signal name, decoded
and shortened inputs and results), not the proto JSON with base64 payloads.

The events are the proto3 JSON form :func:`moonflow.client.history` returns (camelCase keys,
64-bit numbers as strings, payload ``data`` and ``metadata`` values base64). JSON output
(``-o json``/``jsonl``) is unchanged: this is for the terminal only.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

#: Characters of a decoded payload kept in a summary (the rest becomes "…").
PAYLOAD_CHARS = 60


def short(text: str, limit: int = PAYLOAD_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters with "…"."""
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _b64(text: Any) -> bytes | None:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        return None


def payload_text(payload: dict[str, Any]) -> str:
    """A payload as short text: JSON payloads decoded (``{"n":1}``), null as ``null``, binary
    ones as ``<N bytes ENCODING>``."""
    meta = payload.get("metadata") or {}
    encoding = (_b64(meta.get("encoding", "")) or b"").decode("utf-8", "replace")
    data = _b64(payload.get("data", "")) or b""
    if encoding == "binary/null":
        return "null"
    if encoding.startswith("json/"):
        try:
            value = json.loads(data)
        except ValueError:
            return f"<{len(data)} bytes {encoding}>"
        return short(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    return f"<{len(data)} bytes {encoding or 'unknown encoding'}>"


def payloads_text(block: Any) -> str:
    """``{"payloads": [...]}`` as comma-separated short texts ("" when absent or empty)."""
    if not isinstance(block, dict):
        return ""
    items = [p for p in block.get("payloads") or [] if isinstance(p, dict)]
    return short(", ".join(payload_text(p) for p in items)) if items else ""


def _failure(attrs: dict[str, Any]) -> str:
    failure = attrs.get("failure") or attrs.get("lastFailure") or {}
    message = failure.get("message", "") if isinstance(failure, dict) else ""
    return short(message, 100) if message else ""


def _name(attrs: dict[str, Any], key: str) -> str:
    value = attrs.get(key)
    return str(value.get("name", "")) if isinstance(value, dict) else ""


def _join(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


def _labelled(label: str, value: str) -> str:
    return f"{label} {value}" if value else ""


def event_summary(event: dict[str, Any]) -> str:
    """One line for ``event`` (a proto3 JSON ``HistoryEvent``), by event type."""
    kind = str(event.get("eventType", "")).removeprefix("EVENT_TYPE_")
    attrs_key = next((k for k in event if k.endswith("EventAttributes")), None)
    attrs = event.get(attrs_key) if attrs_key else None
    if not isinstance(attrs, dict):
        return ""
    if kind == "WORKFLOW_EXECUTION_STARTED":
        return _join(
            _name(attrs, "workflowType"),
            _labelled("queue", _name(attrs, "taskQueue")),
            _labelled("input", payloads_text(attrs.get("input"))),
            _labelled(
                "attempt", str(attrs.get("attempt", "")) if attrs.get("attempt", 1) != 1 else ""
            ),
        )
    if kind in ("WORKFLOW_EXECUTION_COMPLETED", "ACTIVITY_TASK_COMPLETED"):
        return _labelled("result", payloads_text(attrs.get("result")))
    if kind == "CHILD_WORKFLOW_EXECUTION_COMPLETED":
        child = (attrs.get("workflowExecution") or {}).get("workflowId", "")
        return _join(child, _labelled("result", payloads_text(attrs.get("result"))))
    if kind == "ACTIVITY_TASK_SCHEDULED":
        return _join(
            _name(attrs, "activityType"),
            _labelled("id", str(attrs.get("activityId", ""))),
            _labelled("input", payloads_text(attrs.get("input"))),
        )
    if kind == "ACTIVITY_TASK_STARTED":
        return _join(
            f"attempt {attrs.get('attempt', 1)}", _labelled("last failure", _failure(attrs))
        )
    if kind in ("TIMER_STARTED",):
        return _join(
            _labelled("timer", str(attrs.get("timerId", ""))),
            _labelled("fires after", str(attrs.get("startToFireTimeout", ""))),
        )
    if kind in ("TIMER_FIRED", "TIMER_CANCELED"):
        return _labelled("timer", str(attrs.get("timerId", "")))
    if kind == "WORKFLOW_EXECUTION_SIGNALED":
        return _join(
            str(attrs.get("signalName", "")),
            _labelled("input", payloads_text(attrs.get("input"))),
        )
    if kind == "MARKER_RECORDED":
        return str(attrs.get("markerName", ""))
    if kind == "START_CHILD_WORKFLOW_EXECUTION_INITIATED":
        return _join(_name(attrs, "workflowType"), str(attrs.get("workflowId", "")))
    if kind == "WORKFLOW_EXECUTION_UPDATE_ACCEPTED":
        request = attrs.get("acceptedRequest") or {}
        update = request.get("input") or {}
        return _join(
            str(update.get("name", "")),
            _labelled("args", payloads_text(update.get("args"))),
        )
    if kind == "WORKFLOW_EXECUTION_UPDATE_COMPLETED":
        outcome = attrs.get("outcome") or {}
        if outcome.get("failure"):
            return _labelled("failed:", _failure(outcome))
        return _labelled("result", payloads_text(outcome.get("success")))
    if kind == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
        fields = (attrs.get("searchAttributes") or {}).get("indexedFields") or {}
        return ", ".join(f"{k}={payload_text(v)}" for k, v in fields.items())
    if kind == "WORKFLOW_TASK_FAILED":
        return _join(
            str(attrs.get("cause", "")).removeprefix("WORKFLOW_TASK_FAILED_CAUSE_"), _failure(attrs)
        )
    failure = _failure(attrs)
    if failure:
        retry = str(attrs.get("retryState", "")).removeprefix("RETRY_STATE_")
        return _join(failure, _labelled("retry", retry.lower() if retry else ""))
    return ""
