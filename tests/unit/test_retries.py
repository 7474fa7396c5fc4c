from __future__ import annotations

from datetime import UTC, datetime, timedelta

from herald.services.scheduler.firing import Pending, plan, run_details
from herald.services.scheduler.retries import GiveUp, Later, Refire, TimerKind, on_timer, wakeup
from herald.shared.contract.messages import DeliveryStatus, RunStatus
from herald.shared.history.fold import fold
from herald.shared.runtime.settings import RetrySettings
from tests.samples import DAILY_SPEC

T0 = datetime(2026, 11, 27, 8, tzinfo=UTC)
SPEC = DAILY_SPEC
DETAILS = run_details("s1@x", SPEC, "UTC", T0)
STUCK = timedelta(minutes=15)
POLICY = RetrySettings(max_attempts=3)


def _event(status: RunStatus, attempt: int, at: datetime, **fields: object) -> DeliveryStatus:
    return DeliveryStatus.model_validate(
        {
            "tenant_id": "acme",
            "schedule_id": "s1",
            "run_id": "s1@x",
            "attempt": attempt,
            "status": status,
            "stage": "scheduler",
            "occurred_at": at,
            **fields,
        }
    )


def test_a_due_run_waits_on_its_deadline_then_fires_as_the_next_attempt() -> None:
    record = fold([_event(RunStatus.DUE, 1, T0, run=DETAILS)])
    timer = wakeup(record, STUCK)
    assert timer is not None
    assert (timer.kind, timer.due, timer.attempt) == (TimerKind.DEADLINE, T0 + STUCK, 1)
    assert on_timer(record, timer, T0 + timedelta(minutes=5), STUCK, POLICY) == Later(T0 + STUCK)
    action = on_timer(record, timer, T0 + STUCK, STUCK, POLICY)
    assert isinstance(action, Refire)
    assert action.run.attempt == 2
    assert action.run.recipients == DETAILS.recipients
    assert "stuck in due" in action.reason


def test_a_pending_retry_fires_at_its_time() -> None:
    at = T0 + timedelta(minutes=1)
    record = fold(
        [
            _event(RunStatus.DUE, 1, T0, run=DETAILS),
            _event(RunStatus.PENDING_RETRY, 1, T0 + timedelta(seconds=5), next_attempt_at=at),
        ]
    )
    timer = wakeup(record, STUCK)
    assert timer is not None
    assert (timer.kind, timer.due) == (TimerKind.RETRY, at)
    assert isinstance(on_timer(record, timer, at, STUCK, POLICY), Refire)


def test_stale_timers_do_nothing_and_spent_attempts_give_up() -> None:
    delivered = fold(
        [_event(RunStatus.DUE, 1, T0, run=DETAILS), _event(RunStatus.DELIVERED, 1, T0)]
    )
    assert wakeup(delivered, STUCK) is None
    due_record = fold([_event(RunStatus.DUE, 1, T0, run=DETAILS)])
    timer = wakeup(due_record, STUCK)
    assert timer is not None
    assert on_timer(delivered, timer, T0 + STUCK, STUCK, POLICY) is None
    third = fold([_event(RunStatus.DUE, 3, T0, run=DETAILS.model_copy(update={"attempt": 3}))])
    last = wakeup(third, STUCK)
    assert last is not None
    assert isinstance(on_timer(third, last, T0 + STUCK, STUCK, POLICY), GiveUp)


def test_a_run_stuck_past_its_retry_deadline_gives_up_with_attempts_left() -> None:
    hourly = DETAILS.model_copy(update={"retry_until": T0 + timedelta(minutes=30)})
    record = fold([_event(RunStatus.DUE, 1, T0, run=hourly)])
    timer = wakeup(record, STUCK)
    assert timer is not None
    action = on_timer(record, timer, T0 + STUCK, STUCK, RetrySettings(max_attempts=100))
    assert isinstance(action, Refire), "15 minutes in, the deadline is still ahead"
    late = on_timer(record, timer, T0 + timedelta(minutes=31), STUCK, RetrySettings())
    assert isinstance(late, GiveUp)
    assert "retried until 2026-11-27T08:30:00+00:00" in late.reason


def test_a_fired_run_is_retried_until_its_schedules_next_firing() -> None:
    pending = Pending("s1", "acme", 1, SPEC, T0)
    fired = plan(pending, T0 + timedelta(seconds=1), "UTC").fire
    assert fired is not None
    assert fired.retry_until == T0 + timedelta(days=1)
