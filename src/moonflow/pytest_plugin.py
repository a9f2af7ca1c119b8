"""moonflow's pytest plugin: a test server per session and apps running on it per test.

pytest loads it by itself once moonflow is installed (the ``pytest11`` entry point
``moonflow``; ``-p no:moonflow`` turns it off). It needs pytest-asyncio (``pip install
'moonflow[pytest]'``). Nothing starts until a test asks for a fixture:

* ``moonflow_env`` (session): a :class:`moonflow.testing.ServerEnv` on the server the
  command-line option ``--moonflow-server SPEC`` (or the ini option ``moonflow_server``) names:
  ``time-skipping`` (default: durable timers take no wall time while a test waits on a
  result), ``dev`` / ``memory`` (the bundled Temporal CLI dev server in memory: real time,
  visibility queries), or ``HOST:PORT`` (a server that already runs).
* ``moonflow_app`` (per test): an async factory, ``app = await moonflow_app(path,
  worker_options=None)``, that loads the app in ``path`` with a random task-queue prefix and
  runs its workers on ``moonflow_env`` until the test ends; it returns a
  :class:`moonflow.testing.RunningApp` (``execute``, ``start``, ``stub_activity``,
  ``calls``, ``replay``, ``history``). Workflows it started that still run are terminated
  after the test.

Example (``asyncio_mode = "auto"``)::

    async def test_declined_card(moonflow_app):
        app = await moonflow_app("examples/orders")
        app.stub_activity("app:charge_payment", error={"kind": "PaymentDeclined",
                                                      "message": "card declined"})
        result = await app.execute("app:order_workflow", {"id": "o-1", "total": 5})
        assert result["status"] == "payment_failed"

The fixtures run on pytest-asyncio's **session** event loop (the server's client and the
workers live there), so tests using them must run on it too: set
``asyncio_default_test_loop_scope = "session"`` (and ``asyncio_default_fixture_loop_scope``)
in the pytest configuration, or mark them ``@pytest.mark.asyncio(loop_scope="session")``.
A test on another loop gets a one-line error saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from moonflow.registry import App
    from moonflow.testing import RunningApp, ServerEnv

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures then say what is missing
    pytest_asyncio = None  # type: ignore[assignment]

#: The default of ``--moonflow-server``.
DEFAULT_SERVER = "time-skipping"
_INI = "moonflow_server"
_NEEDS_ASYNCIO = (
    "the moonflow fixtures need pytest-asyncio: pip install 'moonflow[pytest]' (or pytest-asyncio)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("moonflow", "moonflow test servers")
    group.addoption(
        "--moonflow-server",
        dest="moonflow_server",
        metavar="SPEC",
        default=None,
        help="server of the moonflow_env fixture: time-skipping (default), dev or memory "
        "(bundled dev server in memory) or HOST:PORT",
    )
    parser.addini(_INI, "server of the moonflow_env fixture (see --moonflow-server)")


def server_spec(config: pytest.Config) -> str:
    """``--moonflow-server``, else the ini option ``moonflow_server``, else time-skipping."""
    return config.getoption("moonflow_server") or config.getini(_INI) or DEFAULT_SERVER


def _loop_check(fixture_loop: asyncio.AbstractEventLoop) -> None:
    from moonflow.errors import UsageError

    if asyncio.get_running_loop() is not fixture_loop:
        raise UsageError(
            "moonflow_app: this test runs on another event loop than the moonflow fixtures; "
            'set asyncio_default_test_loop_scope = "session" or mark the test '
            '@pytest.mark.asyncio(loop_scope="session")'
        )


if pytest_asyncio is not None:

    @pytest_asyncio.fixture(scope="session", loop_scope="session")
    async def moonflow_env(request: pytest.FixtureRequest) -> AsyncIterator[ServerEnv]:
        """The session's test server (``--moonflow-server``), a
        :class:`moonflow.testing.ServerEnv`: ``.client``, ``.server.address``,
        ``.time_skipping``, ``.workers(app)``, ``.execute(entry_id, input, app=app)``."""
        from moonflow.errors import MoonflowError
        from moonflow.testing import open_env

        spec = server_spec(request.config)
        try:
            opened = open_env(spec)
            env = await opened.__aenter__()
        except MoonflowError as e:
            raise pytest.UsageError(f"--moonflow-server {spec}: {e}") from None
        try:
            yield env
        finally:
            await opened.__aexit__(None, None, None)

    @pytest_asyncio.fixture(loop_scope="session")
    async def moonflow_app(
        moonflow_env: ServerEnv,
    ) -> AsyncIterator[Callable[..., Awaitable[RunningApp]]]:
        """``app = await moonflow_app(path, worker_options=None)``: the app in ``path`` (a
        directory, or a loaded :class:`moonflow.registry.App` used nowhere else) with its
        workers running on ``moonflow_env`` and a random task-queue prefix, until the test
        ends; a :class:`moonflow.testing.RunningApp`. May be called several times."""
        from moonflow.testing import running_app

        loop = asyncio.get_running_loop()
        async with contextlib.AsyncExitStack() as stack:

            async def factory(
                path: str | Path | App, *, worker_options: dict[str, Any] | None = None
            ) -> RunningApp:
                _loop_check(loop)
                return await stack.enter_async_context(
                    running_app(moonflow_env, path, worker_options=worker_options)
                )

            yield factory

else:  # pragma: no cover

    @pytest.fixture(scope="session")
    def moonflow_env() -> Any:
        pytest.fail(_NEEDS_ASYNCIO)

    @pytest.fixture
    def moonflow_app() -> Any:
        pytest.fail(_NEEDS_ASYNCIO)
