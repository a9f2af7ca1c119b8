"""Workflow start option tables -> SDK keyword arguments, for child workflows and top-level starts.

Keys (lua-api.md §3.2, reference-runtime.md §2.8): ``workflow.<name>`` (canonical), the legacy
``temporal.workflow.<name>`` (the canonical key wins when both are set). Names:

========================================  ==================================================
``id``                                    explicit workflow id (also ``:with_name(name)``)
``task_queue``                            override the worker's task queue
``execution_timeout`` / ``run_timeout`` /  durations: Go strings (``"72h"``) or **milliseconds**
``task_timeout`` / ``start_delay``
``id_conflict_policy``                    ``use_existing`` | ``fail`` | ``terminate_existing``
``id_reuse_policy``                       ``allow_duplicate`` | ``allow_duplicate_failed_only`` |
                                          ``reject_duplicate`` | ``terminate_if_running``
``execution_error_when_already_started``  true: an id already running is an error
``retry_policy``                          ``{initial_interval, backoff_coefficient, ...}``
``cron_schedule``                         a 5-field cron expression
``memo`` / ``search_attributes``          tables (search attributes typed as ``workflow.attrs``)
``enable_eager_start``                    accepted (eager start is the server's choice)
``parent_close_policy``                   ``terminate`` (default) | ``abandon`` | ``request_cancel``
``wait_for_cancellation``                 child: wait for its cancellation to finish
``summary`` / ``details``                 static summary and details shown by the UI
``request_id``                            top-level start: a retried start with the same id
                                          starts nothing new, delivers nothing twice (a
                                          child's start is already exactly-once: history)
``namespace``, ``priority``,              accepted, not applied yet
``versioning_override``,
``versioning_intent``
========================================  ==================================================

Policy strings are matched case-insensitively, with or without Temporal's enum prefix
(``WORKFLOW_ID_CONFLICT_POLICY_FAIL``). An unknown key or a bad value raises
:class:`~moonflow.worker._options.OptionError` naming the key: the caller turns it into
``nil, err`` of kind ``Invalid``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

from ..durations import DurationError, option_duration
from ._options import OptionError, _norm, _retry_policy

_DURATIONS = ("execution_timeout", "run_timeout", "task_timeout", "start_delay")
_CONFLICT = {
    "use_existing": WorkflowIDConflictPolicy.USE_EXISTING,
    "fail": WorkflowIDConflictPolicy.FAIL,
    "terminate_existing": WorkflowIDConflictPolicy.TERMINATE_EXISTING,
}
_REUSE = {
    "allow_duplicate": WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    "allow_duplicate_failed_only": WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    "reject_duplicate": WorkflowIDReusePolicy.REJECT_DUPLICATE,
    "terminate_if_running": WorkflowIDReusePolicy.TERMINATE_IF_RUNNING,
}
_PARENT_CLOSE = {
    "terminate": ParentClosePolicy.TERMINATE,
    "abandon": ParentClosePolicy.ABANDON,
    "request_cancel": ParentClosePolicy.REQUEST_CANCEL,
}
#: What Temporal's cron parser takes: five fields, or a descriptor (checked here because a
#: schedule the server refuses would fail the parent's workflow task, not the spawn).
_CRON = re.compile(
    r"(?:CRON_TZ=\S+\s+)?"
    r"(?:@(?:yearly|annually|monthly|weekly|daily|midnight|hourly)"
    r"|@every\s+\S+"
    r"|[\w*/,?#-]+(?:\s+[\w*/,?#-]+){4})"
)
_ACCEPTED = {"namespace", "priority", "versioning_override", "versioning_intent"}
_KNOWN = {
    "id",
    "task_queue",
    "id_conflict_policy",
    "id_reuse_policy",
    "execution_error_when_already_started",
    "retry_policy",
    "cron_schedule",
    "memo",
    "search_attributes",
    "enable_eager_start",
    "parent_close_policy",
    "wait_for_cancellation",
    "summary",
    "details",
    "request_id",
    *_DURATIONS,
    *_ACCEPTED,
}
#: Keys of the reference runtime's process options that concern no workflow (ignored).
_PROCESS_KEYS = {"network"}


@dataclass
class StartOptions:
    """Parsed start options (every field None when not given).

    ``conflict`` is the id-conflict behaviour to apply: an explicit policy wins; else
    ``execution_error_when_already_started = true`` means ``fail``; else an explicit id means
    ``use_existing`` (the reference runtime's default, reference-runtime.md §2.8) and a
    generated id ``fail``.
    """

    id: str | None = None
    task_queue: str | None = None
    durations: dict[str, timedelta] = field(default_factory=dict)
    conflict_policy: str | None = None
    error_when_already_started: bool | None = None
    reuse_policy: WorkflowIDReusePolicy | None = None
    retry_policy: RetryPolicy | None = None
    cron_schedule: str | None = None
    memo: dict[str, Any] | None = None
    search_attributes: dict[str, Any] | None = None
    parent_close_policy: ParentClosePolicy | None = None
    wait_for_cancellation: bool | None = None
    summary: str | None = None
    details: str | None = None
    request_id: str | None = None

    @property
    def conflict(self) -> str:
        if self.conflict_policy is not None:
            return self.conflict_policy
        if self.error_when_already_started:
            return "fail"
        return "use_existing" if self.id else "fail"

    def _shared_kwargs(self) -> dict[str, Any]:
        """What child and top-level starts take alike (durations aside)."""
        out: dict[str, Any] = {}
        if self.reuse_policy is not None:
            out["id_reuse_policy"] = self.reuse_policy
        if self.retry_policy is not None:
            out["retry_policy"] = self.retry_policy
        if self.cron_schedule:
            out["cron_schedule"] = self.cron_schedule
        if self.memo is not None:
            out["memo"] = self.memo
        if self.summary is not None:
            out["static_summary"] = self.summary
        if self.details is not None:
            out["static_details"] = self.details
        return out

    def child_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``workflow.start_child_workflow`` (without id, task queue and
        search attributes, which the caller settles; a child has no start delay)."""
        out: dict[str, Any] = {k: v for k, v in self.durations.items() if k != "start_delay"}
        out.update(self._shared_kwargs())
        if self.parent_close_policy is not None:
            out["parent_close_policy"] = self.parent_close_policy
        if self.wait_for_cancellation is not None:
            out["cancellation_type"] = (
                ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED
                if self.wait_for_cancellation
                else ChildWorkflowCancellationType.TRY_CANCEL
            )
        return out

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``Client.start_workflow`` (without id, task queue and search
        attributes, which the caller settles)."""
        out: dict[str, Any] = dict(self.durations)
        out["id_conflict_policy"] = _CONFLICT[self.conflict]
        out.update(self._shared_kwargs())
        return out


def _policy(value: Any, table: dict[str, Any], prefix: str, key: str) -> Any:
    if not isinstance(value, str):
        raise OptionError(f"workflow.{key} must be a string: one of {', '.join(table)}")
    name = value.strip().lower()
    if name.startswith(prefix):
        name = name[len(prefix) :]
    if name not in table:
        raise OptionError(f"workflow.{key}: unknown value {value!r}: use one of {', '.join(table)}")
    return table[name]


def workflow_options(options: dict[str, Any] | None) -> StartOptions:
    """A Lua option table (already converted to Python) -> :class:`StartOptions`.

    Raises:
        OptionError: unknown key or bad value, naming the key.
    """
    if isinstance(options, list) and not options:
        options = None  # an empty Lua table converts to []
    if options is not None and not isinstance(options, dict):
        raise OptionError("options must be a table of key = value")
    picked: dict[str, tuple[int, str, Any]] = {}
    for raw_key, value in (options or {}).items():
        if not isinstance(raw_key, str):
            raise OptionError(f"option keys must be strings, got {raw_key!r}")
        key = _norm(raw_key)
        rank = 0
        if key.startswith("workflow."):
            key, rank = key[len("workflow.") :], 2
        elif key.startswith("temporal.workflow."):
            key, rank = key[len("temporal.workflow.") :], 1
        elif key in _PROCESS_KEYS:
            continue
        else:
            raise OptionError(
                f"unknown option {raw_key!r}: workflow start options are workflow.<name> "
                "(or temporal.workflow.<name>), e.g. workflow.id"
            )
        if key not in _KNOWN:
            raise OptionError(f"unknown workflow option {raw_key!r}")
        if key not in picked or picked[key][0] <= rank:
            picked[key] = (rank, raw_key, value)
    out = StartOptions()
    try:
        for key, (_, raw_key, value) in picked.items():
            if key in _DURATIONS:
                try:
                    out.durations[key] = option_duration(value, raw_key)
                except DurationError as e:
                    text = str(e)
                    raise OptionError(
                        text if text.startswith(raw_key) else f"{raw_key}: {text}"
                    ) from None
                if out.durations[key] < timedelta(0):
                    seconds = out.durations[key].total_seconds()
                    raise OptionError(f"{raw_key} must not be negative, got {seconds:g}s")
            elif key == "cron_schedule":
                if not isinstance(value, str) or not _CRON.fullmatch(value.strip()):
                    raise OptionError(
                        f"{raw_key}: {value!r} is not a cron schedule: five fields "
                        '("*/5 * * * *"), or @hourly, @daily, @weekly, @monthly, @yearly, '
                        "@every 1h"
                    )
                out.cron_schedule = value.strip()
            elif key == "request_id":
                if isinstance(value, int) and not isinstance(value, bool):
                    value = str(value)  # `--option workflow.request_id=5` reads 5 as JSON
                if not isinstance(value, str) or not value:
                    raise OptionError(f"{raw_key} must be a non-empty string")
                if len(value) > 200:
                    raise OptionError(
                        f"{raw_key} is too long ({len(value)} characters; at most 200)"
                    )
                out.request_id = value
            elif key in ("id", "task_queue", "summary", "details"):
                if not isinstance(value, str) or not value:
                    raise OptionError(f"{raw_key} must be a non-empty string")
                setattr(out, key, value)
            elif key == "id_conflict_policy":
                _policy(value, _CONFLICT, "workflow_id_conflict_policy_", key)
                out.conflict_policy = (
                    value.strip().lower().removeprefix("workflow_id_conflict_policy_")
                )
            elif key == "id_reuse_policy":
                out.reuse_policy = _policy(value, _REUSE, "workflow_id_reuse_policy_", key)
            elif key == "parent_close_policy":
                out.parent_close_policy = _policy(value, _PARENT_CLOSE, "parent_close_policy_", key)
            elif key in ("execution_error_when_already_started", "wait_for_cancellation"):
                if not isinstance(value, bool):
                    raise OptionError(f"{raw_key} must be true or false")
                if key == "wait_for_cancellation":
                    out.wait_for_cancellation = value
                else:
                    out.error_when_already_started = value
            elif key == "retry_policy":
                try:
                    out.retry_policy = _retry_policy(value)
                except OptionError as e:  # name the key as written
                    text = str(e)
                    if text.startswith("retry_policy"):
                        # every field it names ("retry_policy.maximum_interval ... than
                        # retry_policy.initial_interval")
                        text = raw_key + text[len("retry_policy") :].replace(
                            "retry_policy.", f"{raw_key}."
                        )
                    else:
                        text = f"{raw_key}: {text}"
                    raise OptionError(text) from None
            elif key in ("memo", "search_attributes"):
                if isinstance(value, list) and not value:
                    value = {}
                if not isinstance(value, dict):
                    raise OptionError(f"{raw_key} must be a table of name = value")
                setattr(out, key, value)
            # enable_eager_start and _ACCEPTED: accepted, nothing to apply yet
    except DurationError as e:
        raise OptionError(str(e)) from None
    except (TypeError, ValueError) as e:
        if isinstance(e, OptionError):
            raise
        raise OptionError(str(e)) from None
    return out
