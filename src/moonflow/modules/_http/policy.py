"""``http_client``'s address policy: ``deny_private = true`` refuses private, loopback and
link-local addresses (for activities that fetch URLs a user supplied: server-side request
forgery).

The check sits where connections are made, in the network backend of the request's
connection pool: every connection, the first request's and each redirect hop's, resolves
the host name once, refuses it when *any* address it resolves to is not a public one, and
connects to the address it checked (so a name that resolves to a public address for the
check and to 127.0.0.1 for the connection, DNS rebinding, cannot slip through). Nothing is
sent to a refused address. Hosts in ``allow_private`` (``"host"`` or ``"host:port"``, as
written in the URL) are exempt: an internal service the activity may call on purpose.

Not a public address (:func:`address_problem`): loopback (127.0.0.0/8, ::1), private
(10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, fe80::/10; cloud metadata
services live there), carrier-grade NAT (100.64/10), unspecified (0.0.0.0, ::), multicast,
and the other reserved and documentation ranges; an IPv4 address written as IPv6
(``::ffff:127.0.0.1``) is judged as the IPv4 address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx


class AddressDenied(Exception):
    """A connection the policy refused (kind ``PermissionDenied``, not retryable); ``host``
    is the host name refused (the request's, or a redirect's)."""

    def __init__(self, message: str, host: str) -> None:
        super().__init__(message)
        self.host = host


def address_problem(address: str) -> str | None:
    """Why the IP address ``address`` (text) is not a public one (``"loopback"``,
    ``"private"``, ``"link-local"``...), or None when it is public."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
        address.split("%", 1)[0]  # an IPv6 zone (fe80::1%eth0) is not part of the address
    )
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for name, test in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if test:
            return name
    if not ip.is_global:  # 100.64/10 (shared address space) and the like
        return "non-public"
    return None


def _host_key(host: str, port: int) -> tuple[str, str]:
    h = host.strip("[]").lower()
    return h, f"{h}:{port}"


def normalize_allowed(hosts: Iterable[str]) -> frozenset[str]:
    """``allow_private`` entries as compared: lower case, IPv6 brackets dropped."""
    out = set()
    for item in hosts:
        text = item.strip().lower()
        if text.startswith("["):  # [::1]:8080 or [::1]
            addr, _, rest = text[1:].partition("]")
            text = addr + rest
        out.add(text)
    return frozenset(out)


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend with the address check (see the module docstring)."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        name, with_port = _host_key(host, port)
        if name in self.allowed or with_port in self.allowed:
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except OSError as e:
            # the same exception httpcore raises for a name it cannot resolve: a network error
            raise httpcore.ConnectError(f"cannot resolve {name!r}: {e}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            problem = address_problem(address)
            if problem is not None:
                via = "" if name == address else f" (it resolves to {address})"
                shown = f"[{name}]" if ":" in name else name
                raise AddressDenied(
                    f"refused to connect to {shown}:{port}{via}: a {problem} address, and the "
                    "request has deny_private = true (list the host in allow_private to "
                    "call it on purpose)",
                    name,
                )
        last: Exception | None = None
        for address in addresses:  # the addresses checked, not a second lookup
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as e:
                last = e
        raise last or httpcore.ConnectError(f"cannot connect to {name}:{port}")


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport whose connection pool connects through :class:`GuardedBackend`.

    httpx has no public way to hand its pool a network backend, so the pool it built is
    replaced by one built the same way with the backend (``_pool`` is httpx's attribute;
    tests/integration/test_http_client.py fails if that ever stops taking effect).
    Environment proxies are not used: through a proxy the checked address would be the
    proxy's, not the target's.
    """

    def __init__(self, ssl_context: Any, allowed: frozenset[str]) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        limits = httpx.Limits()
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allowed),
        )
