"""``temporal.client`` and ``temporal.worker`` entries (lua-api.md §1.5, §1.6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
        tls: the raw ``tls`` mapping (``enabled``, ``ca_file``, ``server_name``,
            ``insecure_skip_verify``) or None.
        auth: the raw ``auth`` mapping (``type``: none/api_key/mtls, ``api_key``, ``cert_file``...)
            or None.
        connection_timeout, keep_alive_time, keep_alive_timeout: raw duration values (strings such
            as ``"10s"`` or numbers) or None for the default; parse with ``moonflow.durations``.
        health_check: the raw ``health_check`` mapping or None.
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
    auth = opt_map(entry, "auth")
    if auth is not None and auth.get("type") is not None and auth["type"] not in AUTH_TYPES:
        raise entry.error(
            f"auth.type {auth['type']!r} is unknown: use one of {', '.join(AUTH_TYPES)}",
            "auth.type",
        )
    return TemporalClient(
        entry=entry,
        address=address,
        namespace=opt_str(entry, "namespace") or "default",
        tq_prefix=opt_str(entry, "tq_prefix", "") or "",
        search_attributes=_search_attributes(entry),
        tls=opt_map(entry, "tls"),
        auth=auth,
        connection_timeout=entry.data.get("connection_timeout"),
        keep_alive_time=entry.data.get("keep_alive_time"),
        keep_alive_timeout=entry.data.get("keep_alive_timeout"),
        health_check=opt_map(entry, "health_check"),
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
    return TemporalWorker(entry=entry, client=client, task_queue=task_queue, worker_options=options)


CLIENT_SPEC = register(
    KindSpec(
        kind="temporal.client",
        summary="connection to a Temporal namespace",
        required=("address",),
        references=(),
        build=build_client,
    )
)

WORKER_SPEC = register(
    KindSpec(
        kind="temporal.worker",
        summary="Temporal worker polling one task queue",
        required=("client", "task_queue"),
        references=(RefField("client", ("temporal.client",)),),
        build=build_worker,
    )
)
