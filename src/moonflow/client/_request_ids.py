"""Caller-chosen request ids for starts and signals (``workflow.request_id``).

Temporal deduplicates a start by its request id: a second ``StartWorkflowExecution`` with the
same id returns the first run, running or closed (verified on the bundled dev server), and a
signal with a request id already recorded on the run is not delivered again. The SDK draws a
fresh uuid for every call and offers no parameter, so a start retried by the *caller* (a CLI
invocation that lost its response) would start a second run. This module puts the caller's
id on the wire: a client sharing the original's connection whose service client sets
``request_id`` on start, signal-with-start and signal requests while :data:`REQUEST_ID` is set.
Nothing else about the requests changes, so the SDK still builds them (input, headers, memo,
search attributes, options).
"""

from __future__ import annotations

import contextvars
import weakref
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import temporalio.client

#: The request id for the start or signal being sent in this context (None: the SDK's own).
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "moonflow_request_id", default=None
)

#: The rpcs whose request carries a ``request_id`` we set.
_RPCS = frozenset(
    {
        "start_workflow_execution",
        "signal_with_start_workflow_execution",
        "signal_workflow_execution",
    }
)

_DERIVED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _service_client_class() -> type:
    import temporalio.service

    class RequestIdServiceClient(temporalio.service.ServiceClient):
        """Delegates every call to ``inner``; sets ``request_id`` from :data:`REQUEST_ID`."""

        def __init__(self, inner: temporalio.service.ServiceClient) -> None:
            super().__init__(inner.config)
            self._inner = inner

        @property
        def worker_service_client(self) -> Any:
            return self._inner.worker_service_client

        def update_rpc_metadata(self, metadata: Mapping[str, str | bytes]) -> None:
            self._inner.update_rpc_metadata(metadata)

        def update_api_key(self, api_key: str | None) -> None:
            self._inner.update_api_key(api_key)

        async def _rpc_call(
            self,
            rpc: str,
            req: Any,
            resp_type: Any,
            *,
            service: str,
            retry: bool,
            metadata: Mapping[str, str | bytes],
            timeout: timedelta | None,
        ) -> Any:
            request_id = REQUEST_ID.get()
            if request_id is not None and rpc in _RPCS:
                req.request_id = request_id
            return await self._inner._rpc_call(
                rpc,
                req,
                resp_type,
                service=service,
                retry=retry,
                metadata=metadata,
                timeout=timeout,
            )

    return RequestIdServiceClient


def client_with_request_ids(client: temporalio.client.Client) -> temporalio.client.Client:
    """A client sharing ``client``'s connection, namespace, converter and interceptors whose
    start and signal requests carry :data:`REQUEST_ID` when it is set (cached per client)."""
    import temporalio.client

    derived = _DERIVED.get(client)
    if derived is None:
        options: dict[str, Any] = dict(client.config())
        options["service_client"] = _service_client_class()(client.service_client)
        derived = temporalio.client.Client(**options)
        _DERIVED[client] = derived
    return derived


def message_request_id(request_id: str, index: int) -> str:
    """The request id of the ``index``-th startup message sent after the start (1-based)."""
    return f"{request_id}/message-{index}"
