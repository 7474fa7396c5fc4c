"""The renderer's share of bounded storage: shared-render records and artifacts.

A share record is of no use past the share TTL; it goes after
`RETENTION__SHARES_S` (twice the TTL by default). An artifact is used only
by the run it was rendered for, while that run is retried (until its
deadline: at most the longest retry setting after it was due, plus a stuck
attempt), and by runs sharing it within the share TTL of its upload, each
under the same bound; the last email that can link to it goes out by then.
So it is kept for the share TTL plus that longest run plus
`RETENTION__ARTIFACTS_DAYS` after its upload: no run in flight or waiting
for a retry can still need it, and its links lived that many days. The
renderer cannot read the scheduler's history (each service owns its
collections), so the bound, not a lookup, is what proves an artifact free.
"""

from __future__ import annotations

from datetime import timedelta

from pymongo.asynchronous.database import AsyncDatabase

from herald.services.renderer.shares import RECORDED_AT, RECORDED_DAY, SHARES
from herald.shared.runtime.artifacts import ArtifactStore
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.retention import Cleanup, Clock, DayBuckets, utcnow
from herald.shared.runtime.settings import Settings


def artifact_keep(settings: Settings) -> timedelta:
    """How long after its upload an artifact is kept."""
    return timedelta(
        seconds=settings.renderer.share_ttl_s + settings.longest_run_s,
        days=settings.retention.artifacts_days,
    )


def share_keep(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.retention.shares_s or 2 * settings.renderer.share_ttl_s)


def renderer_cleanup(
    db: AsyncDatabase[Document], settings: Settings, clock: Clock = utcnow
) -> Cleanup:
    kept = settings.retention
    return Cleanup(
        "renderer",
        [
            DayBuckets(
                db[SHARES],
                RECORDED_AT,
                RECORDED_DAY,
                share_keep(settings),
                lookback_days=kept.lookback_days,
            ),
            ArtifactStore(db).expiry(artifact_keep(settings), kept.lookback_days),
        ],
        every_s=kept.every_s,
        batch=kept.batch,
        clock=clock,
    )
