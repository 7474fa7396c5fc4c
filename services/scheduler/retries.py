"""When a run needs the scheduler again, and what to do then: pure decisions, no I/O.

A run waits on a timer while it is not final: a `pending_retry` run until its
`next_attempt_at`; a run still `due` or `rendered` until its last event is
`stuck_after` old, the sign that a stage died with it. When the timer rings
and the run has not moved on, it is fired again as the next attempt, or
failed when its attempts are spent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from herald.shared.contract.messages import RunDetails, RunStatus
from herald.shared.history.fold import FINAL_STATUSES, RunRecord
from herald.shared.runs import retry
from herald.shared.runtime.settings import RetrySettings


class TimerKind(enum.StrEnum):
    RETRY = "retry"
    DEADLINE = "deadline"


@dataclass(frozen=True, slots=True)
class Timer:
    run_id: str
    tenant_id: str
    schedule_id: str
    attempt: int
    kind: TimerKind
    due: datetime


@dataclass(frozen=True, slots=True)
class Refire:
    run: RunDetails
    reason: str


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str


@dataclass(frozen=True, slots=True)
class Later:
    due: datetime


Action = Refire | GiveUp | Later | None


def wakeup(record: RunRecord, stuck_after: timedelta) -> Timer | None:
    """The timer a run's record calls for; None once the run is final."""
    if record.status in FINAL_STATUSES:
        return None
    if record.status is RunStatus.PENDING_RETRY and record.next_attempt_at is not None:
        kind, due = TimerKind.RETRY, record.next_attempt_at
    else:
        kind, due = TimerKind.DEADLINE, record.updated_at + stuck_after
    return Timer(record.run_id, record.tenant_id, record.schedule_id, record.attempt, kind, due)


def on_timer(
    record: RunRecord | None,
    timer: Timer,
    now: datetime,
    stuck_after: timedelta,
    policy: RetrySettings,
) -> Action:
    """None: the timer is stale (the run finished or moved on)."""
    if record is None or record.status in FINAL_STATUSES or record.attempt != timer.attempt:
        return None
    current = wakeup(record, stuck_after)
    assert current is not None
    if current.due > now:
        return Later(current.due)
    if record.details is None:
        return GiveUp("the run's details are unknown, it cannot be fired again")
    details = record.details.model_copy(update={"attempt": record.attempt})
    if record.status is RunStatus.PENDING_RETRY:
        reason = f"retry after: {record.reason or 'a transient failure'}"
    else:
        reason = f"stuck in {record.status.value} since {record.updated_at.isoformat()}"
        if retry.next_attempt_at(details, now, policy) is None:
            return GiveUp(f"{reason}; {retry.give_up_reason(details, policy)}")
    return Refire(details.model_copy(update={"attempt": record.attempt + 1}), reason)
