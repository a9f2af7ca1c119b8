"""Supervised services: ``process.service`` entries kept running on a process node.

Each service runs its ``process`` entry with its ``input`` on its ``host``. Lifecycle
(lua-api.md §1.8, the reference runtime's supervisor):

* ``moonflow run`` starts every ``lifecycle.auto_start`` service in dependency order
  (``depends_on``/``requires`` and references, ``App.services_in_start_order``);
* a service whose process fails is restarted after ``initial_delay * backoff_factor ** (n-1)``
  (at most ``max_delay``, moved by up to ``±jitter`` of itself); after ``max_attempts`` failed
  restarts in a row (0: no limit) it stays failed. A run that lasted ``stable_threshold``
  resets the count. A service whose process returns normally has exited and is not restarted;
* stopping (Ctrl-C, SIGTERM) goes in reverse order: each service gets a CANCEL event
  (``process.events()``) and ``stop_timeout`` to return, then it is terminated.

States, as the reference runtime names them: ``Starting``, ``Running``, ``Stopping``,
``Stopped``, ``Failed`` (waiting to restart, or given up), ``Exited``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import errors as mferrors
from ..errors import ErrorInfo
from ..lua._outcome import Outcome

if TYPE_CHECKING:
    from ..kinds._process import ProcessServiceSpec, RestartPolicy
    from ._node import ProcessNode
    from ._process import Process

log = logging.getLogger("moonflow.process")
#: Failures and restart delays a service keeps (the most recent).
KEPT = 100

#: Seconds :meth:`Supervisor.settle` waits at most for the auto-start services' first steps (a
#: service that never waits must not hold `moonflow run -x` up for longer).
SETTLE_S = 1.0


def _said(outcome: Outcome) -> str:
    """``": <result as JSON>"`` / ``" with an error: ..."`` / ``""`` for a stopped service."""
    import json

    if not outcome.ok:
        info = outcome.error
        return f" with an error: {info.kind}: {info.message}" if info else ""
    if outcome.value is None:
        return ""
    try:
        return ": " + json.dumps(outcome.value, ensure_ascii=False)
    except (TypeError, ValueError):
        return ""


def restart_delay(policy: RestartPolicy, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before restart number ``attempt`` (1-based) under ``policy``."""
    base = policy.initial_delay.total_seconds() * policy.backoff_factor ** max(attempt - 1, 0)
    base = min(base, max(policy.max_delay.total_seconds(), policy.initial_delay.total_seconds()))
    if policy.jitter:
        base += base * policy.jitter * (2 * (rng or random).random() - 1)
    return max(base, 0.0)


@dataclass
class Service:
    """One supervised service and what happened to it.

    Attributes:
        spec: its ``process.service`` entry.
        state: ``Starting``, ``Running``, ``Stopping``, ``Stopped``, ``Failed``, ``Exited``.
        process: the current run, or None between runs.
        starts: how many times its process was started.
        failures: the last :data:`KEPT` failures, in order (ErrorInfo).
        restart_delays: seconds waited before each of the last :data:`KEPT` restarts.
    """

    spec: ProcessServiceSpec
    state: str = "Stopped"
    process: Process | None = None
    starts: int = 0
    # bounded: a service restarted forever (max_attempts 0) must not grow them forever
    failures: deque[ErrorInfo] = field(default_factory=lambda: deque(maxlen=KEPT))
    restart_delays: deque[float] = field(default_factory=lambda: deque(maxlen=KEPT))
    task: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        return self.spec.entry.id


class Supervisor:
    """Starts, restarts and stops the services of ``node``'s app.

    Args:
        node: the process node they run on.
        note: where to say what happens (one line each), e.g. the CLI's stderr.
    """

    def __init__(self, node: ProcessNode, note: Callable[[str], None] | None = None) -> None:
        self.node = node
        self._note = note or (lambda line: log.info("%s", line))
        self.services: dict[str, Service] = {
            s.entry.id: Service(s) for s in node.app.services_in_start_order()
        }
        self._stopping = False

    def start_auto(self) -> list[Service]:
        """Start every ``auto_start`` service, in dependency order. Returns them."""
        started = []
        for service in self.services.values():
            if service.spec.lifecycle.auto_start:
                self.start(service.id)
                started.append(service)
        return started

    async def settle(self, services: list[Service], timeout: float = SETTLE_S) -> bool:
        """Wait until each of ``services`` has started its process and no process of the node
        is ready to step (each waits for a message, a timer, a call, or has exited:
        ``ProcessNode.settled``), at most ``timeout`` seconds. ``moonflow run -x`` does this
        before its entry starts, so what the services do first (``process.registry.register``,
        say) is done when the entry first looks for them.

        Returns:
            True when settled, False when ``timeout`` passed first (the caller goes on).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        spins = 0
        while True:
            started = all(s.starts or s.task is None or s.task.done() for s in services)
            if started and self.node.settled:
                return True
            if loop.time() >= deadline:
                return False
            # a few turns of the loop settle most apps (the pump is a call_soon); after that,
            # poll without spinning (services waiting for a slow start, one that never waits)
            spins += 1
            await asyncio.sleep(0 if spins < 20 else 0.002)

    def start(self, service_id: str) -> Service:
        """Start one service (and keep it running) unless it runs already."""
        service = self.services[service_id]
        if service.task is None or service.task.done():
            service.task = asyncio.ensure_future(self._supervise(service))
        return service

    async def _supervise(self, service: Service) -> None:
        spec = service.spec
        policy = spec.lifecycle.restart
        stable = spec.lifecycle.stable_threshold.total_seconds()
        failed_in_a_row = 0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            service.state = "Starting"
            try:
                process = self.node.spawn(spec.process, list(spec.input), host_id=spec.host)
            except mferrors.AppError as e:
                info = ErrorInfo(mferrors.INVALID, str(e), False)
                service.failures.append(info)
                service.state = "Failed"
                self._note(f"moonflow: service {service.id} cannot start: {e}")
                return
            service.process = process
            service.starts += 1
            service.state = "Running"
            self._note(f"moonflow: service {service.id} running as {process.pid}")
            began = loop.time()
            outcome = await asyncio.shield(process.done)
            service.process = None
            if self._stopping:
                break
            if outcome.ok:
                service.state = "Exited"
                self._note(f"moonflow: service {service.id} exited")
                return
            info = outcome.error or ErrorInfo(mferrors.INTERNAL, "failed", False)
            service.failures.append(info)
            if loop.time() - began >= stable:
                failed_in_a_row = 0
            failed_in_a_row += 1
            if policy.max_attempts and failed_in_a_row > policy.max_attempts:
                service.state = "Failed"
                self._note(
                    f"moonflow: service {service.id} failed {failed_in_a_row} times in a row "
                    f"({info.kind}: {info.message}); giving up (lifecycle.restart.max_attempts "
                    f"= {policy.max_attempts})"
                )
                return
            delay = restart_delay(policy, failed_in_a_row)
            service.restart_delays.append(delay)
            service.state = "Failed"
            self._note(
                f"moonflow: service {service.id} failed ({info.kind}: {info.message}); "
                f"restarting in {delay:.2f}s (restart {failed_in_a_row})"
            )
            await asyncio.sleep(delay)
        service.state = "Stopped"

    async def stop(self) -> None:
        """Stop every running service, in reverse start order: a CANCEL event, then up to
        ``lifecycle.stop_timeout`` to return, then termination."""
        self._stopping = True
        for service in reversed(list(self.services.values())):
            process = service.process
            if process is not None and not process.closed:
                service.state = "Stopping"
                self.node.cancel(process, "moonflow is stopping", None)
                timeout = service.spec.lifecycle.stop_timeout.total_seconds()
                try:
                    outcome = await asyncio.wait_for(asyncio.shield(process.done), timeout)
                    self._note(f"moonflow: service {service.id} stopped{_said(outcome)}")
                except TimeoutError:
                    self._note(
                        f"moonflow: service {service.id} did not stop within {timeout:g}s "
                        "(lifecycle.stop_timeout); terminated"
                    )
                    process.exit(
                        Outcome(
                            False,
                            error=ErrorInfo(
                                mferrors.TERMINATED,
                                f"service did not stop within {timeout:g}s",
                                False,
                            ),
                        )
                    )
            if service.task is not None and not service.task.done():
                service.task.cancel()
                await asyncio.gather(service.task, return_exceptions=True)
            service.state = "Stopped"

    def summary(self) -> dict[str, Any]:
        """``{service id: state}``."""
        return {s.id: s.state for s in self.services.values()}
