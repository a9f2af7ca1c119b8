"""The loopback shim on its own (a Python child binding sockets under LD_PRELOAD) and the
/proc reader that checks what a server listens on. No Temporal server here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from moonflow import _loopback
from moonflow.devserver import ServerError, TestServer

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the shim and /proc are Linux-only"
)


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


ipv6_only = pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback here")

# Binds one socket as asked and prints what the kernel bound (getsockname), or the error.
_BIND = textwrap.dedent(
    """
    import json, socket, sys
    family, host, v6only = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    s = socket.socket(socket.AF_INET6 if family == "6" else socket.AF_INET)
    if family == "6":
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
    try:
        s.bind((host, 0))
    except OSError as exc:
        print(json.dumps({"error": exc.strerror}))
        sys.exit()
    s.listen()
    bound = s.getsockname()[0]
    port = s.getsockname()[1]
    reach = {}
    for dial in ("127.0.0.1", "::1"):
        try:
            socket.create_connection((dial, port), timeout=1).close()
            reach[dial] = True
        except OSError:
            reach[dial] = False
    print(json.dumps({"bound": bound, "reach": reach}))
    """
)


def _bind(host: str, family: str = "4", *, v6only: bool = False, shim: bool = True) -> dict:
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if shim:
        path = _loopback.find_shim()
        assert path is not None, "the loopback shim was not built: reinstall with gcc present"
        env = _loopback.preload_env(path, env)
    out = subprocess.run(
        [sys.executable, "-c", _BIND, family, host, "1" if v6only else "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(out.stdout)


@linux_only
def test_the_shim_is_built_and_uses_no_python_symbol() -> None:
    path = _loopback.find_shim()
    assert path is not None and path.parent == Path(_loopback.__file__).resolve().parent
    data = path.read_bytes()
    assert b"bind" in data and b"Py_" not in data and b"PyInit" not in data


@linux_only
def test_without_the_shim_a_wildcard_bind_is_all_interfaces() -> None:
    # The control: what the shim must change really is there without it.
    assert _bind("0.0.0.0", shim=False)["bound"] == "0.0.0.0"


@linux_only
def test_ipv4_wildcard_becomes_loopback() -> None:
    result = _bind("0.0.0.0")
    assert result["bound"] == "127.0.0.1"
    assert result["reach"]["127.0.0.1"] is True


@linux_only
def test_a_specific_address_is_untouched() -> None:
    # 127.0.0.2 is not the wildcard and not the address the shim writes: it must stay.
    assert _bind("127.0.0.2")["bound"] == "127.0.0.2"


@linux_only
@ipv6_only
def test_ipv6_wildcard_on_a_dual_stack_socket_becomes_mapped_ipv4_loopback() -> None:
    assert _bind("::", "6", shim=False)["bound"] == "::"
    result = _bind("::", "6")
    assert result["bound"] == "::ffff:127.0.0.1"
    assert result["reach"]["127.0.0.1"] is True  # IPv4 clients still connect
    result = _bind("::ffff:0.0.0.0", "6")
    assert result["bound"] == "::ffff:127.0.0.1"


@linux_only
@ipv6_only
def test_ipv6_wildcard_on_an_ipv6_only_socket_becomes_ipv6_loopback() -> None:
    result = _bind("::", "6", v6only=True)
    assert result["bound"] == "::1"
    assert result["reach"]["::1"] is True
    assert _bind("::1", "6")["bound"] == "::1"


def test_preload_env_appends_to_the_users_ld_preload(tmp_path: Path) -> None:
    shim = tmp_path / "shim.so"
    shim.write_bytes(b"")
    assert _loopback.preload_env(shim, {"PATH": "/bin"}) == {
        "PATH": "/bin",
        "LD_PRELOAD": str(shim),
    }
    env = _loopback.preload_env(shim, {"LD_PRELOAD": "/opt/user.so"})
    assert env["LD_PRELOAD"] == f"/opt/user.so:{shim}"


def test_preload_env_copies_a_shim_whose_path_would_split_ld_preload(tmp_path: Path) -> None:
    folder = tmp_path / "with space"
    folder.mkdir()
    shim = folder / "shim.so"
    shim.write_bytes(b"\x7fELF")
    preload = _loopback.preload_env(shim, {})["LD_PRELOAD"]
    assert " " not in preload and ":" not in preload
    assert Path(preload).read_bytes() == b"\x7fELF"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("::ffff:0.0.0.0", False),
        ("10.1.2.3", False),
        ("localhost", False),  # a name, not an address the kernel reports
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert _loopback.is_loopback(host) is loopback


@linux_only
def test_listening_addresses_reports_what_this_process_listens_on() -> None:
    wanted = [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET, "0.0.0.0")]
    if _has_ipv6():
        wanted += [(socket.AF_INET6, "::"), (socket.AF_INET6, "::1")]
    sockets = []
    try:
        expected = set()
        for family, host in wanted:
            s = socket.socket(family)
            sockets.append(s)
            s.bind((host, 0))
            s.listen()
            expected.add((host, s.getsockname()[1]))
        not_listening = socket.socket()
        sockets.append(not_listening)
        not_listening.bind(("127.0.0.1", 0))  # bound, not listening: not reported
        found = set(_loopback.listening_addresses(os.getpid()))
        assert expected <= found
        assert ("127.0.0.1", not_listening.getsockname()[1]) not in found
    finally:
        for s in sockets:
            s.close()


async def test_time_skipping_server_refuses_to_start_without_the_shim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_loopback, "find_shim", lambda: None)
    server = TestServer(binary=sys.executable)  # never launched
    with pytest.raises(ServerError) as err:
        await server.start()
    message = str(err.value)
    assert "\n" not in message and server.process is None
    assert "listens on all network interfaces" in message and "--server memory" in message
