"""The mailer's share of bounded storage: the send ledger and its takeover markers.

A receipt is kept `RETENTION__LEDGER_DAYS` after its acceptance, a claim as
long after it was made (or last taken over), longer than any run's retry
deadline (the settings refuse less): no retry can find a recipient missing
and mail them again, and none can come for a claim that old, finished or
not. Takeover markers matter for a claim's lease only; they go after the
same time. The volume slots (`send_volume`, `pacing.py`) count a minute or a
day: they go two days on.
"""

from __future__ import annotations

from datetime import timedelta

from pymongo.asynchronous.database import AsyncDatabase

from herald.services.mailer.pacing import KEEP, VOLUME
from herald.services.mailer.store import (
    ACCEPTED_AT,
    ACCEPTED_DAY,
    CLAIMED_AT,
    CLAIMED_DAY,
    SENDS,
    TAKEN_AT,
    TAKEN_DAY,
    TAKEOVERS,
)
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.retention import Cleanup, Clock, DayBuckets, utcnow
from herald.shared.runtime.settings import Settings


def mailer_cleanup(
    db: AsyncDatabase[Document], settings: Settings, clock: Clock = utcnow
) -> Cleanup:
    kept = settings.retention
    keep = timedelta(days=kept.ledger_days)
    return Cleanup(
        "mailer",
        [
            DayBuckets(
                db[SENDS], ACCEPTED_AT, ACCEPTED_DAY, keep, lookback_days=kept.lookback_days
            ),
            DayBuckets(db[SENDS], CLAIMED_AT, CLAIMED_DAY, keep, lookback_days=kept.lookback_days),
            DayBuckets(db[TAKEOVERS], TAKEN_AT, TAKEN_DAY, keep, lookback_days=kept.lookback_days),
            DayBuckets(db[VOLUME], "at", "day", KEEP, lookback_days=kept.lookback_days),
        ],
        every_s=kept.every_s,
        batch=kept.batch,
        clock=clock,
    )
