"""process.host, terminal.host, process.service and their lifecycle block (lua-api.md §1.7-1.8)."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest

from moonflow.cli import run
from moonflow.errors import AppError
from moonflow.kinds import (
    HOST_KEYS,
    KINDS,
    LIFECYCLE_KEYS,
    RESTART_KEYS,
    SKIPPED_KINDS,
    Lifecycle,
    ProcessHostSpec,
    ProcessServiceSpec,
    RestartPolicy,
    TerminalHostSpec,
)

from .helpers import MAIN_LUA, assert_error, dedent, line_of, more

#: A process.lua entry (lines 3-6) and a process.host without fields (lines 7-8); tests append
#: entries from line 9 on.
PROC_YAML = """\
namespace: app
entries:
  - name: proc
    kind: process.lua
    source: file://proc.lua
    method: main
  - name: host
    kind: process.host
"""


def files(extra: str, **more_files: str) -> dict[str, str]:
    return {"app.yaml": PROC_YAML + more(extra), "proc.lua": MAIN_LUA, **more_files}


# --- valid entries and defaults ------------------------------------------------------------------


FULL = """
- name: big
  kind: process.host
  host: {workers: 3, queue_size: 64, local_queue_size: 8}
  lifecycle: {auto_start: true, stop_timeout: 2s}
- name: term
  kind: terminal.host
  lifecycle:
    auto_start: true
- name: fn
  kind: function.lua
  source: file://proc.lua
  method: main
- name: svc
  kind: process.service
  process: app:proc
  host: big
  input: [42, "eu", {tags: [a, b], ok: true, none: null}, 1.5]
  lifecycle:
    auto_start: true
    start_timeout: 1m30s
    stop_timeout: 2500
    stable_threshold: 0s
    depends_on: [term]
    restart:
      initial_delay: 250ms
      max_delay: 1m
      backoff_factor: 1.5
      jitter: 0
      max_attempts: 7
    security: {actor: {id: svc}, groups: [admins]}
- name: fn_svc
  kind: process.service
  process: fn
  host: term
"""


def test_full_entries(load_ok) -> None:
    app = load_ok(files(FULL))
    big = app.spec("app:big")
    assert isinstance(big, ProcessHostSpec)
    assert (big.workers, big.queue_size, big.local_queue_size) == (3, 64, 8)
    assert big.lifecycle == Lifecycle(auto_start=True, stop_timeout=timedelta(seconds=2))
    term = app.spec("app:term")
    assert isinstance(term, TerminalHostSpec)
    assert term.lifecycle.auto_start is True

    svc = app.spec("app:svc")
    assert isinstance(svc, ProcessServiceSpec)
    assert (svc.process, svc.host) == ("app:proc", "app:big")
    assert svc.input == (42, "eu", {"tags": ["a", "b"], "ok": True, "none": None}, 1.5)
    assert svc.lifecycle == Lifecycle(
        auto_start=True,
        start_timeout=timedelta(seconds=90),
        stop_timeout=timedelta(milliseconds=2500),  # a bare number is milliseconds
        stable_threshold=timedelta(0),
        depends_on=("app:term",),
        restart=RestartPolicy(
            initial_delay=timedelta(milliseconds=250),
            max_delay=timedelta(minutes=1),
            backoff_factor=1.5,
            jitter=0.0,
            max_attempts=7,
        ),
        security={"actor": {"id": "svc"}, "groups": ["admins"]},
    )
    # a function.lua may be a service's process too
    assert (app.spec("app:fn_svc").process, app.spec("app:fn_svc").host) == ("app:fn", "app:term")


def test_defaults(load_ok) -> None:
    app = load_ok(files("- name: svc\n  kind: process.service\n  process: proc\n  host: host\n"))
    host = app.spec("app:host")
    assert host.workers == (os.cpu_count() or 1)
    assert (host.queue_size, host.local_queue_size) == (1024, 256)
    svc = app.spec("app:svc")
    assert svc.input == ()
    for lifecycle in (host.lifecycle, svc.lifecycle):
        assert lifecycle == Lifecycle()
    lc = Lifecycle()
    assert lc.auto_start is False
    assert (lc.start_timeout, lc.stop_timeout) == (timedelta(seconds=10), timedelta(seconds=10))
    assert lc.stable_threshold == timedelta(seconds=5)
    assert (lc.depends_on, lc.security) == ((), None)
    assert lc.restart == RestartPolicy(
        initial_delay=timedelta(seconds=1),
        max_delay=timedelta(seconds=90),
        backoff_factor=2.0,
        jitter=0.1,
        max_attempts=0,
    )


def test_empty_blocks_mean_defaults(load_ok) -> None:
    app = load_ok(
        files(
            """
            - name: h2
              kind: process.host
              host: {}
              lifecycle: {restart: {}, auto_start: null}
            - name: h3
              kind: process.host
              host:
              lifecycle:
            """
        )
    )
    for eid in ("app:h2", "app:h3"):
        assert app.spec(eid).lifecycle == Lifecycle()
        assert app.spec(eid).queue_size == 1024


def test_depends_on_and_requires_are_merged(load_ok) -> None:
    app = load_ok(
        files(
            """
            - name: a
              kind: process.service
              process: proc
              host: host
            - name: b
              kind: process.service
              process: proc
              host: host
            - name: api
              kind: http.service
              addr: ":8080"
            - name: c
              kind: process.service
              process: proc
              host: host
              lifecycle:
                depends_on: [b, app:a, api]
                requires: [app:b, host]
            - name: d
              kind: process.service
              process: proc
              host: host
              lifecycle: {requires: a}
            """
        )
    )
    # depends_on first, then requires; bare names resolved, duplicates and skipped entries gone
    assert app.spec("app:c").lifecycle.depends_on == ("app:b", "app:a", "app:host")
    assert app.spec("app:d").lifecycle.depends_on == ("app:a",)  # one id as a string
    assert set(app.dependencies("app:c")) == {"app:proc", "app:host", "app:a", "app:b"}


def test_the_kinds_are_registered_not_skipped() -> None:
    for kind in ("process.host", "terminal.host", "process.service"):
        assert kind in KINDS
        assert kind not in SKIPPED_KINDS
    assert HOST_KEYS == ("workers", "queue_size", "local_queue_size")
    assert set(LIFECYCLE_KEYS) >= {"auto_start", "depends_on", "requires", "restart"}
    assert RESTART_KEYS == (
        "initial_delay",
        "max_delay",
        "backoff_factor",
        "jitter",
        "max_attempts",
    )


# --- accessors and start order -------------------------------------------------------------------


ORDERED = """
- name: web
  kind: process.service
  process: proc
  host: host
  lifecycle: {depends_on: [cache], requires: [db]}
- name: term
  kind: terminal.host
- name: cache
  kind: process.service
  process: proc
  host: term
  lifecycle: {requires: [db]}
- name: db
  kind: process.service
  process: proc
  host: host
- name: lone
  kind: process.service
  process: proc
  host: host
"""


def test_accessors_list_file_order_and_start_order(load_ok) -> None:
    app = load_ok(files(ORDERED))
    assert [h.entry.id for h in app.process_hosts()] == ["app:host"]
    assert [h.entry.id for h in app.terminal_hosts()] == ["app:term"]
    assert [s.entry.id for s in app.services()] == ["app:web", "app:cache", "app:db", "app:lone"]
    assert [s.entry.id for s in app.services_in_start_order()] == [
        "app:db",
        "app:cache",
        "app:web",
        "app:lone",
    ]
    # any ids, hosts before their services; duplicates dropped; ties keep file order
    assert app.start_order(["app:web", "app:db", "app:term", "app:host", "app:web"]) == [
        "app:host",
        "app:term",
        "app:db",
        "app:web",
    ]
    assert app.start_order([]) == []


def test_start_order_follows_dependencies_through_other_entries(load_ok) -> None:
    app = load_ok(
        files(
            """
            - name: first
              kind: process.service
              process: proc
              host: late_host
            - name: late_host
              kind: process.host
              lifecycle: {depends_on: [second]}
            - name: second
              kind: process.service
              process: proc
              host: host
            """
        )
    )
    # first -> late_host (its host, not a service) -> second
    assert [s.entry.id for s in app.services_in_start_order()] == ["app:second", "app:first"]
    assert app.start_order(["app:first", "app:second"]) == ["app:second", "app:first"]


def test_a_service_written_before_its_dependency_starts_after_it(load_ok) -> None:
    # (process: and host: can never name a service: their kinds are checked)
    app = load_ok(
        files(
            """
            - name: b
              kind: process.service
              process: proc
              host: host
              lifecycle: {depends_on: [a]}
            - name: a
              kind: process.service
              process: proc
              host: host
            """
        )
    )
    assert [s.entry.id for s in app.services_in_start_order()] == ["app:a", "app:b"]


def test_file_order_spans_files_like_discovery(load_ok) -> None:
    sub = "namespace: app.sub\nentries:\n  - name: s\n    kind: process.service\n"
    sub += "    process: app:proc\n    host: app:host\n"
    app = load_ok(
        {
            **files("- name: z\n  kind: process.service\n  process: proc\n  host: host\n"),
            # a directory's own files come before its subdirectories'
            "a/sub.yaml": sub,
            "b.yaml": sub.replace("app.sub", "app.b").replace("- name: s", "- name: t"),
            "a/0.yaml": sub.replace("app.sub", "app.zero"),
        }
    )
    assert [s.entry.id for s in app.services()] == [
        "app:z",
        "app.b:t",
        "app.zero:s",
        "app.sub:s",
    ]


def test_start_order_of_an_unknown_id(load_ok) -> None:
    app = load_ok(files(ORDERED))
    with pytest.raises(AppError, match=r"no entry 'app:wbe'.*did you mean app:web"):
        app.start_order(["app:wbe"])


def test_a_dependency_cycle_is_a_load_error_naming_it(load_err) -> None:
    extra = """
    - name: a
      kind: process.service
      process: proc
      host: host
      lifecycle: {depends_on: [b]}
    - name: b
      kind: process.service
      process: proc
      host: host
      lifecycle:
        requires: [c]
    - name: c
      kind: process.service
      process: proc
      host: host
      lifecycle: {depends_on: [app:a]}
    """
    err = load_err(files(extra))
    yaml = PROC_YAML + more(extra)
    assert str(err) == (
        f"app.yaml:{line_of(yaml, 'depends_on: [b]')}: app:a: dependency cycle app:a -> app:b -> "
        "app:c -> app:a: remove one of these references or lifecycle.depends_on items"
    )


def test_a_host_depending_on_its_own_service_is_a_cycle(load_err) -> None:
    extra = """
    - name: h
      kind: process.host
      lifecycle: {requires: [svc]}
    - name: svc
      kind: process.service
      process: proc
      host: h
    """
    err = load_err(files(extra))
    yaml = PROC_YAML + more(extra)
    assert_error(
        err,
        "app.yaml",
        line_of(yaml, "requires: [svc]"),
        "app:h",
        "dependency cycle app:h -> app:svc -> app:h",
    )


# --- errors --------------------------------------------------------------------------------------

SVC = "- name: svc\n  kind: process.service\n"
H2 = "- name: h2\n  kind: process.host\n"
TERM = "- name: t\n  kind: terminal.host\n"

ERRORS = [
    # process.service: references
    (
        SVC + "  host: host\n",
        "name: svc",
        "app:svc",
        "missing required field 'process' for a process.service entry: add process: ns:name of a "
        "process.lua or function.lua entry",
    ),
    (
        SVC + "  process: proc\n",
        "name: svc",
        "app:svc",
        "missing required field 'host' for a process.service entry: add host: ns:name of a "
        "process.host or terminal.host entry",
    ),
    (
        SVC + "  process: [proc]\n  host: host\n",
        "process:",
        "app:svc",
        "process must be one entry id (ns:name of a process.lua or function.lua entry), not list",
    ),
    (
        SVC + "  process: proc\n  host: [host]\n",
        "host: [host]",
        "app:svc",
        "host must be one entry id (ns:name of a process.host or terminal.host entry), not list",
    ),
    (
        SVC + "  process: porc\n  host: host\n",
        "process:",
        "app:svc",
        "process refers to 'porc' (app:porc), which does not exist: did you mean app:proc?",
    ),
    (
        SVC + "  process: host\n  host: host\n",
        "process:",
        "app:svc",
        "process refers to 'host' (app:host), which is a process.host, not a process.lua or "
        "function.lua: point it at a process.lua or function.lua (app:proc)",
    ),
    (
        SVC + "  process: proc\n  host: proc\n",
        "host: proc",
        "app:svc",
        "host refers to 'proc' (app:proc), which is a process.lua, not a process.host or "
        "terminal.host: point it at a process.host or terminal.host (app:host)",
    ),
    (
        SVC + "  process: proc\n  host: app:hots\n",
        "host: app:hots",
        "app:svc",
        "host refers to 'app:hots', which does not exist: did you mean app:host?",
    ),
    # process.service: input
    (
        SVC + "  process: proc\n  host: host\n  input: hello\n",
        "input:",
        "app:svc",
        "input must be a list (one item per argument of the process), not a string: write "
        'input: ["hello"]',
    ),
    (
        SVC + "  process: proc\n  host: host\n  input: {a: 1}\n",
        "input:",
        "app:svc",
        "input must be a list (one item per argument of the process), not a mapping: write "
        'input: [{"a": 1}]',
    ),
    (
        SVC + "  process: proc\n  host: host\n  input:\n    - 1\n    - when: 2024-01-02\n",
        "when:",
        "app:svc",
        "input.1.when is a date (2024-01-02), not a JSON value: quote it",
    ),
    (
        SVC + "  process: proc\n  host: host\n  input: [{1: a}]\n",
        "input:",
        "app:svc",
        "input.0 has the key 1, which is not a string: quote it",
    ),
    (
        SVC + "  process: proc\n  host: host\n  input: [.nan]\n",
        "input:",
        "app:svc",
        "input.0 is nan, not a JSON value (JSON numbers are finite)",
    ),
    (
        SVC + "  process: proc\n  host: host\n  input: [!!binary aGk=]\n",
        "input:",
        "app:svc",
        "input.0 is a bytes (b'hi'), not a JSON value",
    ),
    # process.host: host
    (
        H2 + "  host: 4\n",
        "host: 4",
        "app:h2",
        "host must be a mapping (key: value lines), not int",
    ),
    (
        H2 + "  host:\n    worker: 4\n",
        "worker: 4",
        "app:h2",
        "unknown host key 'worker': did you mean workers? allowed keys are workers, queue_size, "
        "local_queue_size",
    ),
    (
        H2 + "  host:\n    workers: 0\n",
        "workers: 0",
        "app:h2",
        "host.workers must be a whole number >= 1, not 0",
    ),
    (
        H2 + "  host:\n    workers: true\n",
        "workers: true",
        "app:h2",
        "host.workers must be a whole number >= 1, not True",
    ),
    (
        H2 + "  host:\n    queue_size: '10'\n",
        "queue_size",
        "app:h2",
        "host.queue_size must be a whole number >= 1, not '10'",
    ),
    (
        H2 + "  host:\n    local_queue_size: 2.5\n",
        "local_queue_size",
        "app:h2",
        "host.local_queue_size must be a whole number >= 1, not 2.5",
    ),
    # lifecycle (any of the three kinds)
    (
        TERM + "  lifecycle: [auto_start]\n",
        "lifecycle:",
        "app:t",
        "lifecycle must be a mapping (key: value lines), not list",
    ),
    (
        TERM + "  lifecycle:\n    autostart: true\n",
        "autostart",
        "app:t",
        "unknown lifecycle key 'autostart': did you mean auto_start? allowed keys are auto_start, "
        "start_timeout, stop_timeout, stable_threshold, depends_on, requires, restart, security",
    ),
    (
        TERM + "  lifecycle:\n    auto_start: yes please\n",
        "auto_start",
        "app:t",
        "lifecycle.auto_start must be true or false, not 'yes please'",
    ),
    (
        H2 + "  lifecycle:\n    start_timeout: 10 sec\n",
        "start_timeout",
        "app:h2",
        "lifecycle.start_timeout: invalid duration '10 sec': use a number followed by a unit (ns, "
        'us, ms, s, m, h), e.g. "30s", "1h30m", "250ms"',
    ),
    (
        H2 + "  lifecycle:\n    stop_timeout: [1]\n",
        "stop_timeout",
        "app:h2",
        'lifecycle.stop_timeout: expected a duration string like "5s" or a number of '
        "milliseconds, got list",
    ),
    (
        H2 + "  lifecycle:\n    start_timeout: 0\n",
        "start_timeout",
        "app:h2",
        "lifecycle.start_timeout must be longer than 0s, not 0: e.g. start_timeout: 10s",
    ),
    (
        H2 + "  lifecycle:\n    stop_timeout: 0s\n",
        "stop_timeout",
        "app:h2",
        "lifecycle.stop_timeout must be longer than 0s, not '0s': e.g. stop_timeout: 10s",
    ),
    (
        H2 + "  lifecycle:\n    stable_threshold: -1s\n",
        "stable_threshold",
        "app:h2",
        "lifecycle.stable_threshold must be 0s or longer, not '-1s': e.g. stable_threshold: 5s",
    ),
    (
        H2 + "  lifecycle:\n    depends_on: {a: host}\n",
        "depends_on",
        "app:h2",
        "lifecycle.depends_on must be a list of entry ids, e.g. depends_on: [app:db], not dict",
    ),
    (
        H2 + "  lifecycle:\n    requires: [1]\n",
        "requires",
        "app:h2",
        "lifecycle.requires must hold entry ids (strings like ns:name), found 1",
    ),
    (
        H2 + "  lifecycle:\n    requires:\n      - hots\n",
        "- hots",
        "app:h2",
        "lifecycle.requires.0 refers to 'hots' (app:hots), which does not exist: did you mean "
        "app:host?",
    ),
    # lifecycle.restart
    (
        TERM + "  lifecycle:\n    restart: always\n",
        "restart",
        "app:t",
        "lifecycle.restart must be a mapping (key: value lines), not str",
    ),
    (
        TERM + "  lifecycle:\n    restart:\n      max_retries: 3\n",
        "max_retries",
        "app:t",
        "unknown lifecycle.restart key 'max_retries': did you mean max_attempts? allowed keys are "
        "initial_delay, max_delay, backoff_factor, jitter, max_attempts",
    ),
    (
        TERM + "  lifecycle:\n    restart:\n      initial_delay: soon\n",
        "initial_delay",
        "app:t",
        "lifecycle.restart.initial_delay: invalid duration 'soon'",
    ),
    (
        TERM + "  lifecycle:\n    restart:\n      max_delay: -5s\n",
        "max_delay",
        "app:t",
        "lifecycle.restart.max_delay must be 0s or longer, not '-5s': e.g. max_delay: 1m30s",
    ),
    (
        TERM + "  lifecycle:\n    restart:\n      backoff_factor: 0.5\n",
        "backoff_factor",
        "app:t",
        "lifecycle.restart.backoff_factor must be a number >= 1, not 0.5",
    ),
    (
        TERM + "  lifecycle:\n    restart:\n      jitter: 1.5\n",
        "jitter",
        "app:t",
        "lifecycle.restart.jitter must be a number between 0 and 1, not 1.5",
    ),
    (
        TERM + "  lifecycle:\n    restart:\n      jitter: '0.1'\n",
        "jitter",
        "app:t",
        "lifecycle.restart.jitter must be a number between 0 and 1, not '0.1'",
    ),
    (
        TERM + "  lifecycle:\n    restart:\n      max_attempts: -1\n",
        "max_attempts",
        "app:t",
        "lifecycle.restart.max_attempts must be a whole number >= 0, not -1",
    ),
    (
        TERM + "  lifecycle:\n    restart:\n      max_attempts: 2.5\n",
        "max_attempts",
        "app:t",
        "lifecycle.restart.max_attempts must be a whole number >= 0, not 2.5",
    ),
    (
        TERM + "  lifecycle:\n    restart:\n      initial_delay: 2m\n      max_delay: 1m\n",
        "max_delay",
        "app:t",
        "lifecycle.restart.max_delay (1m0s) is shorter than lifecycle.restart.initial_delay "
        "(2m0s): raise max_delay or lower initial_delay",
    ),
    (
        # against the default max_delay (90s): blamed on initial_delay, the field written
        TERM + "  lifecycle:\n    restart:\n      initial_delay: 2m\n",
        "initial_delay",
        "app:t",
        "lifecycle.restart.max_delay (1m30s) is shorter than lifecycle.restart.initial_delay "
        "(2m0s): raise max_delay or lower initial_delay",
    ),
    (
        TERM + "  lifecycle:\n    security: admins\n",
        "security",
        "app:t",
        "lifecycle.security must be a mapping (key: value lines), not str",
    ),
]


@pytest.mark.parametrize(("extra", "at", "entry_id", "message"), ERRORS)
def test_errors(load_err, extra: str, at: str, entry_id: str, message: str) -> None:
    err = load_err(files(extra))
    yaml = PROC_YAML + more(extra)
    # the line of the field (the last line holding `at`: the base file may hold it too)
    hits = [i for i, line in enumerate(yaml.splitlines(), 1) if at in line]
    assert_error(err, "app.yaml", hits[-1], entry_id, message)
    if "invalid duration" not in message:
        assert str(err).endswith(message)


# --- moonflow check ------------------------------------------------------------------------------


def test_check_lists_hosts_and_services(make_app) -> None:
    extra = dedent(ORDERED).replace(
        "  lifecycle: {requires: [db]}\n",
        "  lifecycle: {requires: [db], auto_start: true}\n  input: [1, two]\n",
    )
    root = make_app(files(extra))
    out, err = io.StringIO(), io.StringIO()
    assert run(["check", str(root)], out=out, err=err) == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        f"app {root}: 7 entries (1 process.host, 1 process.lua, 4 process.service, 1 terminal.host)"
    )
    assert lines[1:] == [
        "process host app:host",  # no pool sizes: moonflow does not use them
        "terminal host app:term",
        "service app:db: runs app:proc on app:host",
        "service app:cache: runs app:proc on app:term, 2 input args, auto_start, after app:db",
        "service app:web: runs app:proc on app:host, after app:cache, app:db",
        "service app:lone: runs app:proc on app:host",
        # no "no meta.temporal.activity.worker" note for app:proc: a service runs it
        "ok",
    ]


def test_check_of_a_reference_app_with_hosts_skips_nothing(make_app) -> None:
    root = make_app(
        files(
            """
            - name: term
              kind: terminal.host
              lifecycle: {auto_start: true}
            - name: big
              kind: process.host
              host: {workers: 2, queue_size: 10, local_queue_size: 5}
              lifecycle: {auto_start: true}
            - name: other
              kind: process.lua
              source: file://proc.lua
              method: main
            """
        )
    )
    out, err = io.StringIO(), io.StringIO()
    assert run(["check", str(root)], out=out, err=err) == 0, err.getvalue()
    text = out.getvalue()
    assert "skipped" not in text
    # a host is not started (auto_start is not used) and its pool sizes are not used
    assert "terminal host app:term\n" in text
    assert (
        "process host app:big (host.workers, host.queue_size, host.local_queue_size not used: "
        "every process runs on one event loop)\n"
    ) in text
    # a process.lua no service runs and no worker registers: how to run it as a process
    assert (
        "process app:other (process.lua): runs as a process (moonflow run APP -x app:other)" in text
    )
    assert "process app:proc (process.lua): runs as a process" in text
