"""The faults the scenarios inject, each timed by the scenario's seeded random stream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from tests.chaos.fleet import SERVICES
from tests.chaos.scenario import Fault, Scenario


class Stoppable(Protocol):
    """A server the suite can take down and bring back on the same port with the same data."""

    async def stop(self, *, kill: bool = False) -> None: ...

    async def start(self) -> None: ...


async def kill_replicas(scenario: Scenario) -> None:
    """6 x HERALD_CHAOS_FAULTS SIGKILLs, every service hit in turn, at random moments.

    A fresh replica is started in place of each victim without waiting for it,
    so a later kill may hit a replica that is still starting.
    """
    rng = scenario.rng
    kills = 6 * scenario.config.faults
    order = [SERVICES[n % len(SERVICES)] for n in range(kills)]
    rng.shuffle(order)
    for service in order:
        await asyncio.sleep(rng.uniform(0.5, 4.0))
        scenario.fleet.kill_one(rng, (service,))
    await scenario.fleet.wait_started()


def outage(
    server: Callable[[Scenario], Stoppable], name: str, down_s: Callable[[Scenario], float]
) -> Fault:
    """HERALD_CHAOS_FAULTS outages of `server`: the first a clean stop, the next ones SIGKILL."""

    async def inject(scenario: Scenario) -> None:
        rng = scenario.rng
        target = server(scenario)
        for n in range(scenario.config.faults):
            await asyncio.sleep(rng.uniform(2.0, 5.0))
            kill = n % 2 == 1
            await target.stop(kill=kill)
            seconds = down_s(scenario)
            scenario.note(f"{name} {'killed' if kill else 'stopped'} for {seconds:.0f} s")
            await asyncio.sleep(seconds)
            await target.start()
            scenario.note(f"{name} back")
        await scenario.fleet.wait_started()

    return inject


async def rebalance(scenario: Scenario) -> None:
    """Renderer and mailer replicas added (not waited for) and removed (SIGTERM) mid-herd."""
    rng = scenario.rng
    fleet = scenario.fleet
    steps: list[Callable[[], Awaitable[None]]] = []
    for _ in range(scenario.config.faults):
        for service in rng.sample(["renderer", "mailer"], 2):
            steps.append(_spawner(scenario, service))
            steps.append(_spawner(scenario, service))
            steps.append(_remover(scenario, service))
    for step in steps:
        await asyncio.sleep(rng.uniform(1.0, 3.0))
        await step()
    await fleet.wait_started()


def _spawner(scenario: Scenario, service: str) -> Callable[[], Awaitable[None]]:
    async def spawn() -> None:
        replica = scenario.fleet.spawn(service)
        scenario.fleet.actions.append(f"added {service} pid {replica.process.pid}")

    return spawn


def _remover(scenario: Scenario, service: str) -> Callable[[], Awaitable[None]]:
    async def remove() -> None:
        await scenario.fleet.remove(scenario.rng, service)

    return remove
