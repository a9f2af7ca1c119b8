"""``temporal.client`` and ``temporal.worker`` entries (lua-api.md §1.5, §1.6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._connection import ConnectionSettingError, check_connection_settings, connection_timings
from ._fields import Field, lifecycle_fields
from ._spec import AppView, KindSpec, RefField, opt_map, opt_str, register, req_str

if TYPE_CHECKING:
    from moonflow.registry._entry import Entry

#: Temporal search attribute value types (canonical spelling).
SEARCH_ATTRIBUTE_TYPES: tuple[str, ...] = (
    "Keyword",
    "Text",
    "Int",
    "Double",
    "Bool",
    "Datetime",
    "KeywordList",
)
_SA_BY_KEY = {t.lower(): t for t in SEARCH_ATTRIBUTE_TYPES}

AUTH_TYPES: tuple[str, ...] = ("none", "api_key", "mtls")

#: ``worker_options`` keys (lua-api.md §1.6), plus the deprecated/seed-era ones still accepted.
WORKER_OPTIONS: tuple[str, ...] = (
    "identity",
    "max_concurrent_activity_execution_size",
    "max_concurrent_workflow_task_execution_size",
    "max_concurrent_local_activity_execution_size",
    "max_concurrent_session_execution_size",
    "max_concurrent_eager_activity_execution_size",
    "max_concurrent_activity_task_pollers",
    "max_concurrent_workflow_task_pollers",
    "worker_activities_per_second",
    "worker_local_activities_per_second",
    "task_queue_activities_per_second",
    "sticky_schedule_to_start_timeout",
    "worker_stop_timeout",
    "deadlock_detection_timeout",
    "max_heartbeat_throttle_interval",
    "default_heartbeat_throttle_interval",
    "enable_logging_in_replay",
    "enable_session_worker",
    "disable_workflow_worker",
    "local_activity_worker_only",
    "disable_eager_activities",
    "disable_registration_aliasing",
    "deployment_name",
    "build_id",
    "use_versioning",
    "default_versioning_behavior",
    # deprecated / seed era
    "build_id_env",
    "workflow_task_poller_count",
    "activity_task_poller_count",
    # moonflow's own (see moonflow.worker._assembly)
    "max_cached_workflows",
    "activity_threads",
    "lua_max_memory",
    "lua_instruction_budget",
    "lua_activity_instruction_budget",
)


@dataclass(frozen=True)
class TemporalClient:
    """A connection to a Temporal namespace (``temporal.client``).

    Attributes:
        entry: the registry entry.
        address: ``host:port`` (e.g. ``"localhost:7233"``).
        namespace: the Temporal namespace (default ``"default"``).
        tq_prefix: prefix added to every task queue used through this client (default ``""``).
        search_attributes: custom search attributes the app uses: name -> one of
            :data:`SEARCH_ATTRIBUTE_TYPES` (canonical spelling).
        tls: the raw ``tls`` mapping (``enabled``, ``ca_file``, ``server_name``;
            ``insecure_skip_verify: true`` is refused) or None.
        auth: the raw ``auth`` mapping (``type``: none/api_key/mtls, ``api_key``, ``cert_file``...)
            or None.
        connection_timeout, keep_alive_time, keep_alive_timeout: raw duration values (strings such
            as ``"10s"`` or numbers of seconds) or None for the default; parse with
            :func:`moonflow.kinds._connection.connection_timings`.
        health_check: the raw ``health_check`` mapping or None (``enabled: true`` is refused).
        All of them are checked when the entry loads (:mod:`moonflow.kinds._connection`).
    """

    entry: Entry
    address: str
    namespace: str = "default"
    tq_prefix: str = ""
    search_attributes: dict[str, str] = field(default_factory=dict)
    tls: dict[str, Any] | None = None
    auth: dict[str, Any] | None = None
    connection_timeout: Any = None
    keep_alive_time: Any = None
    keep_alive_timeout: Any = None
    health_check: dict[str, Any] | None = None


@dataclass(frozen=True)
class TemporalWorker:
    """A worker polling one task queue (``temporal.worker``).

    Attributes:
        entry: the registry entry.
        client: full id of its ``temporal.client`` entry.
        task_queue: the task queue as written (without the client's ``tq_prefix``; see
            ``App.task_queue``).
        worker_options: the raw ``worker_options`` mapping (keys from :data:`WORKER_OPTIONS`).
    """

    entry: Entry
    client: str
    task_queue: str
    worker_options: dict[str, Any] = field(default_factory=dict)


def _search_attributes(entry: Entry) -> dict[str, str]:
    raw = opt_map(entry, "search_attributes") or {}
    out: dict[str, str] = {}
    allowed = ", ".join(SEARCH_ATTRIBUTE_TYPES)
    for name, typ in raw.items():
        path = f"search_attributes.{name}"
        canonical = _SA_BY_KEY.get(str(typ).lower().replace("_", "")) if typ is not None else None
        if canonical is None:
            raise entry.error(
                f"search attribute {name!r} has unknown type {typ!r}: use one of {allowed}", path
            )
        out[str(name)] = canonical
    return out


def build_client(entry: Entry, app: AppView) -> TemporalClient:
    """Validate a ``temporal.client`` entry and build its :class:`TemporalClient`."""
    address = req_str(entry, "address", '"localhost:7233"')
    tls, auth = opt_map(entry, "tls"), opt_map(entry, "auth")
    health_check = opt_map(entry, "health_check")
    try:
        check_connection_settings(tls, auth, health_check)
        connection_timings(entry.data)
    except ConnectionSettingError as exc:
        raise entry.error(str(exc), exc.path) from None
    return TemporalClient(
        entry=entry,
        address=address,
        namespace=opt_str(entry, "namespace") or "default",
        tq_prefix=opt_str(entry, "tq_prefix", "") or "",
        search_attributes=_search_attributes(entry),
        tls=tls,
        auth=auth,
        connection_timeout=entry.data.get("connection_timeout"),
        keep_alive_time=entry.data.get("keep_alive_time"),
        keep_alive_timeout=entry.data.get("keep_alive_timeout"),
        health_check=health_check,
    )


def build_worker(entry: Entry, app: AppView) -> TemporalWorker:
    """Validate a ``temporal.worker`` entry and build its :class:`TemporalWorker`."""
    client = app.resolve(req_str(entry, "client", "app:temporal_client"), entry.namespace)
    task_queue = req_str(entry, "task_queue", '"orders"')
    options = opt_map(entry, "worker_options") or {}
    for key in options:
        if key not in WORKER_OPTIONS:
            raise entry.error(
                f"unknown worker_options key {key!r}: allowed keys are {', '.join(WORKER_OPTIONS)}",
                f"worker_options.{key}",
            )
        why = UNSUPPORTED_WORKER_OPTIONS.get(key)
        if why is not None and _is_set(options[key]):
            raise entry.error(
                f"worker_options.{key} = {options[key]!r} is not supported: {why}",
                f"worker_options.{key}",
            )
    behavior = options.get("default_versioning_behavior")
    if behavior not in (None, "", "pinned"):
        raise entry.error(
            f"worker_options.default_versioning_behavior = {behavior!r} is not supported: "
            "moonflow versions workers by build id (build_id, use_versioning), where a run stays "
            'on the builds it started with: remove the key or write "pinned"',
            "worker_options.default_versioning_behavior",
        )
    return TemporalWorker(entry=entry, client=client, task_queue=task_queue, worker_options=options)


#: ``worker_options`` keys of the reference runtime that moonflow accepts only at their
#: default (zero, false, empty; the default of an app that does not set them), each with why
#: and what to do instead; any other value is refused when the app loads, rather than ignored.
#: ``disable_registration_aliasing`` is not here: moonflow registers workflows and activities
#: under their entry ids only, which is what that option asks for, so both values behave alike.
UNSUPPORTED_WORKER_OPTIONS: dict[str, str] = {
    "deadlock_detection_timeout": (
        "the Temporal Python SDK fixes deadlock detection at 2 s per workflow task; moonflow "
        "bounds workflow code with lua_instruction_budget instead: remove the key (or set it "
        "to 0s)"
    ),
    "enable_session_worker": (
        "moonflow has no Temporal sessions: remove the key; to pin activities to one machine "
        "give them their own worker and task_queue"
    ),
    "max_concurrent_session_execution_size": (
        "moonflow has no Temporal sessions: remove the key (or set it to 0)"
    ),
    "max_concurrent_eager_activity_execution_size": (
        "the Temporal Python SDK has no separate cap for eager activities: remove the key "
        "(max_concurrent_activity_execution_size caps all of them, disable_eager_activities "
        "turns eager execution off)"
    ),
    "worker_local_activities_per_second": (
        "the Temporal Python SDK has no rate limit for local activities: remove the key (or "
        "set it to 0); worker_activities_per_second limits the others"
    ),
    "enable_logging_in_replay": (
        "moonflow writes a workflow's log lines once, never again while the workflow replays: "
        "remove the key (or set it to false)"
    ),
    "deployment_name": (
        "moonflow does not support Temporal Worker Deployments: remove the key and version "
        "workers with build_id and use_versioning"
    ),
}


def _is_set(value: Any) -> bool:
    """Whether an option value differs from "not set" (None, 0, false, "", "0s")."""
    if value is None or value is False or value == 0 or value == "":
        return False
    return not (isinstance(value, str) and value.strip() in ("0", "0s", "0ms"))


#: ``temporal.client`` fields (lua-api.md §1.5; ``search_attributes`` is moonflow's own)
CLIENT_FIELDS: tuple[Field, ...] = (
    Field(
        "address",
        'host:port of the Temporal frontend, e.g. "localhost:7233" (with the default --server '
        "embedded, moonflow starts its dev server there when nothing listens)",
        required=True,
    ),
    Field("namespace", 'the Temporal namespace (default "default")'),
    Field("tq_prefix", 'prefix of the task queue of every worker on this client (default "")'),
    Field(
        "search_attributes",
        "custom search attributes: name: type (Keyword, Text, Int, Double, Bool, Datetime, "
        "KeywordList); moonflow registers them on the servers it starts",
    ),
    Field(
        "connection_timeout",
        'time allowed to reach the server (default 5s; a duration such as "10s", or seconds)',
    ),
    Field("keep_alive_time", "interval of HTTP/2 keep-alive pings (default 30s, the SDK's)"),
    Field(
        "keep_alive_timeout",
        "how long a keep-alive ping's answer may take before the SDK reconnects (default 15s, "
        "the SDK's)",
    ),
    Field("tls", "TLS to the server (a mapping)"),
    Field(
        "tls.enabled",
        "true: connect with TLS (also implied by ca_file, server_name, mTLS or an API key)",
    ),
    Field(
        "tls.ca_file",
        "CA bundle (PEM) to verify the server with, relative to the YAML file's folder "
        "(default: the system's CAs)",
    ),
    Field("tls.server_name", "the name to verify the server's certificate against (SNI)"),
    Field(
        "tls.insecure_skip_verify",
        "false only: true is refused (the Temporal SDK always verifies the certificate)",
    ),
    Field("auth", "credentials (a mapping)"),
    Field("auth.type", "none (default), api_key or mtls"),
    Field("auth.api_key", "the API key (api_key), e.g. ${env:TEMPORAL_API_KEY}"),
    Field("auth.api_key_file", "a file holding the API key (api_key)"),
    Field("auth.api_key_env", "name of an environment variable holding the API key (deprecated)"),
    Field("auth.cert_file", "client certificate, PEM file (mtls)"),
    Field("auth.key_file", "client private key, PEM file (mtls)"),
    Field("auth.cert_pem", "client certificate as inline PEM (mtls)"),
    Field("auth.key_pem", "client private key as inline PEM (mtls)"),
    Field(
        "auth.key_pem_env",
        "name of an environment variable holding the key (deprecated); use key_pem: ${env:NAME}",
    ),
    Field(
        "health_check",
        "periodic connection check (a mapping); keep-alive pings do this job in moonflow",
        ignored=True,
    ),
    Field(
        "health_check.enabled",
        "false only: true is refused (the SDK reconnects by itself)",
        ignored=True,
    ),
    Field("health_check.interval", "how often, e.g. 30s", ignored=True),
    *lifecycle_fields(supervised=False),
)

#: ``worker_options`` keys moonflow passes to the SDK worker or uses itself; the others are
#: accepted and ignored (lua-api.md §1.6; moonflow.worker._assembly maps them)
_WORKER_OPTION_DOCS: dict[str, tuple[str, bool]] = {
    "identity": ("the worker's identity shown by Temporal (default: the SDK's)", False),
    "max_concurrent_activity_execution_size": ("activities run at once (SDK default)", False),
    "max_concurrent_workflow_task_execution_size": ("workflow tasks run at once", False),
    "max_concurrent_local_activity_execution_size": ("local activities run at once", False),
    "max_concurrent_session_execution_size": ("only 0: moonflow has no sessions", True),
    "max_concurrent_eager_activity_execution_size": ("only 0: no such cap in the SDK", True),
    "max_concurrent_activity_task_pollers": ("activity task polls at once", False),
    "max_concurrent_workflow_task_pollers": ("workflow task polls at once", False),
    "worker_activities_per_second": ("activities per second on this worker (0: no limit)", False),
    "worker_local_activities_per_second": ("only 0: no local-activity rate limit", True),
    "task_queue_activities_per_second": ("activities per second on the task queue", False),
    "sticky_schedule_to_start_timeout": ("sticky queue schedule-to-start timeout", False),
    "worker_stop_timeout": ("how long running activities may finish at shutdown (5s)", False),
    "deadlock_detection_timeout": (
        "only 0s: the SDK fixes it at 2s; lua_instruction_budget bounds workflow code",
        True,
    ),
    "max_heartbeat_throttle_interval": ("longest heartbeat throttle", False),
    "default_heartbeat_throttle_interval": (
        "heartbeat throttle without a heartbeat timeout (default 1s: how soon a cancel arrives)",
        False,
    ),
    "enable_logging_in_replay": ("only false: moonflow logs a line once, not on replay", True),
    "enable_session_worker": ("only false: moonflow has no sessions", True),
    "disable_workflow_worker": ("true: poll activities only, no workflows", False),
    "local_activity_worker_only": ("true: no activity tasks polled (local ones only)", False),
    "disable_eager_activities": ("no eager activity execution", False),
    "disable_registration_aliasing": ("moonflow registers entry ids only (either value)", True),
    "deployment_name": ("only empty: no Worker Deployments (use build_id)", True),
    "build_id": ("build id (worker versioning)", False),
    "use_versioning": ("worker versioning by build id", False),
    "default_versioning_behavior": ("only pinned, the default: runs stay on their build", True),
    "build_id_env": ("build id from this environment variable (deprecated)", False),
    "workflow_task_poller_count": ("old name of max_concurrent_workflow_task_pollers", False),
    "activity_task_poller_count": ("old name of max_concurrent_activity_task_pollers", False),
    "max_cached_workflows": ("moonflow: workflow runs kept in memory (0: no cache)", False),
    "activity_threads": ("moonflow: threads running Lua activities (default 16)", False),
    "lua_max_memory": (
        "moonflow: bytes one workflow activation or activity call may allocate (default 64 MiB)",
        False,
    ),
    "lua_instruction_budget": (
        "moonflow: Lua VM instructions per workflow activation (default 50,000,000)",
        False,
    ),
    "lua_activity_instruction_budget": (
        "moonflow: Lua VM instructions per activity call (default 2,000,000,000; 0: none)",
        False,
    ),
}

#: ``temporal.worker`` fields (lua-api.md §1.6)
WORKER_FIELDS: tuple[Field, ...] = (
    Field("client", "id of its temporal.client", required=True),
    Field(
        "task_queue",
        "the task queue it polls for workflows and activities (the client's tq_prefix in front)",
        required=True,
    ),
    Field("worker_options", "SDK worker settings (a mapping; unknown keys are errors)"),
    *(
        Field(f"worker_options.{key}", doc, ignored=ignored)
        for key, (doc, ignored) in _WORKER_OPTION_DOCS.items()
    ),
    *lifecycle_fields(supervised=False),
)

CLIENT_SPEC = register(
    KindSpec(
        kind="temporal.client",
        summary="connection to a Temporal namespace",
        required=("address",),
        references=(),
        build=build_client,
        fields=CLIENT_FIELDS,
    )
)

WORKER_SPEC = register(
    KindSpec(
        kind="temporal.worker",
        summary="Temporal worker polling one task queue",
        required=("client", "task_queue"),
        references=(RefField("client", ("temporal.client",)),),
        build=build_worker,
        fields=WORKER_FIELDS,
    )
)
