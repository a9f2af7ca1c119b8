"""The Lua `time` module: durations, Time values, comparisons (issue 2 §4)."""

from __future__ import annotations

import pytest

from .helpers import FakeWorkflowHost, new_state, run, run_error

NOW = 1_700_000_000_123_000_000  # 2023-11-14T22:13:20.123Z


@pytest.fixture
def state():
    return new_state("workflow", FakeWorkflowHost(now_ns=NOW))


def py(state, src):
    return state.to_python(run(state, "local time = M('time') " + src)[0], "result")


def test_constants(state):
    assert py(
        state,
        "return {time.NANOSECOND, time.MICROSECOND, time.MILLISECOND, time.SECOND,"
        " time.MINUTE, time.HOUR}",
    ) == [1, 1000, 10**6, 10**9, 60 * 10**9, 3600 * 10**9]


@pytest.mark.parametrize(
    "arg, seconds",
    [
        ('"30s"', 30.0),
        ('"1h30m"', 5400.0),
        ('"250ms"', 0.25),
        ("time.SECOND * 2", 2.0),
        ("1500000000", 1.5),
        ('time.parse_duration("2m")', 120.0),
        ('"1.5h"', 5400.0),
    ],
)
def test_durations(state, arg, seconds):
    assert py(state, f"return time.now():add({arg}):sub(time.now()):seconds()") == seconds


def test_duration_string_and_methods(state):
    assert py(
        state,
        'local d = time.parse_duration("1h30m") return {tostring(d), d:minutes(),'
        " d:milliseconds()}",
    ) == ["1h30m0s", 90.0, 5_400_000]


def test_bad_duration_is_invalid(state):
    got = py(
        state,
        'local d, err = time.parse_duration("soon") return {d == nil, err:kind(), err:message()}',
    )
    assert got[0] is True and got[1] == "Invalid" and "soon" in got[2]
    assert "invalid duration 'soon'" in run_error(
        state, 'local time = M("time") time.sleep("soon")'
    )


def test_time_values(state):
    got = py(
        state,
        """
        local t = time.now()
        local later = t:add("1h")
        return {t:unix(), t:format_rfc3339(), tostring(t), t < later, t <= t, t == time.unix(t:unix(), 123000000),
                later:after(t), t:before(later), t:equal(t), later:sub(t):hours(), t:year(), t:month(), t:day(),
                t:hour(), t:minute(), t:second(), t:nanosecond()}""",
    )
    assert got == [
        1_700_000_000,
        "2023-11-14T22:13:20Z",
        "2023-11-14T22:13:20.123Z",
        True,
        True,
        True,
        True,
        True,
        True,
        1.0,
        2023,
        11,
        14,
        22,
        13,
        20,
        123_000_000,
    ]


def test_os_time_is_workflow_time(state):
    assert py(state, "return {os.time(), os.date('%Y-%m-%d', 0)}") == [1_700_000_000, "1970-01-01"]
    assert py(state, "return os.date('%H:%M')") == "22:13"
    assert py(state, "return os.time({year = 2024, month = 1, day = 1, hour = 0})") == 1_704_067_200


def test_math_random_is_seeded_by_host():
    a = new_state("workflow", FakeWorkflowHost(seed=7))
    b = new_state("workflow", FakeWorkflowHost(seed=7))
    src = "local t = {} for i = 1, 5 do t[i] = math.random(1000000) end return t"
    assert a.to_python(run(a, src)[0]) == b.to_python(run(b, src)[0])


@pytest.mark.parametrize(
    "src, start",
    [
        ("time.sleep({})", "snippet:1: time.sleep: expected a duration"),
        ('time.sleep("soon")', "snippet:1: time.sleep: invalid duration 'soon'"),
        ("time.after(0/0)", "snippet:1: time.after: duration must be a finite number"),
    ],
)
def test_duration_errors_name_the_call_once(src, start):
    state = new_state("activity")
    msg = run_error(state, 'local time = M("time") ' + src)
    assert msg.startswith(start), msg
    assert msg.count(src.split("(")[0] + ":") == 1, msg
