"""Activity option tables (``funcs.new():with_options{...}``) -> SDK keyword arguments.

Keys (reference runtime §2.5 / lua-api.md §3.8): canonical ``activity.<name>``, the legacy
alias ``temporal.activity.<name>`` (canonical wins when both are set), and the seed era's bare
``<name>``. Durations: Go strings or numbers of **milliseconds**. Retry policies accept snake
or camel case keys, matched case-insensitively. Unknown keys are an error (a typo must not be
ignored silently).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from ..durations import DurationError, option_duration

DEFAULT_START_TO_CLOSE = timedelta(minutes=10)

_DURATIONS = {
    "start_to_close_timeout",
    "schedule_to_close_timeout",
    "schedule_to_start_timeout",
    "heartbeat_timeout",
}
_OTHER = {
    "id",
    "task_queue",
    "wait_for_cancellation",
    "retry_policy",
    "disable_eager_execution",
    "summary",
    "local",
    "priority",
    "versioning_intent",
}


class OptionError(ValueError):
    """Invalid activity options; the message names the key."""


def _norm(key: str) -> str:
    return key.replace("-", "_").lower()


def _retry_policy(value: Any) -> RetryPolicy:
    try:
        return _retry_policy_fields(value)
    except DurationError as e:  # an OptionError, so callers name the key it came with
        raise OptionError(str(e)) from None


def _retry_policy_fields(value: Any) -> RetryPolicy:
    if not isinstance(value, dict):
        raise OptionError("retry_policy must be a table")
    fields: dict[str, Any] = {}
    for raw_key, v in value.items():
        k = _norm("".join("_" + c.lower() if c.isupper() else c for c in raw_key)).lstrip("_")
        if k in ("initial_interval",):
            fields["initial_interval"] = option_duration(v, "retry_policy.initial_interval")
        elif k in ("maximum_interval", "max_interval"):
            fields["maximum_interval"] = option_duration(v, "retry_policy.maximum_interval")
        elif k == "backoff_coefficient":
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not math.isfinite(v)
                or not 1 <= v <= 1e6
            ):
                raise OptionError(
                    f"retry_policy.backoff_coefficient must be a number from 1 to 1000000, "
                    f"got {v!r}"
                )
            fields["backoff_coefficient"] = float(v)
        elif k in ("maximum_attempts", "max_attempts"):
            # Temporal keeps it as an int32 (0: unlimited)
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not math.isfinite(v)
                or v != int(v)
                or not 0 <= v <= 2**31 - 1
            ):
                raise OptionError(
                    "retry_policy.maximum_attempts must be an integer from 0 (unlimited) to "
                    f"2147483647, got {v!r}"
                )
            fields["maximum_attempts"] = int(v)
        elif k == "non_retryable_error_types":
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise OptionError("retry_policy.non_retryable_error_types must be a list of kinds")
            fields["non_retryable_error_types"] = v
        else:
            raise OptionError(
                f"unknown retry_policy key {raw_key!r} (use initial_interval, backoff_coefficient, "
                "maximum_interval, maximum_attempts, non_retryable_error_types)"
            )
    return RetryPolicy(**fields)


def activity_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """Lua option table (already converted to Python) -> kwargs for ``workflow.start_activity``.

    Returns a dict with ``start_to_close_timeout`` always set (default 10 minutes) and the
    special key ``local`` (bool or None) for the caller to pop.

    Raises:
        OptionError: unknown key or bad value, naming the key.
    """
    picked: dict[str, tuple[int, Any]] = {}
    for raw_key, value in (options or {}).items():
        key = _norm(raw_key)
        rank = 0
        if key.startswith("activity."):
            key, rank = key[len("activity.") :], 2
        elif key.startswith("temporal.activity."):
            key, rank = key[len("temporal.activity.") :], 1
        if key not in _DURATIONS and key not in _OTHER:
            raise OptionError(f"unknown activity option {raw_key!r}")
        if key not in picked or picked[key][0] <= rank:
            picked[key] = (rank, value)
    out: dict[str, Any] = {}
    try:
        for key, (_, value) in picked.items():
            if key in _DURATIONS:
                out[key] = option_duration(value, f"activity.{key}")
            elif key == "retry_policy":
                out["retry_policy"] = _retry_policy(value)
            elif key == "wait_for_cancellation":
                out["cancellation_type"] = (
                    ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
                    if value
                    else ActivityCancellationType.TRY_CANCEL
                )
            elif key == "id":
                out["activity_id"] = str(value)
            elif key in ("task_queue", "summary"):
                out[key] = str(value)
            elif key == "disable_eager_execution":
                out["disable_eager_execution"] = bool(value)
            elif key == "local":
                out["local"] = bool(value)
            # priority / versioning_intent: accepted, not mapped yet.
    except DurationError as e:
        raise OptionError(str(e)) from None
    except (TypeError, ValueError) as e:
        raise OptionError(str(e)) from None
    if "start_to_close_timeout" not in out and "schedule_to_close_timeout" not in out:
        out["start_to_close_timeout"] = DEFAULT_START_TO_CLOSE
    return out
