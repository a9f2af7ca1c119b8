"""``moonflow history -o text`` summaries (issue 17 review item 4), from events built with
Temporal's own protos and exported as ``moonflow history`` exports them (proto3 JSON)."""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration
from google.protobuf.json_format import MessageToDict
from temporalio.api.common.v1 import ActivityType, Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import (
    ActivityTaskScheduledEventAttributes,
    ActivityTaskStartedEventAttributes,
    HistoryEvent,
    TimerStartedEventAttributes,
)

from moonflow.cli._events import event_summary


def _json(data: bytes) -> Payloads:
    return Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=data)])


def _export(event: HistoryEvent) -> dict:
    return MessageToDict(event)


def test_activity_timer_and_long_payloads() -> None:
    scheduled = HistoryEvent(
        event_id=5,
        event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        activity_task_scheduled_event_attributes=ActivityTaskScheduledEventAttributes(
            activity_id="1",
            activity_type=ActivityType(name="app:charge"),
            input=_json(b'{"card": "' + b"x" * 100 + b'"}'),
        ),
    )
    text = event_summary(_export(scheduled))
    assert text.startswith('app:charge, id 1, input {"card":"xxx'), text
    assert text.endswith("…") and len(text) < 100, text
    started = HistoryEvent(
        event_id=6,
        event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
        activity_task_started_event_attributes=ActivityTaskStartedEventAttributes(
            attempt=3, last_failure=Failure(message="card declined")
        ),
    )
    assert event_summary(_export(started)) == "attempt 3, last failure card declined"
    timer = HistoryEvent(
        event_id=7,
        event_type=EventType.EVENT_TYPE_TIMER_STARTED,
        timer_started_event_attributes=TimerStartedEventAttributes(
            timer_id="1", start_to_fire_timeout=Duration(seconds=2)
        ),
    )
    assert event_summary(_export(timer)) == "timer 1, fires after 2s"
