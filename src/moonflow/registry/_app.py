"""A loaded, validated app: entries in start order and their typed kind objects."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from moonflow.errors import AppError
from moonflow.kinds import (
    LuaCode,
    ProcessHostSpec,
    ProcessServiceSpec,
    TemporalClient,
    TemporalWorker,
    TerminalHostSpec,
)

from ._entry import Entry, resolve_ref

_ACTIVITY_KINDS = ("function.lua", "process.lua")


class App:
    """A loaded app. Build it with :func:`moonflow.registry.load_app`.

    Attributes:
        root: absolute path of the app directory.
        entries: entry id -> :class:`Entry`, in dependency (start) order: every entry comes after
            the entries it references or lists in ``lifecycle.depends_on``; ties keep file order.
        skipped: entry id -> :class:`Entry` of the entries whose kind moonflow does not run
            (:data:`moonflow.kinds.SKIPPED_KINDS`); looking one up raises an error naming it.
    """

    def __init__(
        self, root: Path, entries: dict[str, Entry], skipped: dict[str, Entry] | None = None
    ) -> None:
        self.root = root
        self.entries = entries
        self.skipped = skipped or {}
        #: what ``${env:NAME}`` and ``env.get`` read (declared env variables, then the OS)
        self.environment: Mapping[str, str] = os.environ
        self._specs: dict[str, Any] = {}
        self._deps: dict[str, tuple[str, ...]] = {}
        self._by_type: dict[str, LuaCode] = {}

    def __repr__(self) -> str:
        return f"App(root={str(self.root)!r}, entries={len(self.entries)})"

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self.entries

    def get(self, entry_id: str) -> Entry:
        """The entry with full id ``entry_id``.

        Raises:
            AppError: no such entry (the message suggests close ids).
        """
        entry = self.entries.get(entry_id)
        if entry is None:
            raise self._unknown(entry_id)
        return entry

    def spec(self, entry_id: str) -> Any:
        """The typed object of an entry: ``TemporalClient``, ``TemporalWorker``, ``LuaCode``,
        ``ProcessHostSpec``, ``TerminalHostSpec`` or ``ProcessServiceSpec``.

        Raises:
            AppError: no such entry.
        """
        self.get(entry_id)
        return self._specs[entry_id]

    def dependencies(self, entry_id: str) -> tuple[str, ...]:
        """Full ids the entry depends on (``lifecycle.depends_on``/``requires`` and references)."""
        self.get(entry_id)
        return self._deps.get(entry_id, ())

    def resolve(self, ref: str, namespace: str) -> str:
        """A reference as a full id: bare ``name`` -> ``"namespace:name"``; a full id is kept."""
        return resolve_ref(ref, namespace)

    def clients(self) -> list[TemporalClient]:
        """Every ``temporal.client``, in start order."""
        return [s for s in self._in_order() if isinstance(s, TemporalClient)]

    def workers(self) -> list[TemporalWorker]:
        """Every ``temporal.worker``, in start order."""
        return [s for s in self._in_order() if isinstance(s, TemporalWorker)]

    def workflows(self, worker_id: str | None = None) -> list[LuaCode]:
        """``workflow.lua`` entries registered on a worker (``meta.temporal.workflow.worker``).

        Args:
            worker_id: full id of a ``temporal.worker``; None for every worker.
        """
        return [
            s
            for s in self._in_order()
            if isinstance(s, LuaCode)
            and s.kind == "workflow.lua"
            and s.workflow_worker is not None
            and (worker_id is None or s.workflow_worker == worker_id)
        ]

    def activities(self, worker_id: str | None = None) -> list[LuaCode]:
        """``function.lua`` / ``process.lua`` entries registered as activities on a worker.

        Args:
            worker_id: full id of a ``temporal.worker``; None for every worker.
        """
        return [
            s
            for s in self._in_order()
            if isinstance(s, LuaCode)
            and s.kind in _ACTIVITY_KINDS
            and s.activity_worker is not None
            and (worker_id is None or s.activity_worker == worker_id)
        ]

    def all_activities(self, worker_id: str | None = None) -> list[Any]:
        """Every activity entry a worker registers, in app order: the Lua ones of
        :meth:`activities` and the ``function.py`` ones (``PythonCode``).

        Args:
            worker_id: full id of a ``temporal.worker``; None for every worker.
        """
        from ..kinds._python import python_activities

        python = {c.entry.id for c in python_activities(self, worker_id)}
        lua = {c.entry.id for c in self.activities(worker_id)}
        return [self.spec(eid) for eid in self.entries if eid in lua or eid in python]

    def libraries(self) -> list[LuaCode]:
        """Every ``library.lua`` entry, in start order."""
        return [s for s in self._in_order() if isinstance(s, LuaCode) and s.kind == "library.lua"]

    def process_hosts(self) -> list[ProcessHostSpec]:
        """Every ``process.host``, in file order."""
        return [s for s in self._in_file_order() if isinstance(s, ProcessHostSpec)]

    def terminal_hosts(self) -> list[TerminalHostSpec]:
        """Every ``terminal.host``, in file order."""
        return [s for s in self._in_file_order() if isinstance(s, TerminalHostSpec)]

    def services(self) -> list[ProcessServiceSpec]:
        """Every ``process.service``, in file order (see :meth:`services_in_start_order`)."""
        return [s for s in self._in_file_order() if isinstance(s, ProcessServiceSpec)]

    def services_in_start_order(self) -> list[ProcessServiceSpec]:
        """Every ``process.service``, each after the services it depends on: its
        ``lifecycle.depends_on``/``requires`` and the entries its ``process`` and ``host`` name,
        directly or through other entries. Ties keep file order. Stop in reverse order."""
        return [s for s in self._in_order() if isinstance(s, ProcessServiceSpec)]

    def start_order(self, ids: Iterable[str]) -> list[str]:
        """``ids`` (full entry ids, any kinds) sorted so that each comes after every entry it
        depends on (``lifecycle.depends_on``/``requires`` and references, also through entries
        not in ``ids``); duplicates are dropped, ties keep file order. A host comes before the
        services on it. A dependency cycle cannot happen here: it fails the app's load.

        Raises:
            AppError: an id is not an entry of the app (skipped entries included).
        """
        wanted = set()
        for entry_id in ids:
            self.get(entry_id)
            wanted.add(entry_id)
        return [eid for eid in self.entries if eid in wanted]

    def client_of(self, worker_id: str) -> TemporalClient:
        """The ``temporal.client`` a worker connects through.

        Raises:
            AppError: ``worker_id`` is not a ``temporal.worker``.
        """
        client = self.spec(self._worker(worker_id).client)
        assert isinstance(client, TemporalClient)
        return client

    def task_queue(self, worker_id: str) -> str:
        """The worker's task queue with its client's ``tq_prefix`` applied.

        Raises:
            AppError: ``worker_id`` is not a ``temporal.worker``.
        """
        return self.client_of(worker_id).tq_prefix + self._worker(worker_id).task_queue

    def workflow_type(self, entry_id: str) -> str:
        """The Temporal workflow type of a ``workflow.lua`` entry: ``meta.temporal.workflow.name``
        or the entry id.

        Raises:
            AppError: ``entry_id`` is not a ``workflow.lua`` entry.
        """
        code = self.spec(entry_id)
        if not isinstance(code, LuaCode) or code.kind != "workflow.lua":
            raise AppError(
                f"{entry_id} is a {self.get(entry_id).kind}, not a workflow.lua entry",
                entry_id=entry_id,
            )
        return code.workflow_name or entry_id

    def workflow_by_type(self, type_name: str) -> LuaCode | None:
        """The ``workflow.lua`` entry whose workflow type is ``type_name``, or None."""
        return self._by_type.get(type_name)

    def why_skipped(self, entry_id: str) -> str | None:
        """``"<id> is a <kind> entry, which moonflow skips (<reason>)"`` for a skipped entry,
        None for any other id."""
        from moonflow.kinds import skip_reason

        other = self.skipped.get(entry_id)
        if other is None:
            return None
        reason = skip_reason(other.kind)
        return f"{entry_id} is a {other.kind} entry, which moonflow skips ({reason})"

    def skipped_notes(self) -> list[str]:
        """One note per reason entries were skipped (empty when none), e.g. ``note: skipped 2
        entries (app:api http.service, app:admin http.router): an HTTP server part; moonflow
        does not serve HTTP``. ``check`` and ``run`` print them."""
        from moonflow.kinds import skip_reason

        by_reason: dict[str, list[str]] = {}
        for entry in self.skipped.values():
            reason = skip_reason(entry.kind) or entry.kind
            by_reason.setdefault(reason, []).append(f"{entry.id} {entry.kind}")
        lines = []
        for reason, items in by_reason.items():
            shown = ", ".join(items[:5]) + (f", {len(items) - 5} more" if len(items) > 5 else "")
            what = f"{len(items)} entr{'ies' if len(items) != 1 else 'y'}"
            lines.append(f"note: skipped {what} ({shown}): {reason}")
        return lines

    # --- internals ---------------------------------------------------------------------------

    def _in_order(self) -> list[Any]:
        return [self._specs[i] for i in self.entries if i in self._specs]

    def _in_file_order(self) -> list[Any]:
        """Typed objects in the order the loader read the entries: files in discovery order
        (sorted, a directory's files before its subdirectories'), entries by line."""

        def key(entry: Entry) -> tuple[list[tuple[int, str]], int]:
            parts = Path(os.path.relpath(entry.file, self.root)).parts
            return [(1, d) for d in parts[:-1]] + [(0, parts[-1])], entry.line

        ordered = sorted((e for e in self.entries.values() if e.id in self._specs), key=key)
        return [self._specs[e.id] for e in ordered]

    def _worker(self, worker_id: str) -> TemporalWorker:
        worker = self.spec(worker_id)
        if not isinstance(worker, TemporalWorker):
            raise AppError(
                f"{worker_id} is a {self.get(worker_id).kind}, not a temporal.worker",
                entry_id=worker_id,
            )
        return worker

    def _unknown(self, entry_id: str) -> AppError:
        other = self.skipped.get(entry_id)
        if other is not None:
            why = self.why_skipped(entry_id) or ""
            return AppError(why, file=other.relfile, line=other.line, entry_id=entry_id)
        close = difflib.get_close_matches(entry_id, list(self.entries), n=3)
        hint = f": did you mean {', '.join(close)}?" if close else ": check the entry id (ns:name)"
        return AppError(f"no entry {entry_id!r} in the app at {self.root}{hint}")
