"""What a rung timer does: fire a due retry or a stuck run again, give up, or wait longer.

`retries.on_timer` decides; this reads the run's record, publishes the
decision and files the timer away. The ticker decides which timers ring.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from herald.services.scheduler import firing, retries
from herald.services.scheduler.ports import Herd, RunHistory, Timers
from herald.shared.contract.messages import DeliveryStatus, Envelope, RunStatus, utcnow
from herald.shared.runs.events import status_id
from herald.shared.runtime.metrics import STUCK_RUNS
from herald.shared.runtime.settings import RetrySettings

log = logging.getLogger("herald.scheduler.ticker")


@dataclass(frozen=True, slots=True)
class Ringing:
    history: RunHistory
    timers: Timers
    publisher: Herd
    stuck_after: timedelta
    policy: RetrySettings

    async def ring(self, timer: retries.Timer, now: datetime) -> None:
        """Disarmed only once its messages are out: a crash in between rings it again."""
        record = await self.history.get_run(timer.tenant_id, timer.run_id)
        action = retries.on_timer(record, timer, now, self.stuck_after, self.policy)
        if isinstance(action, retries.Later):
            await self.timers.arm(replace(timer, due=action.due), now)
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
