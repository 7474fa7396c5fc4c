"""The scheduler's share of bounded storage: finished runs, answered commands, stale timers,
logos no tenant names.

`runs` and `commands` expire by a TTL index where the server has one, else
by the day they became removable (`shared/runtime/retention.py`). Timers
are removed by the ticker when they ring; one left behind the cursor (a
disarm lost to a crash or an outage) is never read again, so the clean-up
removes it once its run is final, gone or past that attempt. A timer of a
run still waiting at that attempt is never removed. A logo goes once no
tenant's settings have named it for `RETENTION__LOGOS_DAYS` and then for a
pass interval more in the bin (`logo_bin`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase

from herald.services.scheduler.logo_bin import sweep_logos
from herald.services.scheduler.store import COMMANDS, RECORDED_AT, RECORDED_DAY
from herald.services.scheduler.tenant_store import MongoLogos
from herald.services.scheduler.timers import CURSOR, TIMERS, bucket_key
from herald.shared.history import store as history_store
from herald.shared.history.fold import FINAL_STATUSES
from herald.shared.runtime.artifacts import BRAND_BUCKET
from herald.shared.runtime.metrics import LOGOS_MISSING, RETENTION_REMOVED
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.retention import Cleanup, Clock, DayBuckets, delete_by_id, utcnow
from herald.shared.runtime.settings import Settings

log = logging.getLogger("herald.retention")

_FINAL = frozenset(status.value for status in FINAL_STATUSES)


def _final(doc: Document) -> bool:
    return doc.get("status") in _FINAL


@dataclass
class StaleTimers:
    """Timers the ticker has passed by `keep` whose run no longer waits on them."""

    db: AsyncDatabase[Document]
    keep: timedelta
    name: str = TIMERS

    async def prepare(self) -> None:
        """`timers` is indexed by `bucket` already (`TimerStore.ensure_indexes`)."""

    async def sweep(self, now: datetime, budget: int) -> tuple[int, bool]:
        """A scan of `timers` (in-flight runs only, so small), a lookup of each run passed by."""
        cursor = await self.db[CURSOR].find_one({"_id": "cursor"})
        if cursor is None:
            return 0, False
        passed = bucket_key(cursor["bucket"] - self.keep)
        found: list[Document] = []
        fields = {"bucket": 1, "run_id": 1, "attempt": 1}
        async for doc in self.db[TIMERS].find({}, fields):
            if doc["bucket"] <= passed:
                found.append(doc)
                if len(found) >= budget:
                    break
        stale = [doc for doc in found if await self._stale(doc)]
        for doc in stale:
            await delete_by_id(self.db[TIMERS], [doc], {"bucket": doc["bucket"]})
        return len(stale), len(found) >= budget and bool(stale)

    async def _stale(self, timer: Document) -> bool:
        run = await self.db[history_store.RUNS].find_one(
            {"_id": timer["run_id"]}, {"status": 1, "attempt": 1}
        )
        return run is None or _final(run) or run["attempt"] > timer["attempt"]


@dataclass
class UnusedLogos:
    """Logos no tenant's settings name (replaced or removed ones, or one stored for a command
    refused when it was read again after a crash): marked by a pass, put in the bin `keep`
    later, purged by a pass `grace` after that; one named again meanwhile is kept, and its
    clock starts again (`logo_bin`, which says why a named logo is never purged).

    The wait is for readers: renderers and mailers follow `tenant.settings` and may still
    read a logo a change has just replaced; a logo in the bin is still whole.
    """

    db: AsyncDatabase[Document]
    keep: timedelta
    grace: timedelta
    name: str = BRAND_BUCKET

    async def prepare(self) -> None:
        """Each pass reads every logo, mark, verdict and tenant (a document each)."""
        await MongoLogos(self.db).ensure_indexes()

    async def sweep(self, now: datetime, budget: int) -> tuple[int, bool]:
        done = await sweep_logos(MongoLogos(self.db), now, self.keep, self.grace, budget)
        for tenant, logo_id in sorted(done.missing.items()):
            log.error("tenant %s names logo %s, which is not stored", tenant, logo_id)
        LOGOS_MISSING.set(len(done.missing))
        if done.removed:
            RETENTION_REMOVED.labels(self.name).inc(done.removed)
        return done.removed, done.more


def scheduler_cleanup(
    db: AsyncDatabase[Document], settings: Settings, clock: Clock = utcnow
) -> Cleanup:
    kept = settings.retention
    return Cleanup(
        "scheduler",
        [
            DayBuckets(
                db[history_store.RUNS],
                history_store.FINISHED_AT,
                history_store.FINISHED_DAY,
                timedelta(days=kept.runs_days),
                lookback_days=kept.lookback_days,
                fields={"status": 1},
                may_go=_final,
            ),
            DayBuckets(
                db[COMMANDS],
                RECORDED_AT,
                RECORDED_DAY,
                timedelta(days=kept.commands_days),
                lookback_days=kept.lookback_days,
            ),
            StaleTimers(db, timedelta(seconds=kept.timers_s)),
            UnusedLogos(db, timedelta(days=kept.logos_days), grace=timedelta(seconds=kept.every_s)),
        ],
        every_s=kept.every_s,
        batch=kept.batch,
        clock=clock,
    )
