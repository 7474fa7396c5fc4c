"""Replicas of Herald's three services as processes: started, killed, restarted, added, removed.

Every replica ever started keeps its log file, so after the scenario the
logs of dead replicas can still be searched (the mailer's `reply unknown`
warnings) and shown when something went wrong.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from pathlib import Path

from herald.shared.runtime.settings import Settings
from tests.helpers import ServiceProcess, wait_until

SERVICES = ("scheduler", "renderer", "mailer")


@dataclass
class Fleet:
    settings: Settings
    log_dir: Path
    live: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    every: list[ServiceProcess] = field(default_factory=list)
    #: What was done to the fleet, in order, for the scenario's report.
    actions: list[str] = field(default_factory=list)
    #: Replicas that did not exit 0 when asked to stop.
    unclean: list[str] = field(default_factory=list)

    def spawn(self, service: str) -> ServiceProcess:
        """A new replica, not waited for: under fault it may take long to get ready."""
        replica = ServiceProcess(service, self.settings, self.log_dir)
        self.live.setdefault(service, []).append(replica)
        self.every.append(replica)
        return replica

    async def add(self, service: str, count: int = 1) -> None:
        started = [self.spawn(service) for _ in range(count)]
        await asyncio.gather(*(replica.wait_started(120) for replica in started))

    async def wait_started(self) -> None:
        """Every live replica has started (after restarts that were not waited for)."""
        await asyncio.gather(
            *(r.wait_started(120) for replicas in self.live.values() for r in replicas)
        )

    async def start(self, replicas: dict[str, int]) -> None:
        await asyncio.gather(*(self.add(name, n) for name, n in replicas.items()))

    def _pick(self, rng: random.Random, services: tuple[str, ...]) -> tuple[str, ServiceProcess]:
        candidates = [(name, r) for name in services for r in self.live.get(name, [])]
        if not candidates:
            raise AssertionError(f"no live replica of {services} to pick")
        return rng.choice(candidates)

    def kill_one(self, rng: random.Random, services: tuple[str, ...] = SERVICES) -> str:
        """SIGKILL a random replica (perhaps one still starting); a fresh one takes its place."""
        name, victim = self._pick(rng, services)
        ready = "started successfully" in victim.log()
        victim.kill()
        self.live[name].remove(victim)
        self.actions.append(
            f"SIGKILL {name} pid {victim.process.pid}{'' if ready else ' (still starting)'}"
        )
        self.spawn(name)
        return name

    async def remove(self, rng: random.Random, service: str) -> None:
        """A clean scale-down of a random started replica: SIGTERM, in-flight work finishes."""
        await wait_until(lambda: self._started(service), 120, f"a {service} replica to start")
        replica = rng.choice(await self._started(service))
        self.live[service].remove(replica)
        code = await asyncio.to_thread(replica.stop)
        self.actions.append(f"SIGTERM {service} pid {replica.process.pid} (exit {code})")
        if code != 0:
            self.unclean.append(f"{service} pid {replica.process.pid} exited {code} on SIGTERM")

    async def _started(self, service: str) -> list[ServiceProcess]:
        return [r for r in self.live.get(service, []) if "started successfully" in r.log()]

    def stop_all(self) -> None:
        for replicas in self.live.values():
            for replica in replicas:
                replica.stop()
        self.live.clear()

    def crashed(self) -> list[str]:
        """Replicas that died on their own or stopped uncleanly: each must ride out every fault."""
        return self.unclean + [
            f"{replica.name} pid {replica.process.pid} exited {replica.process.poll()}"
            for replicas in self.live.values()
            for replica in replicas
            if replica.process.poll() is not None
        ]

    def logs(self, service: str) -> list[ServiceProcess]:
        return [replica for replica in self.every if replica.name == service]

    def count_lines(self, service: str, *words: str) -> int:
        """Log lines of every replica of `service`, dead or alive, that contain all `words`."""
        return sum(
            1
            for replica in self.logs(service)
            for line in replica.log().splitlines()
            if all(word in line for word in words)
        )

    def tails(self, lines: int = 15) -> str:
        shown = []
        for replica in self.every:
            tail = "\n".join(replica.log().splitlines()[-lines:])
            state = "alive" if replica.process.poll() is None else f"exit {replica.process.poll()}"
            shown.append(f"--- {replica.name} pid {replica.process.pid} ({state}) ---\n{tail}")
        return "\n".join(shown)
