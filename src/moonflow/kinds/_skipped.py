"""Kinds of the reference runtime that moonflow does not run.

Apps written for the reference runtime also declare HTTP servers, routers and endpoints, env
storages and variables, queues and databases. moonflow runs workflows, the code they call, and
process hosts with their services; an entry of another kind is *skipped*: the app loads,
``moonflow check`` and ``moonflow run`` say once which entries were skipped and why, references
to a skipped entry from ``lifecycle.depends_on`` are dropped, and looking a skipped entry up
(``App.get``, ``funcs.call`` of it, ``--app`` commands naming it) fails with a message naming it.
A kind in neither this table nor :data:`moonflow.kinds.KINDS` (a typo) stays a load error with a
did-you-mean.
"""

from __future__ import annotations

_HTTP = "an HTTP server part; moonflow does not serve HTTP"
_ENV = (
    "env storages do not run in moonflow; ${env:NAME} and env.get read a declared variable "
    "from the OS environment (or a static storage's values), else its default"
)
_QUEUE = "a message queue; moonflow does not run queues"
_DB = "a database or store; moonflow does not manage databases"
_OTHER = "part of the reference runtime that moonflow does not run"

#: kind -> why moonflow skips it (one clause, shown by ``check`` and ``run``).
SKIPPED_KINDS: dict[str, str] = {
    **dict.fromkeys(("http.service", "http.router", "http.endpoint", "http.static"), _HTTP),
    **dict.fromkeys(
        (
            "env.storage.os",
            "env.storage.file",
            "env.storage.memory",
            "env.storage.static",
            "env.storage.router",
            "env.variable",
        ),
        _ENV,
    ),
    **dict.fromkeys(("queue.driver.memory", "queue.queue", "queue.consumer"), _QUEUE),
    **dict.fromkeys(
        (
            "db.sql.sqlite",
            "db.sql.postgres",
            "db.sql.mysql",
            "store.memory",
            "store.sql",
        ),
        _DB,
    ),
    **dict.fromkeys(
        (
            "fs.directory",
            "fs.embed",
            "registry.entry",
            "ns.definition",
            "ns.dependency",
            "ns.requirement",
            "security.policy",
            "security.policy.expr",
            "security.token_store",
            "contract.definition",
            "contract.binding",
            "template.jet",
            "template.set",
            "exec.native",
            "cloudstorage.s3",
            "function.wasm",
            "process.wasm",
            "function.lua.bc",
            "process.lua.bc",
        ),
        _OTHER,
    ),
}


def skip_reason(kind: str) -> str | None:
    """Why entries of ``kind`` are skipped, or None when moonflow runs (or does not know) it."""
    return SKIPPED_KINDS.get(kind)
