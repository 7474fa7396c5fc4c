"""What a rung timer does: fire a due retry or a stuck run again, give up, or wait longer.

`retries.on_timer` decides; this reads the run's record, publishes the
decision and files the timer away. The ticker decides which timers ring.

A run is fired again only if the next stage has read its message: one still
queued behind a backlog (`ports.StageQueues`) is late, not lost, and a second
message would only lengthen the queue it waits in. Its timer is armed again a
minute later (or the stuck limit, if shorter). Its deadline still holds: past
it, the run is given up as before, which bounds how long the mailer's ledger
must remember it (docs/operations.md, "Retention").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from herald.services.scheduler import firing, retries
from herald.services.scheduler.ports import Herd, RunHistory, StageQueues, Timers
from herald.shared.contract.messages import DeliveryStatus, Envelope, RunStatus, utcnow
from herald.shared.history.fold import RunRecord
from herald.shared.runs.events import status_id
from herald.shared.runtime.metrics import STUCK_RUNS, STUCK_RUNS_QUEUED
from herald.shared.runtime.settings import RetrySettings

log = logging.getLogger("herald.scheduler.ticker")

#: A stuck run's timer, found still queued, rings again this much later at most.
QUEUED_RECHECK = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Ringing:
    history: RunHistory
    timers: Timers
    publisher: Herd
    queues: StageQueues
    stuck_after: timedelta
    policy: RetrySettings

    async def ring(self, timer: retries.Timer, now: datetime) -> None:
        """Disarmed only once its messages are out: a crash in between rings it again."""
        record = await self.history.get_run(timer.tenant_id, timer.run_id)
        action = retries.on_timer(record, timer, now, self.stuck_after, self.policy)
        if isinstance(action, retries.Later):
            await self.timers.arm(replace(timer, due=action.due), now)
            return
        if await self._still_queued(record, timer, action):
            recheck = min(QUEUED_RECHECK, self.stuck_after)
            await self.timers.arm(replace(timer, due=now + recheck), now)
            return
        messages: list[Envelope] = []
        if isinstance(action, retries.Refire):
            log.info("run %s: attempt %d (%s)", timer.run_id, action.run.attempt, action.reason)
            if timer.kind is retries.TimerKind.DEADLINE:
                STUCK_RUNS.inc()
            messages = list(firing.due_messages(timer.tenant_id, timer.schedule_id, action.run))
        elif isinstance(action, retries.GiveUp):
            log.warning("run %s failed: %s", timer.run_id, action.reason)
            at = utcnow()
            failed = RunStatus.FAILED
            messages = [
                DeliveryStatus(
                    event_id=status_id(timer.run_id, timer.attempt, "scheduler", failed, at),
                    occurred_at=at,
                    tenant_id=timer.tenant_id,
                    schedule_id=timer.schedule_id,
                    run_id=timer.run_id,
                    attempt=timer.attempt,
                    status=RunStatus.FAILED,
                    stage="scheduler",
                    reason=action.reason,
                )
            ]
        await self.publisher.publish(messages)
        await self.timers.disarm(timer.run_id, timer.attempt)

    async def _still_queued(
        self, record: RunRecord | None, timer: retries.Timer, action: retries.Action
    ) -> bool:
        """A stuck run to fire again (not a retry) whose message the next stage has yet to read."""
        if not isinstance(action, retries.Refire) or timer.kind is not retries.TimerKind.DEADLINE:
            return False
        if record is None or not await self.queues.holds(record.status, record.schedule_id):
            return False
        STUCK_RUNS_QUEUED.labels(record.status.value).inc()
        log.info(
            "run %s: %s past the stuck limit, but its message still waits for the next stage; "
            "not fired again",
            timer.run_id,
            record.status.value,
        )
        return True
