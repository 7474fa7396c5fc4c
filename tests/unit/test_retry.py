from __future__ import annotations

from datetime import timedelta

from shared.retry import backoff, can_retry
from shared.settings import RetrySettings

POLICY = RetrySettings(base_s=60, cap_s=3600, max_attempts=6, jitter=0.2)


def test_backoff_doubles_within_jitter_and_is_capped() -> None:
    for attempt in range(1, 10):
        nominal = min(3600, 60 * 2 ** (attempt - 1))
        delay = backoff("run", attempt, POLICY)
        assert timedelta(seconds=nominal * 0.8) <= delay <= timedelta(seconds=nominal)


def test_backoff_is_the_same_for_the_same_run_and_attempt() -> None:
    assert backoff("run-a", 2, POLICY) == backoff("run-a", 2, POLICY)
    assert backoff("run-a", 2, POLICY) != backoff("run-b", 2, POLICY)


def test_attempts_run_out() -> None:
    assert can_retry(5, POLICY)
    assert not can_retry(6, POLICY)
