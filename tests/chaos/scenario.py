"""One chaos scenario from start to verdict: services up, herd in, faults, quiet, invariants.

Each scenario gets its own topic prefix and database on the session's
cluster, its own SMTP server and its own replicas, so stopping one thing
disturbs only the scenario that stopped it. Settings are short on purpose
(retries after a second or two, leases of ten seconds) so the system heals
and gets quiet within a CI budget; a scenario may change any of them.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.services.scheduler.timers import BUCKET
from herald.shared.runtime.kafka import ensure_topics
from herald.shared.runtime.mongo import Document, connect, database
from herald.shared.runtime.settings import (
    KafkaSettings,
    MongoSettings,
    OpsSettings,
    RendererSettings,
    ReportSourceKind,
    RetrySettings,
    SchedulerSettings,
    Settings,
    SmtpSettings,
)
from tests.chaos.cluster import Cluster
from tests.chaos.config import ChaosConfig
from tests.chaos.fleet import Fleet
from tests.chaos.herd import TENANT, Expected, Herd, import_herd
from tests.chaos.invariants import Outcome, check
from tests.chaos.mail_sink import MailSink
from tests.chaos.quiet import wait_until_quiet

REPLICAS = {"scheduler": 2, "renderer": 2, "mailer": 2}

#: Every scenario's outcome table, shown in pytest's terminal summary even when output
#: is captured: the counts (ambiguous-window cases above all) matter when a run passes too.
TABLES: list[str] = []


def chaos_settings(cluster: Cluster, name: str, smtp_port: int, **changes: Any) -> Settings:
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers=cluster.kafka.bootstrap, topic_prefix=name),
        mongo=MongoSettings(
            url=cluster.ferretdb.url,
            database=name.replace("-", "_"),
            server_selection_timeout_ms=5000,
        ),
        smtp=SmtpSettings(host="127.0.0.1", port=smtp_port, timeout_s=5, pool_size=4),
        retry=RetrySettings(base_s=1, cap_s=8, max_attempts=20),
        scheduler=SchedulerSettings(tick_s=1, lease_ttl_s=10, stuck_after_s=120),
        renderer=RendererSettings(pdf_workers=1),
        ops=OpsSettings(shutdown_grace_s=10),
    )
    return settings.model_copy(update=changes)


Fault = Callable[["Scenario"], Awaitable[None]]


@dataclass
class Scenario:
    name: str
    config: ChaosConfig
    cluster: Cluster
    settings: Settings
    sink: MailSink
    fleet: Fleet
    mongo: AsyncMongoClient[Document]
    rng: random.Random
    #: What happened, in order, for the report.
    timeline: list[str] = field(default_factory=list)

    @property
    def db(self) -> AsyncDatabase[Document]:
        return database(self.mongo, self.settings)

    def note(self, event: str) -> None:
        """A line for the report, printed at once too (pytest -s) to follow a long scenario."""
        self.timeline.append(event)
        print(f"[chaos {self.name}] {event}", flush=True)

    async def run(
        self,
        fault: Fault,
        *,
        expect: Callable[[int], Expected] = lambda _: Expected(),
        campaign_filters: bool = False,
        replicas: dict[str, int] | None = None,
        retry_rounds: int = 1,
    ) -> Outcome:
        """Start the replicas, fire the herd, inject the fault, wait for quiet, check.

        `retry_rounds`: how many rounds of retries the faults may still owe once they
        are over (one: a run that failed at the end of an outage is tried once more).
        """
        opened = time.monotonic()
        await ensure_topics(self.settings)
        if self.settings.reports.source is ReportSourceKind.MONGO:
            await demo.seed(self.db, tenant_id=TENANT, calls=300, days=2, anchor=date.today())
        await self.sink.start()
        await self.fleet.start(replicas or REPLICAS)
        herd: Herd = await import_herd(
            self.settings, self.db, self.config.runs, expect, campaign_filters=campaign_filters
        )
        started = time.monotonic()
        self.note(
            f"herd of {len(herd.runs)} runs due at {herd.minute:%H:%M} "
            f"({started - opened:.1f} s to set up)"
        )
        await fault(self)
        self.note(f"faults over after {time.monotonic() - started:.1f} s")
        quiet_s = await wait_until_quiet(
            self.settings,
            self.db,
            herd,
            self.sink,
            self.fleet,
            timeout_s=self.quiet_budget_s(retry_rounds),
        )
        outcome = await check(
            self.name, self.settings, self.db, herd, self.sink, self.fleet, quiet_s
        )
        outcome.timeline = self.timeline + self.fleet.actions
        self.note(f"checked {time.monotonic() - opened:.1f} s after the start")
        print("\n" + outcome.table(), flush=True)
        TABLES.append(outcome.table())
        return outcome

    def quiet_budget_s(self, retry_rounds: int) -> float:
        """How long the system may take to get quiet once the faults are over.

        The herd's own work (a base and a share per run), and for each round of
        retries still owed: the policy's longest backoff, a timer bucket, and the
        time to carry the retried runs through the three services again.
        """
        runs = self.config.runs
        per_round = self.settings.retry.cap_s + BUCKET.total_seconds() + 30 + runs / 50
        return 240 + runs / 5 + retry_rounds * per_round

    async def close(self) -> None:
        await asyncio.to_thread(self.fleet.stop_all)
        await self.sink.stop()
        await self.mongo.close()


async def open_scenario(
    name: str, config: ChaosConfig, cluster: Cluster, directory: Path, **changes: Any
) -> Scenario:
    prefix = f"chaos-{name}-{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    sink = MailSink(directory, flaky=0.0, seed=config.seed)
    settings = chaos_settings(cluster, prefix, sink.port, **changes)
    return Scenario(
        name=name,
        config=config,
        cluster=cluster,
        settings=settings,
        sink=sink,
        fleet=Fleet(settings, directory),
        mongo=connect(settings, "herald-chaos"),
        rng=config.rng(name),
    )
