"""Activity option tables (``funcs.new():with_options{...}``) -> SDK keyword arguments.

Keys (reference runtime §2.5 / lua-api.md §3.8): canonical ``activity.<name>``, the legacy
alias ``temporal.activity.<name>`` (canonical wins when both are set), and the seed era's bare
``<name>``. Durations: Go strings or numbers of **milliseconds**. Retry policies accept snake
or camel case keys, matched case-insensitively. Booleans must be booleans and ids/queues
non-empty strings. Unknown keys and bad values are an :class:`OptionError` naming the key as
written (a typo must not be ignored silently); the workflow driver returns it to Lua as
``nil, err`` of kind ``Invalid``, and the workflow goes on. Local activities take the same
table; the driver drops the keys Temporal has no local form of (``task_queue``,
``heartbeat_timeout``, ``priority``). ``disable_eager_execution`` is checked and ignored (the
Python SDK decides eager execution per worker: worker option ``disable_eager_activities``);
``versioning_intent`` is accepted and ignored. A duration of 0 (``0``, ``"0s"``) means "not set",
as in Temporal, so a zero start-to-close timeout is the 10 minute default; a negative duration,
a retry ``maximum_interval`` below its ``initial_interval`` and two spellings of one retry key
are errors (Temporal would refuse the command and fail the workflow task on every retry).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from temporalio.common import Priority, RetryPolicy
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


_RETRY_KEYS = {
    "initialinterval": "initial_interval",
    "backoffcoefficient": "backoff_coefficient",
    "maximuminterval": "maximum_interval",
    "maxinterval": "maximum_interval",
    "maximumattempts": "maximum_attempts",
    "maxattempts": "maximum_attempts",
    "nonretryableerrortypes": "non_retryable_error_types",
}
_BOOLS = {"wait_for_cancellation", "disable_eager_execution", "local"}
_KNOWN = sorted(_DURATIONS | (_OTHER - {"versioning_intent"}))
#: Temporal's default first retry interval (what ``maximum_interval`` is checked against when
#: the policy sets no ``initial_interval``).
_DEFAULT_INITIAL_INTERVAL = timedelta(seconds=1)


class OptionError(ValueError):
    """Invalid activity options; the message names the key."""


def _norm(key: str) -> str:
    return key.replace("-", "_").lower()


def _duration(value: Any, name: str) -> timedelta:
    """``option_duration`` whose error names the option (``name: ...``) and refuses booleans."""
    if isinstance(value, bool):
        raise OptionError(
            f'{name}: expected a duration string like "5s" or a number of milliseconds, '
            f"got {str(value).lower()}"
        )
    try:
        d = option_duration(value, name)
    except DurationError as e:
        text = str(e)
        raise OptionError(text if text.startswith(name) else f"{name}: {text}") from None
    if d < timedelta(0):
        # Temporal refuses the command (BadScheduleActivityAttributes): the workflow task would
        # fail on every retry instead of this call
        raise OptionError(f"{name} must not be negative, got {value!r}")
    return d


def _priority(value: Any, name: str) -> Priority:
    """``{priority_key = 1..5, fairness_key = "tenant", fairness_weight = 2.0}`` -> Priority."""
    if value == []:
        return Priority()
    if not isinstance(value, dict):
        raise OptionError(f"{name} must be a table like {{priority_key = 1}}")
    fields: dict[str, Any] = {}
    for raw_key, v in value.items():
        k = str(raw_key).replace("_", "").lower()
        if k == "prioritykey":
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise OptionError(f"{name}.priority_key must be a positive integer, got {v!r}")
            fields["priority_key"] = v
        elif k == "fairnesskey":
            if not isinstance(v, str):
                raise OptionError(f"{name}.fairness_key must be a string, got {v!r}")
            fields["fairness_key"] = v
        elif k == "fairnessweight":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise OptionError(f"{name}.fairness_weight must be a positive number, got {v!r}")
            fields["fairness_weight"] = float(v)
        else:
            raise OptionError(
                f"unknown {name} key {raw_key!r} (use priority_key, fairness_key, fairness_weight)"
            )
    return Priority(**fields)


def _retry_policy(value: Any, name: str = "retry_policy") -> RetryPolicy:
    try:
        return _retry_policy_fields(value, name)
    except DurationError as e:  # an OptionError, so callers name the key it came with
        raise OptionError(str(e)) from None


def _retry_policy_fields(value: Any, name: str) -> RetryPolicy:
    if value == []:  # an empty Lua table
        return RetryPolicy()
    if not isinstance(value, dict):
        raise OptionError(
            f"{name} must be a table like {{maximum_attempts = 3}}, got {type(value).__name__}"
        )
    fields: dict[str, Any] = {}
    spelled: dict[str, Any] = {}  # field -> the key it came with
    for raw_key, v in value.items():
        # snake_case, camelCase, any letter case (the reference runtime matches keys
        # case-insensitively): compare without separators
        k = _RETRY_KEYS.get(str(raw_key).replace("_", "").replace("-", "").lower(), "")
        if k and k in spelled:
            # two spellings of one field ({maximum_attempts = 2, maximumAttempts = 3}): which
            # one was meant is anyone's guess (Lua tables have no order)
            a, b = sorted((str(spelled[k]), str(raw_key)))
            raise OptionError(f"{name}: {a} and {b} both set {k}: keep one")
        spelled[k] = raw_key
        if k == "initial_interval":
            fields["initial_interval"] = _duration(v, f"{name}.initial_interval")
        elif k == "maximum_interval":
            fields["maximum_interval"] = _duration(v, f"{name}.maximum_interval")
        elif k == "backoff_coefficient":
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not math.isfinite(v)
                or not 1 <= v <= 1e6
            ):
                raise OptionError(
                    f"{name}.backoff_coefficient must be a number from 1 to 1000000, got {v!r}"
                )
            fields["backoff_coefficient"] = float(v)
        elif k == "maximum_attempts":
            # Temporal keeps it as an int32 (0: unlimited)
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not math.isfinite(v)
                or v != int(v)
                or not 0 <= v <= 2**31 - 1
            ):
                raise OptionError(
                    f"{name}.maximum_attempts must be an integer from 0 (unlimited) to "
                    f"2147483647, got {v!r}"
                )
            fields["maximum_attempts"] = int(v)
        elif k == "non_retryable_error_types":
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise OptionError(
                    f"{name}.non_retryable_error_types must be a list of kinds like "
                    '{"Invalid", "PermissionDenied"}'
                )
            fields["non_retryable_error_types"] = v
        else:
            raise OptionError(
                f"unknown {name} key {raw_key!r} (use initial_interval, backoff_coefficient, "
                "maximum_interval, maximum_attempts, non_retryable_error_types)"
            )
    maximum = fields.get("maximum_interval")
    if maximum:  # 0: unset (Temporal's default, 100 x initial_interval)
        initial = fields.get("initial_interval") or _DEFAULT_INITIAL_INTERVAL
        if maximum < initial:
            # Temporal refuses the command ("MaximumInterval cannot be less than
            # InitialInterval"): the workflow task would fail on every retry
            raise OptionError(
                f"{name}.maximum_interval ({maximum.total_seconds():g}s) must not be less than "
                f"{name}.initial_interval ({initial.total_seconds():g}s"
                + ("" if "initial_interval" in fields else ", Temporal's default")
                + ")"
            )
    return RetryPolicy(**fields)


def activity_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """Lua option table (already converted to Python) -> kwargs for ``workflow.start_activity``.

    Returns a dict with ``start_to_close_timeout`` always set (default 10 minutes) and the
    special key ``local`` (bool or None) for the caller to pop.

    Raises:
        OptionError: unknown key or bad value, naming the key.
    """
    if options is None or options == []:  # none, or an empty Lua table
        options = {}
    if not isinstance(options, dict):
        raise OptionError(f"options must be a table of key = value, got {type(options).__name__}")
    picked: dict[str, tuple[int, Any, str]] = {}
    for raw_key, value in options.items():
        key = _norm(raw_key)
        rank = 0
        if key.startswith("activity."):
            key, rank = key[len("activity.") :], 2
        elif key.startswith("temporal.activity."):
            key, rank = key[len("temporal.activity.") :], 1
        if key not in _DURATIONS and key not in _OTHER:
            raise OptionError(
                f"unknown activity option {raw_key!r} (keys: activity.<name> or "
                f"temporal.activity.<name> with <name> one of {', '.join(_KNOWN)})"
            )
        if key not in picked or picked[key][0] <= rank:
            picked[key] = (rank, value, raw_key)
    out: dict[str, Any] = {}
    try:
        for key, (_, value, raw_key) in picked.items():
            if key in _DURATIONS:
                d = _duration(value, raw_key)
                if d:  # 0 means not set (as in Temporal): the default applies
                    out[key] = d
            elif key == "retry_policy":
                out["retry_policy"] = _retry_policy(value, raw_key)
            elif key in _BOOLS:
                if not isinstance(value, bool):
                    raise OptionError(f"{raw_key} must be true or false, got {value!r}")
                if key == "wait_for_cancellation":
                    out["cancellation_type"] = (
                        ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
                        if value
                        else ActivityCancellationType.TRY_CANCEL
                    )
                elif key == "local":
                    out[key] = value
                # disable_eager_execution: checked, then dropped: the Python SDK decides eager
                # execution per worker (worker option disable_eager_activities), not per call
            elif key in ("id", "task_queue", "summary"):
                if not isinstance(value, str) or not value:
                    raise OptionError(f"{raw_key} must be a non-empty string, got {value!r}")
                out["activity_id" if key == "id" else key] = value
            elif key == "priority":
                out["priority"] = _priority(value, raw_key)
            # versioning_intent: accepted and ignored (deprecated by Temporal).
    except DurationError as e:
        raise OptionError(str(e)) from None
    except (TypeError, ValueError) as e:
        raise OptionError(str(e)) from None
    if "start_to_close_timeout" not in out and "schedule_to_close_timeout" not in out:
        out["start_to_close_timeout"] = DEFAULT_START_TO_CLOSE
    return out
