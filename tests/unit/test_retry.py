from __future__ import annotations

from datetime import UTC, datetime, timedelta

from herald.services.scheduler.firing import run_details
from herald.shared.contract.messages import RunDetails
from herald.shared.runs.retry import backoff, deadline, give_up_reason, next_attempt_at
from herald.shared.runtime.settings import RetrySettings
from tests.samples import DAILY_SPEC

POLICY = RetrySettings(base_s=60, cap_s=3600, max_attempts=100, jitter=0.2)
T0 = datetime(2026, 11, 27, 8, tzinfo=UTC)
SPEC = DAILY_SPEC


def _run(attempt: int = 1, next_firing: datetime | None = None) -> RunDetails:
    return run_details("s1@x", SPEC, "UTC", T0, next_firing=next_firing).model_copy(
        update={"attempt": attempt}
    )


def test_backoff_doubles_within_jitter_and_is_capped() -> None:
    for attempt in range(1, 10):
        nominal = min(3600, 60 * 2 ** (attempt - 1))
        delay = backoff("run", attempt, POLICY)
        assert timedelta(seconds=nominal * 0.8) <= delay <= timedelta(seconds=nominal)


def test_backoff_is_the_same_for_the_same_run_and_attempt() -> None:
    assert backoff("run-a", 2, POLICY) == backoff("run-a", 2, POLICY)
    assert backoff("run-a", 2, POLICY) != backoff("run-b", 2, POLICY)


def test_backoff_of_a_huge_attempt_number_is_the_cap() -> None:
    assert timedelta(seconds=2880) <= backoff("run", 10_000, POLICY) <= timedelta(seconds=3600)


def test_a_daily_run_is_retried_through_a_long_outage_until_its_next_firing() -> None:
    """Six attempts used to end a run after about half an hour of SMTP trouble."""
    run = _run(next_firing=T0 + timedelta(days=1))
    failed_at = T0
    attempts = 0
    while (when := next_attempt_at(run, failed_at, POLICY)) is not None:
        attempts += 1
        assert when > failed_at
        run, failed_at = run.model_copy(update={"attempt": run.attempt + 1}), when
    assert failed_at == T0 + timedelta(days=1), "the last attempt falls on the deadline"
    assert attempts > 6
    assert "retried until 2026-11-28T08:00:00+00:00" in give_up_reason(run, POLICY)


def test_the_next_firing_ends_retries_sooner_than_the_cap() -> None:
    hourly = _run(next_firing=T0 + timedelta(hours=1))
    assert deadline(hourly, POLICY) == T0 + timedelta(hours=1)
    assert next_attempt_at(hourly, T0 + timedelta(minutes=59, seconds=30), POLICY) == T0 + (
        timedelta(hours=1)
    )
    assert next_attempt_at(hourly, T0 + timedelta(hours=1), POLICY) is None


def test_without_a_next_firing_the_cap_alone_ends_retries() -> None:
    once = _run()
    assert deadline(once, POLICY) == T0 + timedelta(seconds=POLICY.give_up_after_s)
    weekly = _run(next_firing=T0 + timedelta(days=7))
    assert deadline(weekly, POLICY) == T0 + timedelta(days=1)


def test_max_attempts_stops_a_run_that_keeps_failing_fast() -> None:
    policy = POLICY.model_copy(update={"max_attempts": 3})
    assert next_attempt_at(_run(2, T0 + timedelta(days=1)), T0, policy) is not None
    assert next_attempt_at(_run(3, T0 + timedelta(days=1)), T0, policy) is None
    assert give_up_reason(_run(3), policy) == "gave up after 3 attempts"
