"""Register an app's custom search attributes on a server (they must exist before a workflow
upserts them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from moonflow.errors import UsageError
from moonflow.kinds._temporal import SEARCH_ATTRIBUTE_TYPES

if TYPE_CHECKING:
    import temporalio.client


async def register_search_attributes(
    client: temporalio.client.Client, namespace: str, attrs: Mapping[str, str]
) -> list[str]:
    """Make sure custom search attributes exist on the server.

    Args:
        client: any client of the server.
        namespace: the namespace to register them in.
        attrs: name -> type, one of Keyword, Text, Int, Double, Bool, Datetime, KeywordList
            (case-insensitive).

    Returns:
        The names that were added (empty when all existed with the same type).

    Raises:
        UsageError: an unknown type, or a name that exists with another type (or is a system
            attribute).
        temporalio.service.RPCError: the server rejected the call (e.g. permission denied).
    """
    if not attrs:
        return []
    import temporalio.service
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest as Add
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    names = {t.lower(): t for t in SEARCH_ATTRIBUTE_TYPES}
    wanted: dict[str, Any] = {}
    for name, type_name in attrs.items():
        canonical = names.get(str(type_name).lower())
        if canonical is None:
            raise UsageError(
                f"search attribute {name!r}: unknown type {type_name!r}; use one of "
                + ", ".join(SEARCH_ATTRIBUTE_TYPES)
            )
        wanted[name] = IndexedValueType.Value(_SA_ENUM[canonical])
    ops = client.operator_service
    try:
        resp = await ops.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    except temporalio.service.RPCError as exc:
        if exc.status != temporalio.service.RPCStatusCode.UNIMPLEMENTED:
            raise
        # The time-skipping server cannot list: add one by one, "already exists" is fine.
        added = []
        for name, value in wanted.items():
            try:
                one = Add(namespace=namespace, search_attributes={name: value})
                await ops.add_search_attributes(one)
                added.append(name)
            except temporalio.service.RPCError as err:
                if err.status != temporalio.service.RPCStatusCode.ALREADY_EXISTS:
                    raise
        return sorted(added)
    existing = {**resp.system_attributes, **resp.custom_attributes}
    for name, value in wanted.items():
        if name in existing and existing[name] != value:
            what = "system" if name in resp.system_attributes else "custom"
            raise UsageError(
                f"search attribute {name!r} is declared as {_type_name(value)} but the {what} "
                f"attribute on the server (namespace {namespace!r}) is "
                f"{_type_name(existing[name])}; rename it or change its declared type"
            )
    missing = {n: v for n, v in wanted.items() if n not in existing}
    if missing:
        await ops.add_search_attributes(Add(namespace=namespace, search_attributes=missing))
    return sorted(missing)


_SA_ENUM = {t: "INDEXED_VALUE_TYPE_" + t.upper() for t in SEARCH_ATTRIBUTE_TYPES}
_SA_ENUM["KeywordList"] = "INDEXED_VALUE_TYPE_KEYWORD_LIST"


def _type_name(value: Any) -> str:
    from temporalio.api.enums.v1 import IndexedValueType

    enum_name = IndexedValueType.Name(value)
    return next((t for t, e in _SA_ENUM.items() if e == enum_name), enum_name)
