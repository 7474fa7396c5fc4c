"""The history projection: batches of `DeliveryStatus` into `runs`, and the timers they call for.

A batch costs one round of reads of its runs (by `_id`, a few at a time:
FerretDB pushes no `$in` down) and a few bulk writes of the records that
changed (`RunBatches`), not a read and a write awaited per run. Then each
run's timer is written, runs side by side (bounded).

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
from typing import Generic, Protocol, TypeVar

from herald.services.scheduler import retries
from herald.services.scheduler.ports import Clock, Timers
from herald.shared.contract.messages import DeliveryStatus, RunStatus, utcnow
from herald.shared.history.fold import RunRecord
from herald.shared.runtime.kafka import TRANSIENT_ERRORS
from herald.shared.runtime.logs import bound
from herald.shared.runtime.metrics import RETRIES, RUNS

log = logging.getLogger("herald.scheduler")

#: Timers of one batch written at once.
CONCURRENCY = 32

Origin = TypeVar("Origin")


@dataclass(frozen=True, slots=True)
class Unprojectable(Generic[Origin]):
    """A run whose events can never be projected (they contradict its record): for the DLQ."""

    origins: list[Origin]
    error: Exception


class RunBatches(Protocol):
    """The run records, written a batch at a time (`history.store.MongoRunHistory`)."""

    async def project_runs(
        self, events: Sequence[DeliveryStatus]
    ) -> dict[str, RunRecord | Exception]:
        """Fold a batch of many runs' events into their records; each run's outcome by run id.

        The outcome is the record as stored, or the exception that keeps the
        run's events out of it for good (`ValueError`: they contradict it).
        An outage of the database propagates.
        """


@dataclass(frozen=True, slots=True)
class Projection:
    history: RunBatches
    timers: Timers
    stuck_after: timedelta
    clock: Clock = utcnow

    async def apply(
        self, events: Sequence[tuple[Origin, DeliveryStatus]]
    ) -> list[Unprojectable[Origin]]:
        """Project a batch; an outage of the database propagates (the batch is read again)."""
        origins: dict[str, list[Origin]] = {}
        for origin, event in events:
            origins.setdefault(event.run_id, []).append(origin)
        outcomes = await self.history.project_runs([event for _, event in events])
        poisoned = [
            Unprojectable(origins[run_id], outcome)
            for run_id, outcome in outcomes.items()
            if isinstance(outcome, Exception)
        ]
        records = [outcome for outcome in outcomes.values() if isinstance(outcome, RunRecord)]
        for _, event in events:
            if isinstance(outcomes[event.run_id], RunRecord):
                RUNS.labels(event.status.value).inc()
                if event.status is RunStatus.PENDING_RETRY:
                    RETRIES.labels(event.stage).inc()
        gate = asyncio.Semaphore(CONCURRENCY)
        timed = await asyncio.gather(
            *(self._time(record, gate) for record in records), return_exceptions=True
        )
        for record, outcome in zip(records, timed, strict=True):
            if isinstance(outcome, TRANSIENT_ERRORS):
                raise outcome
            if isinstance(outcome, Exception):
                poisoned.append(Unprojectable(origins[record.run_id], outcome))
            elif isinstance(outcome, BaseException):
                raise outcome
        return poisoned

    async def _time(self, record: RunRecord, gate: asyncio.Semaphore) -> None:
        """The run's timer, armed again even when nothing changed: a crash may
        have come between the record's write and its timer's."""
        ids = {"tenant_id": record.tenant_id, "schedule_id": record.schedule_id}
        async with gate:
            with bound(ids | {"run_id": record.run_id}):
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
