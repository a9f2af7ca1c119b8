"""Keep the servers moonflow starts on loopback.

The Temporal CLI dev server takes ``--ip``. The time-skipping test server does not: it takes
only a port and listens on every interface (an unauthenticated Temporal endpoint open to the
network), and no system property changes that. So moonflow starts it with ``LD_PRELOAD`` set to
its loopback shim (``_loopback_shim.c``, built when moonflow is installed, Linux only), which
turns a bind to the wildcard address into a bind to 127.0.0.1 (``::ffff:127.0.0.1`` on a
dual-stack IPv6 socket). After a server starts, :func:`listening_addresses` reads
``/proc/PID/net/tcp{,6}`` to check that every socket it listens on is loopback.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.machinery
import ipaddress
import os
import shutil
import socket
import struct
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["find_shim", "is_loopback", "listening_addresses", "preload_env", "shim_missing_reason"]

SHIM_NAME = "_loopback_shim"
_LD_SEPARATORS = frozenset(" :\t\n")  # ld.so splits LD_PRELOAD on these, with no escaping
_TCP_LISTEN = "0A"


def find_shim() -> Path | None:
    """The built shim next to this module, or None when it was not built (see setup.py)."""
    here = Path(__file__).resolve().parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = here / f"{SHIM_NAME}{suffix}"
        if path.is_file():
            return path
    return None


def shim_missing_reason() -> str:
    """Why the shim is absent, with what to do, as the end of a one-line message."""
    if not sys.platform.startswith("linux"):
        return (
            f"moonflow can restrict it to loopback only on Linux (this is {sys.platform}); "
            "use --server memory"
        )
    return (
        "moonflow's loopback shim (moonflow/_loopback_shim*.so) was not built when moonflow "
        "was installed (it needs a C compiler): install gcc and reinstall moonflow "
        "(`pip install --force-reinstall --no-deps moonflow`, or `pip install -e .` in a "
        "checkout), or use --server memory"
    )


_copies: dict[Path, Path] = {}


def _preloadable(shim: Path) -> Path:
    """``shim``, or a copy in a temporary directory when its path would split LD_PRELOAD."""
    if not _LD_SEPARATORS & set(str(shim)):
        return shim
    if shim not in _copies:
        folder = Path(tempfile.mkdtemp(prefix="moonflow-shim-"))
        atexit.register(shutil.rmtree, folder, True)
        _copies[shim] = Path(shutil.copy2(shim, folder / shim.name))
    copy = _copies[shim]
    if _LD_SEPARATORS & set(str(copy)):
        raise ValueError(f"no LD_PRELOAD-safe path for {shim} (spaces or ':' in TMPDIR too)")
    return copy


def preload_env(shim: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child that must load ``shim``: ``base`` (default ``os.environ``)
    with the shim appended to any ``LD_PRELOAD`` it already has.

    Raises:
        ValueError: the shim's path contains a space or ``:`` and cannot be copied elsewhere.
    """
    env = dict(os.environ if base is None else base)
    path = str(_preloadable(shim))
    existing = env.get("LD_PRELOAD", "").strip()
    env["LD_PRELOAD"] = f"{existing}:{path}" if existing else path
    return env


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ``::1`` and IPv4-mapped loopback (``::ffff:127.0.0.1``)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _decode(hex_address: str) -> str:
    """An address from ``/proc/net/tcp{,6}`` (32-bit words in host byte order) as text."""
    words = [int(hex_address[i : i + 8], 16) for i in range(0, len(hex_address), 8)]
    packed = struct.pack(f"={len(words)}I", *words)
    return socket.inet_ntop(socket.AF_INET if len(words) == 1 else socket.AF_INET6, packed)


def listening_addresses(pid: int) -> list[tuple[str, int]]:
    """The ``(host, port)`` of every TCP socket process ``pid`` listens on (Linux ``/proc``).

    Hosts are as the kernel holds them: ``0.0.0.0`` / ``::`` for all interfaces,
    ``::ffff:127.0.0.1`` for IPv4 loopback on a dual-stack socket.

    Raises:
        OSError: no such process, not ours to inspect, or no ``/proc`` (not Linux).
    """
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        with contextlib.suppress(OSError):  # closed since listdir
            target = os.readlink(f"{fd_dir}/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                rows = f.read().splitlines()[1:]
        except FileNotFoundError:  # no IPv6 in this kernel
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == _TCP_LISTEN and cols[9] in inodes:
                host, _, port = cols[1].partition(":")
                found.append((_decode(host), int(port, 16)))
    return sorted(set(found))
