"""The ``uuid`` Lua module: generation, inspection, formats, and determinism in workflows."""

from __future__ import annotations

import re
import uuid

import pytest

from .helpers import FakeWorkflowHost, new_state, run

STD = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
DNS = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
URL = "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
# RFC 9562 appendix A test vectors: both encode 2022-02-22T19:22:22Z.
RFC_V1 = "C232AB00-9414-11EC-B3C8-9F6BDECED846"
RFC_V7 = "017F22E2-79B0-7CC3-98C4-DC0C0C07398F"
RFC_TIME_NS = 1_645_557_742_000_000_000


@pytest.fixture
def state():
    return new_state("activity")


def lua(state, src):
    return run(state, "local uuid = M('uuid')\n" + src)


@pytest.mark.parametrize("fn, version", [("v1", 1), ("v4", 4), ("v7", 7)])
def test_generated_ids_are_standard_lowercase_with_version(state, fn, version):
    value, err = lua(state, f"return uuid.{fn}()")
    assert err is None
    assert STD.match(value), value
    assert uuid.UUID(value).version == version
    assert lua(state, f"return uuid.version(uuid.{fn}())") == [version, None]


def test_generated_ids_are_unique(state):
    [ids] = lua(
        state,
        "local t = {} for i = 1, 200 do t[#t + 1] = uuid.v1() "
        "t[#t + 1] = uuid.v4() t[#t + 1] = uuid.v7() end return t",
    )
    assert len(set(ids)) == 600


def test_v7_sorts_in_creation_order(state):
    [ids] = lua(state, "local t = {} for i = 1, 500 do t[i] = uuid.v7() end return t")
    assert ids == sorted(ids)


@pytest.mark.parametrize(
    "fn, ns, name, expected",
    [
        ("v3", DNS, "www.example.com", "5df41881-3aed-3515-88a7-2f4a814cf09e"),  # RFC 9562
        ("v5", DNS, "www.example.com", "2ed6657d-e927-568b-95e1-2665a8aea6a2"),  # RFC 9562
        ("v3", DNS, "python.org", "6fa459ea-ee8a-3ca4-894e-db77e160355e"),  # Python docs
        ("v5", DNS, "python.org", "886313e1-3b8a-5372-9b90-0c9aee199e5d"),  # Python docs
        (
            "v5",
            URL.upper(),
            "https://example.com/ü",
            str(uuid.uuid5(uuid.NAMESPACE_URL, "https://example.com/ü")),
        ),
    ],
)
def test_name_based_known_vectors(state, fn, ns, name, expected):
    assert lua(state, f"return uuid.{fn}({ns!r}, {name!r})") == [expected, None]


@pytest.mark.parametrize("args", ["'not-a-uuid', 'x'", "nil, 'x'", f"'{DNS}', 42", f"'{DNS}'"])
def test_name_based_bad_arguments_are_invalid(state, args):
    value, kind, msg = lua(state, f"local v, e = uuid.v5({args}) return v, e:kind(), e:message()")
    assert value is None and kind == "Invalid"
    assert msg.startswith("uuid.v5: ")


@pytest.mark.parametrize(
    "text, ok",
    [
        ("c232ab00-9414-11ec-b3c8-9f6bdeced846", True),
        (RFC_V1, True),
        ("{c232ab00-9414-11ec-b3c8-9f6bdeced846}", True),
        ("urn:uuid:c232ab00-9414-11ec-b3c8-9f6bdeced846", True),
        ("c232ab00941411ecb3c89f6bdeced846", True),
        ("c232ab00-9414-11ec-b3c8-9f6bdeced84", False),
        ("c232ab00-9414-11ec-b3c8-9f6bdeced8466", False),
        ("g232ab00-9414-11ec-b3c8-9f6bdeced846", False),
        ("c232ab0-09414-11ec-b3c8-9f6bdeced846", False),
        ("", False),
    ],
)
def test_validate(state, text, ok):
    assert lua(state, f"return uuid.validate({text!r})") == [ok]


@pytest.mark.parametrize("value", ["nil", "42", "{}", "true"])
def test_validate_non_strings_is_false(state, value):
    assert lua(state, f"return uuid.validate({value})") == [False]


def test_version_of_invalid_is_error(state):
    assert lua(state, "local v, e = uuid.version('nope') return v, e:kind()") == [None, "Invalid"]


@pytest.mark.parametrize(
    "text, variant",
    [
        (RFC_V7, "RFC4122"),
        ("c232ab00-9414-11ec-03c8-9f6bdeced846", "NCS"),
        ("c232ab00-9414-11ec-c3c8-9f6bdeced846", "Microsoft"),
        ("c232ab00-9414-11ec-e3c8-9f6bdeced846", "Future"),
        ("bogus", "Invalid"),
    ],
)
def test_variant(state, text, variant):
    assert lua(state, f"return uuid.variant({text!r})") == [variant]


def test_parse_rfc_vectors(state):
    v1, v7, v4 = lua(
        state,
        f"return {{uuid.parse({RFC_V1!r})}}, {{uuid.parse({RFC_V7!r})}}, "
        "{uuid.parse('919108f7-52d1-4320-9bac-f847db4148a8')}",
    )
    v1, v7, v4 = v1[0], v7[0], v4[0]
    assert v1 == {
        "version": 1,
        "variant": "RFC4122",
        "timestamp": RFC_TIME_NS,
        "node": "9f:6b:de:ce:d8:46",
    }
    assert v7 == {"version": 7, "variant": "RFC4122", "timestamp": RFC_TIME_NS}
    assert v4 == {"version": 4, "variant": "RFC4122"}


def test_parse_timestamp_feeds_time_unix(state):
    assert run(
        state,
        f"""
        local uuid, time = M('uuid'), M('time')
        local t = uuid.parse({RFC_V7!r})
        return time.unix(0, t.timestamp):format_rfc3339()
    """,
    ) == ["2022-02-22T19:22:22Z"]


def test_parse_takes_the_result_of_a_generator_directly(state):
    # f(g()) passes g's nil error along as an extra argument.
    info, err = lua(state, "return uuid.parse(uuid.v7())")
    assert err is None
    assert info["version"] == 7


def test_parse_invalid(state):
    assert lua(state, "local t, e = uuid.parse('x') return t, e:kind()") == [None, "Invalid"]


def test_format(state):
    std = "c232ab00-9414-11ec-b3c8-9f6bdeced846"
    assert lua(
        state,
        f"""
        local id = {RFC_V1!r}
        return (uuid.format(id, 'standard')), (uuid.format(id, 'simple')),
               (uuid.format(id, 'urn')), (uuid.format('{{' .. id .. '}}')),
               uuid.format(uuid.format(id, 'urn'), 'simple')
    """,
    ) == [std, std.replace("-", ""), "urn:uuid:" + std, std, std.replace("-", ""), None]


def test_format_errors(state):
    assert lua(
        state,
        f"""
        local a, e1 = uuid.format({RFC_V1!r}, 'braces')
        local b, e2 = uuid.format('zz', 'simple')
        return a, e1:kind(), b, e2:kind()
    """,
    ) == [None, "Invalid", None, "Invalid"]


# ---- workflow context: replay-safe ------------------------------------------------------
NOW = 1_700_000_000_123_456_789
V4S = ["0b9e7e2a-5a3f-4a8e-9a67-2d3f0d6c1a01", "4d3b7f71-2f7a-4b0b-8d52-0a7e1e6c9b02"]
GEN = (
    "local uuid = M('uuid') "
    "return {uuid.v1(), uuid.v4(), uuid.v7(), uuid.v1(), uuid.v7(), uuid.v4()}"
)


def workflow_state(now=NOW, seed=7):
    return new_state("workflow", FakeWorkflowHost(now, seed, V4S))


def test_workflow_ids_repeat_on_replay():
    first = run(workflow_state(), GEN)
    replay = run(workflow_state(), GEN)  # a fresh state with the same host answers
    assert first == replay
    ids = first[0]
    assert len(set(ids)) == 6
    assert ids[1] == V4S[0] and ids[5] == V4S[1]


def test_workflow_ids_come_from_workflow_time_and_seed():
    ids = run(workflow_state(), GEN)[0]
    assert run(workflow_state(seed=8), GEN)[0] != ids  # random bits from the seed
    assert uuid.UUID(ids[0]).time == NOW // 100 + 0x01B21DD213814000
    assert uuid.UUID(ids[3]).time == NOW // 100 + 0x01B21DD213814000 + 1  # same tick: +1
    assert uuid.UUID(ids[2]).int >> 80 == NOW // 1_000_000
    assert uuid.UUID(ids[4]).int >> 80 == NOW // 1_000_000
    assert ids[2] < ids[4]


def test_workflow_v1_timestamp_parses_back_to_workflow_time():
    [ts] = run(workflow_state(), "local uuid = M('uuid') return uuid.parse(uuid.v1()).timestamp")
    assert ts == NOW // 100 * 100


def test_requiring_uuid_consumes_no_workflow_randomness():
    class CountingHost(FakeWorkflowHost):
        seeds = 0

        def random_seed(self) -> int:
            CountingHost.seeds += 1
            return 1

    host = CountingHost(NOW, 1, V4S)
    state = new_state("workflow", host)
    before = CountingHost.seeds
    run(state, "local uuid = M('uuid') return uuid.v4(), uuid.v3(uuid.v4(), 'x')")
    assert CountingHost.seeds == before
    run(state, "return M('uuid').v7()")
    assert CountingHost.seeds == before + 1
