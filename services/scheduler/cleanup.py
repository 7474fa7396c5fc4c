"""The scheduler's share of bounded storage: finished runs, answered commands, stale timers,
logos no tenant names.

`runs` and `commands` expire by a TTL index where the server has one, else
by the day they became removable (`shared/runtime/retention.py`). Timers
are removed by the ticker when they ring; one left behind the cursor (a
disarm lost to a crash or an outage) is never read again, so the clean-up
removes it once its run is final, gone or past that attempt. A timer of a
run still waiting at that attempt is never removed. A logo goes once no
tenant's settings have named it for `RETENTION__LOGOS_DAYS`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from gridfs.errors import CorruptGridFile, NoFile
from pymongo.asynchronous.database import AsyncDatabase

from herald.services.scheduler.store import COMMANDS, RECORDED_AT, RECORDED_DAY
from herald.services.scheduler.tenant_store import LOGO_ID, TENANTS
from herald.services.scheduler.timers import CURSOR, TIMERS, bucket_key
from herald.shared.history import store as history_store
from herald.shared.history.fold import FINAL_STATUSES
from herald.shared.runtime.artifacts import BRAND_BUCKET, ArtifactStore, one_chunk
from herald.shared.runtime.metrics import RETENTION_REMOVED
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.retention import Cleanup, Clock, DayBuckets, delete_by_id, utcnow
from herald.shared.runtime.settings import Settings

log = logging.getLogger("herald.retention")

_FINAL = frozenset(status.value for status in FINAL_STATUSES)
#: Where a logo's files document keeps when a pass first found no tenant naming it.
UNUSED_SINCE = "unused_since"


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


@dataclass(frozen=True, slots=True)
class LogoPlan:
    """What one pass does to the stored logos, by id."""

    #: Found unnamed: unused from now on.
    mark: list[str]
    #: Named again since they were marked: kept.
    unmark: list[str]
    #: Unnamed for `keep` at least: removed.
    remove: list[str]


def plan_logos(
    unused_since: Mapping[str, datetime | None], named: Set[str], now: datetime, keep: timedelta
) -> LogoPlan:
    """Each stored logo (with when it was first found unnamed, None: not so far) against
    the logos tenants' settings name now."""
    return LogoPlan(
        mark=[i for i, since in unused_since.items() if since is None and i not in named],
        unmark=[i for i, since in unused_since.items() if since is not None and i in named],
        remove=[
            i
            for i, since in unused_since.items()
            if since is not None and i not in named and since <= now - keep
        ],
    )


@dataclass
class UnusedLogos:
    """Logos no tenant's settings name (replaced or removed ones, or one stored for a command
    refused when it was read again after a crash), removed `keep` after a pass first found
    them unnamed; one named again meanwhile is kept.

    The wait is for readers: renderers and mailers follow `tenant.settings` and may still
    read a logo a change has just replaced. With no transactions, a command may name a logo
    between a pass's look and its removal, so the logo is read before it goes and stored
    again at once if a tenant names it by then (the command, for its part, stores it again
    once its settings are saved: one of the two sees the other's write).
    """

    db: AsyncDatabase[Document]
    keep: timedelta
    name: str = BRAND_BUCKET

    async def prepare(self) -> None:
        """Each pass reads every logo and every tenant (a document each): no index needed."""

    async def sweep(self, now: datetime, budget: int) -> tuple[int, bool]:
        files = self.db[f"{BRAND_BUCKET}.files"]
        stored = {doc["_id"]: doc async for doc in files.find({}, {"filename": 1, "metadata": 1})}
        if not stored:
            return 0, False
        named = {
            logo["asset_id"]
            async for doc in self.db[TENANTS].find({}, {LOGO_ID: 1})
            if (logo := (doc.get("branding") or {}).get("logo"))
        }
        plan = plan_logos(
            {i: (doc.get("metadata") or {}).get(UNUSED_SINCE) for i, doc in stored.items()},
            named,
            now,
            self.keep,
        )
        for asset_id in plan.mark:
            await files.update_one({"_id": asset_id}, {"$set": {f"metadata.{UNUSED_SINCE}": now}})
        for asset_id in plan.unmark:
            await files.update_one({"_id": asset_id}, {"$unset": {f"metadata.{UNUSED_SINCE}": ""}})
        removed = 0
        for asset_id in plan.remove[:budget]:
            removed += await self._remove(stored[asset_id])
        if removed:
            RETENTION_REMOVED.labels(self.name).inc(removed)
        return removed, len(plan.remove) > budget

    async def _remove(self, doc: Document) -> bool:
        logos = ArtifactStore(self.db, BRAND_BUCKET)
        data: bytes | None
        try:
            data = await logos.read(doc["_id"])
        except NoFile:
            return False  # another replica's pass took it
        except CorruptGridFile:
            data = None  # its chunks already gone: another pass is removing it
        await logos.remove_upload(doc)
        if await self.db[TENANTS].find_one({LOGO_ID: doc["_id"]}, {"_id": 1}) is None:
            return True
        if data is not None:
            content_type = (doc.get("metadata") or {}).get("content_type", "image/png")
            await logos.put(doc["_id"], doc["filename"], content_type, one_chunk(data), {})
        log.warning("logo %s was named by a tenant while it was removed: stored again", doc["_id"])
        return False


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
            UnusedLogos(db, timedelta(days=kept.logos_days)),
        ],
        every_s=kept.every_s,
        batch=kept.batch,
        clock=clock,
    )
