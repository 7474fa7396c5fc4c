"""When a transiently failed run is tried again, and when it is given up.

The policy: a transient failure (a 4xx from SMTP, the server down, a source
that timed out) is retried with exponential backoff until the run's retry
deadline, `RunDetails.retry_until`: the schedule's next firing, at most
`give_up_after_s` after this one was due (a day by default). So a report is
never given up while the outage is shorter than its schedule's period, nor
sent after the next one; `max_attempts` only stops a run that keeps failing
fast. The last attempt falls on the deadline when the backoff would overshoot.

The jitter is drawn from a hash of the run and attempt rather than a random
source, so a stage that reports the same failure twice names the same
`next_attempt_at`, and the history rebuilt from the event log matches the live one.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from herald.shared.contract.messages import RunDetails
from herald.shared.runtime.settings import RetrySettings


def backoff(run_id: str, attempt: int, policy: RetrySettings) -> timedelta:
    """The delay after failed attempt number `attempt` (1-based)."""
    delay = min(policy.cap_s, policy.base_s * 2 ** min(attempt - 1, 64))
    digest = hashlib.sha256(f"{run_id}#{attempt}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return timedelta(seconds=delay * (1 - policy.jitter * fraction))


def deadline(run: RunDetails, policy: RetrySettings, *, settings_problem: bool = False) -> datetime:
    """Until when the run's transient failures are retried.

    A failure of the tenant's email settings waits `settings_problem_s` for a fix,
    the next firing notwithstanding: the report is not lost to a wrong password.
    """
    if settings_problem:
        return run.scheduled_for + timedelta(seconds=policy.settings_problem_s)
    latest = run.scheduled_for + timedelta(seconds=policy.give_up_after_s)
    return min(run.retry_until, latest) if run.retry_until is not None else latest


def next_attempt_at(
    run: RunDetails, failed_at: datetime, policy: RetrySettings, *, settings_problem: bool = False
) -> datetime | None:
    """When attempt `run.attempt + 1` goes out after `run.attempt` failed; None: give up."""
    if run.attempt >= policy.max_attempts:
        return None
    until = deadline(run, policy, settings_problem=settings_problem)
    if failed_at >= until:
        return None
    return min(failed_at + backoff(run.run_id, run.attempt, policy), until)


def give_up_reason(
    run: RunDetails, policy: RetrySettings, *, settings_problem: bool = False
) -> str:
    if run.attempt >= policy.max_attempts:
        return f"gave up after {run.attempt} attempts"
    until = deadline(run, policy, settings_problem=settings_problem)
    return (
        f"gave up after {run.attempt} attempts: transient failures are retried until "
        f"{until.isoformat()}"
    )
