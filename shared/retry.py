"""When a transiently failed run is tried again.

Exponential backoff with jitter. The jitter is drawn from a hash of the run
and attempt rather than a random source, so a stage that reports the same
failure twice names the same `next_attempt_at`, and the history rebuilt from
the event log matches the live one.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from shared.settings import RetrySettings


def can_retry(attempt: int, policy: RetrySettings) -> bool:
    return attempt < policy.max_attempts


def backoff(run_id: str, attempt: int, policy: RetrySettings) -> timedelta:
    """The delay after failed attempt number `attempt` (1-based)."""
    delay = min(policy.cap_s, policy.base_s * 2 ** (attempt - 1))
    digest = hashlib.sha256(f"{run_id}#{attempt}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return timedelta(seconds=delay * (1 - policy.jitter * fraction))


def next_attempt_at(
    run_id: str, attempt: int, failed_at: datetime, policy: RetrySettings
) -> datetime:
    return failed_at + backoff(run_id, attempt, policy)
