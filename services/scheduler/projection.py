"""The history projection: batches of `DeliveryStatus` into `runs`, and the timers they call for.

A batch is grouped by run: each run's events cost one read and one write of
its record, and the runs of a batch are projected concurrently (bounded). One
event at a time, a herd's retries queued for a minute behind the projection
(issue 20): every attempt waited that long before it could be fired again.

One writer per run document still holds (FerretDB 1.x has no atomic
conditional update): a run's events share a partition, and a partition's
batch is handled by one consumer at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

from herald.services.scheduler import retries
from herald.services.scheduler.ports import Clock, RunHistory, Timers
from herald.shared.contract.messages import DeliveryStatus, RunStatus, utcnow
from herald.shared.runtime.kafka import TRANSIENT_ERRORS
from herald.shared.runtime.logs import bound
from herald.shared.runtime.metrics import RETRIES, RUNS

log = logging.getLogger("herald.scheduler")

#: Runs of one batch projected at once.
CONCURRENCY = 32

Origin = TypeVar("Origin")


@dataclass(frozen=True, slots=True)
class Unprojectable(Generic[Origin]):
    """A run whose events can never be projected (they contradict its record): for the DLQ."""

    origins: list[Origin]
    error: Exception


@dataclass(frozen=True, slots=True)
class Projection:
    history: RunHistory
    timers: Timers
    stuck_after: timedelta
    clock: Clock = utcnow

    async def apply(
        self, events: Sequence[tuple[Origin, DeliveryStatus]]
    ) -> list[Unprojectable[Origin]]:
        """Project a batch; an outage of the database propagates (the batch is read again)."""
        by_run: dict[str, list[tuple[Origin, DeliveryStatus]]] = {}
        for origin, event in events:
            by_run.setdefault(event.run_id, []).append((origin, event))
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(pairs: list[tuple[Origin, DeliveryStatus]]) -> None:
            async with gate:
                await self._project_run([event for _, event in pairs])

        outcomes = await asyncio.gather(
            *(one(pairs) for pairs in by_run.values()), return_exceptions=True
        )
        poisoned: list[Unprojectable[Origin]] = []
        for pairs, outcome in zip(by_run.values(), outcomes, strict=True):
            if isinstance(outcome, TRANSIENT_ERRORS):
                raise outcome
            if isinstance(outcome, Exception):
                poisoned.append(Unprojectable([origin for origin, _ in pairs], outcome))
            elif isinstance(outcome, BaseException):
                raise outcome
        return poisoned

    async def _project_run(self, events: list[DeliveryStatus]) -> None:
        first = events[0]
        with bound(
            {"tenant_id": first.tenant_id, "schedule_id": first.schedule_id, "run_id": first.run_id}
        ):
            record = await self.history.project_run(events)
            for event in events:
                RUNS.labels(event.status.value).inc()
                if event.status is RunStatus.PENDING_RETRY:
                    RETRIES.labels(event.stage).inc()
            # Armed again even when nothing changed: a crash may have come between
            # the record's write and its timer's.
            timer = retries.wakeup(record, self.stuck_after)
            if timer is None:
                await self.timers.disarm(record.run_id, record.attempt)
            else:
                await self.timers.arm(timer, self.clock())
            log.info(
                "run %s of schedule %s (tenant %s): %s, attempt %d",
                record.run_id,
                record.schedule_id,
                record.tenant_id,
                record.status.value,
                record.attempt,
            )
