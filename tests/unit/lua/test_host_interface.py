"""The declared host interface (moonflow.lua._host): every ``host.<name>`` a module calls is
declared for each host kind whose runs can load that module, every host class implements what
its kind declares, and Lua reaches nothing else of the host (architecture.md, "Beyond
workflows")."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

import moonflow
from moonflow.lua import LuaRun, MachineHost
from moonflow.lua._host import (
    ACTIVITY_API,
    COMMON_API,
    HOST_APIS,
    HOST_PROTOCOLS,
    BaseHost,
    host_kind,
    protocol_methods,
)
from moonflow.lua._run import _host_getter
from moonflow.modules import _BUILDERS
from moonflow.modules._catalogue import MODULES

SRC = Path(moonflow.__file__).parent
LUA_DIR = SRC / "lua"
MODULES_DIR = SRC / "modules"


def _import_host_modules() -> None:
    """Import every moonflow module that declares a host kind or class, so that
    :data:`HOST_APIS` holds every kind and the host classes exist."""
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if path.name != "_host.py" and ("host_api(" in text or "LUA_API =" in text):
            importlib.import_module(".".join(path.relative_to(SRC.parent).with_suffix("").parts))


_import_host_modules()

#: Per host kind: the catalogue column (``ModuleInfo.contexts``) its runs load modules from,
#: and the modules it loads from a file of another name (``LuaRun._build_module``). A new
#: kind (moonflow.lua._host's docstring) adds its row here; rows of kinds nobody has declared
#: (yet) are not used.
KINDS: dict[str, tuple[str, dict[str, str]]] = {
    "workflow": ("workflow", {}),
    "activity": ("activity", {"process": "process_activity"}),
    "process": ("activity", {}),  # the activity modules; process.lua as its process module
}

#: Host calls that only runs of some kinds reach, because the module branches on its run:
#: (file name, methods) -> (the kinds whose runs make the calls, why).
ONLY_IN: dict[tuple[str, frozenset[str]], tuple[frozenset[str], str]] = {
    ("funcs.lua", frozenset({"call_function"})): (
        frozenset({"activity"}),
        "runs without a kernel ask the host; kernel runs yield an 'activity' command instead",
    ),
    ("time.lua", frozenset({"sleep"})): (
        frozenset({"activity"}),
        "runs without a kernel sleep on the host; kernel runs yield a 'sleep' command instead",
    ),
    ("time.lua", frozenset({"version"})): (
        frozenset({"workflow"}),
        "only when sys.context == 'workflow': the patch guarding the cancel of abandoned "
        "time.after timers (processes have no history); activity runs have no timers",
    ),
    (
        "process.lua",
        frozenset({"lookup", "register", "unregister", "trap_links", "set_trap_links"}),
    ): (
        frozenset({"process"}),
        "only under in_process (sys.context == 'process'): names and options of processes; "
        "workflow runs load the same file",
    ),
    ("io.lua", frozenset({"terminal_write", "terminal_flush", "terminal_args"})): (
        frozenset({"process"}),
        "only with has_terminal (sys.context == 'process'); activity runs get 'no terminal "
        "context' without asking the host",
    ),
    ("_test.py", frozenset({"pid"})): (
        frozenset({"process"}),
        "read with getattr(..., None): an activity host has none, and its calls are refused",
    ),
}


def declared_kinds() -> list[str]:
    """The kinds of :data:`KINDS` that are declared (registered in moonflow.lua._host)."""
    return [k for k in KINDS if k in HOST_APIS]


def only_in(file_name: str, name: str) -> frozenset[str] | None:
    """The kinds that make call ``name`` in ``file_name`` (:data:`ONLY_IN`), or None: all."""
    for (f, names), (kinds, _) in ONLY_IN.items():
        if f == file_name and name in names:
            return kinds
    return None


# host.name, host:name (Lua, also Lua embedded in Python), state.host.name (Python), and
# getattr(state.host, "name", ...) (Python).
_USE = re.compile(r"\bhost[.:]([A-Za-z_]\w*)")
_GETATTR_USE = re.compile(r"getattr\(\s*[\w.]*\bhost\s*,\s*[\"']([A-Za-z_]\w*)[\"']")


def host_uses(source: str) -> list[tuple[str, int]]:
    """``(method, line)`` of every host method ``source`` names."""
    uses = []
    for pattern in (_USE, _GETATTR_USE):
        for m in pattern.finditer(source):
            uses.append((m.group(1), source.count("\n", 0, m.start()) + 1))
    return sorted(uses, key=lambda u: (u[1], u[0]))


def undeclared(file_name: str, source: str, kinds: Iterable[str]) -> list[str]:
    """One line per host method ``source`` calls that a kind among ``kinds`` (those whose runs
    load the file) does not declare."""
    problems = []
    for name, line in host_uses(source):
        only = only_in(file_name, name)
        for kind in sorted(kinds):
            if only is not None and kind not in only:
                continue
            if name not in HOST_APIS[kind]:
                proto = HOST_PROTOCOLS[kind]
                problems.append(
                    f"{file_name}:{line}: host.{name} is not declared for {kind} hosts: add it "
                    f"to {proto.__module__}.{proto.__name__} (or a Protocol it is based on), "
                    f"or, if only runs of other kinds reach this call, add it to ONLY_IN in "
                    f"{Path(__file__).name} under {file_name!r} with the reason"
                )
    return problems


def _builder_file(name: str) -> Path:
    return MODULES_DIR / (_BUILDERS[name].lstrip(".") + ".py")


def files_loaded_by(kind: str) -> set[Path]:
    """The moonflow source files (Lua, Python module builders) the runs of ``kind`` load."""
    column, renamed = KINDS[kind]
    files = set(LUA_DIR.glob("*.lua"))  # the sandbox, kernel and internals: every run
    builders = {_builder_file(n) for n in _BUILDERS}
    # Python helpers of the builders (_binary.py, _documents.py, ...): used by modules of
    # every kind, so checked for all of them.
    files |= {p for p in MODULES_DIR.glob("*.py") if p not in builders}
    for name, info in MODULES.items():
        if column not in info.contexts:
            continue
        lua = MODULES_DIR / f"{renamed.get(name, name)}.lua"
        if lua.exists():
            files.add(lua)
        else:
            assert name in _BUILDERS, f"module {name!r} has neither a .lua file nor a builder"
            files.add(_builder_file(name))
    return files


def kinds_by_file() -> dict[Path, set[str]]:
    out: dict[Path, set[str]] = {}
    for kind in declared_kinds():
        for path in files_loaded_by(kind):
            out.setdefault(path, set()).add(kind)
    return out


def module_sources() -> list[Path]:
    return sorted([*LUA_DIR.glob("*.lua"), *MODULES_DIR.glob("*.lua"), *MODULES_DIR.glob("_*.py")])


# ---- the modules' calls are declared ------------------------------------------------------


def test_the_test_knows_every_declared_host_kind():
    assert set(HOST_APIS) <= set(KINDS), (
        "KINDS in this test must name the host kinds moonflow.lua._host declares (which "
        "catalogue column and module files each kind's runs load)"
    )


def test_every_module_source_is_loaded_by_some_kind():
    loaded = kinds_by_file()
    orphans = [p.name for p in module_sources() if p not in loaded]
    assert not orphans, f"no host kind loads {orphans}: add them to the catalogue or KINDS"


@pytest.mark.parametrize("path", module_sources(), ids=lambda p: p.name)
def test_every_host_method_a_module_calls_is_declared(path):
    kinds = kinds_by_file().get(path, set())
    problems = undeclared(path.name, path.read_text(encoding="utf-8"), kinds)
    assert not problems, "\n".join(problems)


def test_the_scan_finds_the_host_calls_modules_make():
    # Guards the scan itself: a pattern that matched nothing would pass everything above.
    found = {
        (p.name, name) for p in module_sources() for name, _ in host_uses(p.read_text("utf-8"))
    }
    for expected in [
        ("time.lua", "now_ns"),
        ("time.lua", "sleep"),
        ("funcs.lua", "call_function"),
        ("workflow.lua", "version"),
        ("process.lua", "update_reply"),
        ("sandbox.lua", "random_seed"),
        ("_http_client.py", "time_left"),
        ("_uuid.py", "uuid4"),
        ("_ctx.py", "context"),
        ("_logger.py", "log"),
    ]:
        assert expected in found


def test_every_allowlist_entry_is_used_and_has_a_reason():
    uses = {(p.name, name) for p in module_sources() for name, _ in host_uses(p.read_text("utf-8"))}
    for (file_name, names), (kinds, why) in ONLY_IN.items():
        assert kinds and why.strip()
        if not kinds & set(HOST_APIS):
            continue  # a kind not declared yet: its modules may not exist yet either
        stale = sorted(n for n in names if (file_name, n) not in uses)
        assert not stale, f"ONLY_IN lists {stale} for {file_name}, which no longer calls them"


BOTH = ("workflow", "activity")


@pytest.mark.parametrize(
    "file_name, source, kinds, reported",
    [
        ("funcs.lua", "local v = host.foo(1)", BOTH, {("foo", "workflow"), ("foo", "activity")}),
        ("time.lua", "return run.host:foo()", BOTH, {("foo", "workflow"), ("foo", "activity")}),
        ("_json.py", "x = state.host.foo()", BOTH, {("foo", "workflow"), ("foo", "activity")}),
        (
            "_ctx.py",
            "f = getattr(state.host, 'foo', None)",
            BOTH,
            {("foo", "workflow"), ("foo", "activity")},
        ),
        (
            "_logger.py",
            'LUA = "raw.pcall(host.foo, level)"',
            BOTH,
            {("foo", "activity"), ("foo", "workflow")},
        ),
        # declared for one kind only: reported for the other kind loading the file
        ("json.lua", "return host.pid()", BOTH, {("pid", "activity")}),
        ("json.lua", "return host.time_left()", BOTH, {("time_left", "workflow")}),
        # the allowlist is per file: sleep is activity-only in time.lua, not elsewhere
        ("funcs.lua", "host.sleep(1)", BOTH, {("sleep", "workflow")}),
        ("workflow.lua", "return host.foo()", ("workflow",), {("foo", "workflow")}),
    ],
)
def test_an_undeclared_host_call_is_reported(file_name, source, kinds, reported):
    problems = undeclared(file_name, source, kinds)
    got = {
        (m.group(1), m.group(2))
        for m in map(re.compile(r"host\.(\w+) .* for (\w+) hosts").search, problems)
    }
    assert got == reported, problems


@pytest.mark.parametrize(
    "file_name, source",
    [
        ("time.lua", "host.sleep(ns) return host.now_ns()"),
        ("funcs.lua", "return host.call_function(id, args, context)"),
        ("_uuid.py", "lambda: state.host.uuid4()"),
        ("sandbox.lua", "local host = run.host -- sys.host; host_get(name)"),
    ],
)
def test_a_declared_host_call_is_not_reported(file_name, source):
    assert undeclared(file_name, source, BOTH) == []


# ---- the host classes implement what they declare ------------------------------------------


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_subclasses(sub)}
    return out


def host_classes() -> list[type]:
    """Every host class moonflow defines (any module setting ``LUA_API``, imported here) and
    the shared test fakes."""
    importlib.import_module("tests.unit.lua.helpers")
    importlib.import_module("tests.unit.modules.helpers")
    classes = {
        c
        for c in _subclasses(BaseHost)
        if c.__module__.startswith(("moonflow.", "tests.unit."))
        and "<locals>" not in c.__qualname__
    }
    return sorted(classes, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def test_the_production_hosts_are_found():
    names = {c.__qualname__ for c in host_classes()}
    assert {"MachineHost", "ActivityHost", "WorkflowHost"} <= names


@pytest.mark.parametrize("cls", host_classes(), ids=lambda c: c.__qualname__)
def test_every_host_class_declares_a_kind_and_implements_it(cls):
    kind = host_kind(getattr(cls, "LUA_API", None))
    assert kind is not None, f"{cls.__qualname__} declares no host kind (LUA_API)"
    missing = sorted(n for n in cls.LUA_API if not callable(getattr(cls, n, None)))
    assert not missing, f"{cls.__qualname__} ({kind} host) does not implement {missing}"


def test_the_production_hosts_declare_their_kinds():
    from moonflow.worker._activity import ActivityHost
    from moonflow.worker._workflow_host import WorkflowHost

    assert host_kind(WorkflowHost.LUA_API) == "workflow"
    assert host_kind(ActivityHost.LUA_API) == "activity"
    assert host_kind(MachineHost.LUA_API) == "activity"


def test_every_declared_method_is_documented():
    for kind, proto in HOST_PROTOCOLS.items():
        assert protocol_methods(proto) == HOST_APIS[kind]
        for name in HOST_APIS[kind]:
            assert inspect.getdoc(getattr(proto, name)), f"{proto.__name__}.{name}: no docstring"
    assert COMMON_API <= HOST_APIS["workflow"] & HOST_APIS["activity"]


# ---- what the run sees of its host ----------------------------------------------------------


def test_lua_gets_only_the_declared_methods():
    class Host(MachineHost):
        def secret(self) -> str:
            return "not for Lua"

    host = Host()  # held: Lua's functions reach the host through a weak reference
    get = _host_getter(host, object())
    assert get("secret") is None
    assert get("state") is None
    assert get("__class__") is None
    assert get("now_ns")() > 0
    assert {n for n in ACTIVITY_API if get(n) is None} == set()


def test_a_host_class_without_a_kind_fails_run_creation():
    class Bare(BaseHost):
        def now_ns(self) -> int:
            return 0

    with pytest.raises(TypeError, match=r"Bare declares no host kind: .*LUA_API.*WORKFLOW_API"):
        LuaRun("activity", Bare())


def test_a_host_class_missing_a_declared_method_fails_run_creation():
    class Partial(BaseHost):
        LUA_API = ACTIVITY_API

        def now_ns(self) -> int:
            return 0

    with pytest.raises(
        TypeError,
        match=r"Partial declares the activity host API but does not implement "
        r"activity_info, call_function, heartbeat, is_cancelled, random_seed, sleep, time_left, "
        r"uuid4: add the method",
    ):
        LuaRun("activity", Partial())


def test_an_api_that_is_not_a_declared_kind_is_refused():
    class Custom(MachineHost):
        LUA_API = frozenset(ACTIVITY_API | {"secret"})

        def secret(self) -> str:
            return "x"

    with pytest.raises(TypeError, match="declares no host kind"):
        LuaRun("activity", Custom())
