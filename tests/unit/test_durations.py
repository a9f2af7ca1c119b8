from __future__ import annotations

from datetime import timedelta

import pytest

from moonflow import durations as d


@pytest.mark.parametrize(
    "text, ns",
    [
        ("0", 0),
        ("30s", 30 * d.SECOND),
        ("1h30m", 90 * d.MINUTE),
        ("250ms", 250 * d.MILLISECOND),
        ("1.5s", 1_500_000_000),
        ("-2m", -120 * d.SECOND),
        ("10us", 10_000),
        ("10µs", 10_000),
        ("3ns", 3),
        ("1h0m0.5s", d.HOUR + 500 * d.MILLISECOND),
    ],
)
def test_parse_go_duration(text, ns):
    assert d.parse_go_duration(text) == ns


@pytest.mark.parametrize("text", ["", "5", "1x", "h", "1h 30m", "one second", "1.2.3s"])
def test_parse_go_duration_rejects(text):
    with pytest.raises(d.DurationError):
        d.parse_go_duration(text)


def test_units_per_api():
    assert d.lua_duration_ns(1000) == 1000  # Lua time: nanoseconds
    assert d.option_duration(1500) == timedelta(milliseconds=1500)  # Temporal options: ms
    assert d.seconds_duration(2) == 2.0  # http_client timeout: seconds
    assert d.option_duration("5s") == timedelta(seconds=5)


@pytest.mark.parametrize(
    "ns, text",
    [
        (0, "0s"),
        (90 * d.MINUTE, "1h30m0s"),
        (250 * d.MILLISECOND, "250ms"),
        (1_500_000_000, "1.5s"),
        (5, "5ns"),
        (-d.SECOND, "-1s"),
    ],
)
def test_format(ns, text):
    assert d.format_ns(ns) == text
