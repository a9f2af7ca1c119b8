"""Issue 17 item 13: a select's losing time.after timer, replayed from recorded histories.

``apps/select_timer/histories/select-after-v0.json`` is a run of ``app:approval`` recorded on the
code from before abandoned timers were cancelled: the message won the select and the 2 s timer
fired later anyway. ``select-after-v1.json`` is the same run on the current code: the timer is
cancelled, under the patch marker ``moonflow.cancel_abandoned_after@1``. Runs in flight from
before the change must keep replaying, and so must new ones (``apps/select_timer/record.py``).
"""

from __future__ import annotations

from pathlib import Path

from moonflow.testing import load_history, replay_file

APP = Path(__file__).resolve().parent / "apps" / "select_timer"
HISTORIES = APP / "histories"


def _timer_events(name: str) -> list[tuple[str, str]]:
    events = []
    for event in load_history(HISTORIES / f"{name}.json").events:
        for kind in ("timer_started", "timer_fired", "timer_canceled"):
            field = f"{kind}_event_attributes"
            if event.HasField(field):
                events.append((kind, getattr(event, field).timer_id))
    return events


def test_the_recorded_histories_show_the_old_and_the_new_behaviour() -> None:
    # guards the fixtures themselves: v0 lets the losing timer 1 fire, v1 cancels it
    assert _timer_events("select-after-v0") == [
        ("timer_started", "1"),
        ("timer_started", "2"),
        ("timer_fired", "1"),
        ("timer_fired", "2"),
    ]
    assert _timer_events("select-after-v1") == [
        ("timer_started", "1"),
        ("timer_started", "2"),
        ("timer_canceled", "1"),
        ("timer_fired", "2"),
    ]


async def test_a_run_from_before_the_change_replays_without_cancelling() -> None:
    # replaying v0 finds no patch marker: the run keeps the old behaviour, no CancelTimer
    await replay_file(APP, HISTORIES / "select-after-v0.json")


async def test_a_run_that_cancelled_the_losing_timer_replays() -> None:
    await replay_file(APP, HISTORIES / "select-after-v1.json")
