"""Timer documents for runs that wait on the scheduler (`timers`, `_id` = `<run_id>#<attempt>`).

One document per waiting run, written by the history projection of that run
(one writer: a run's events share a partition) and removed by the ticker. The
ticker finds a bucket's timers by equality on `bucket`, which FerretDB's
PostgreSQL backend pushes down; the collection holds only runs in flight, so
the cost follows the work, not the history's size.

A timer must never land in a bucket the ticker has already read. The cursor
document therefore holds two marks: `claimed`, written *before* a bucket is
read, and `bucket`, written after all its timers rang. An arm that could race
with the ring (its bucket is less than `_CLOCK_MARGIN` away when the write
returns) reads `claimed` after its write and moves the timer past it: either
the ticker claimed the bucket after that read, and so reads the timer, or the
arm sees the claim and moves on. A ring may so happen twice, never not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pymongo import DeleteOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from herald.services.scheduler.retries import Timer, TimerKind
from herald.shared.runtime.mongo import Document, bulk_in_commands, insert_new

TIMERS = "timers"
CURSOR = "timer_cursor"
#: Timers ring in buckets of this width: one query per bucket finds them all.
BUCKET = timedelta(seconds=10)
#: Clocks of replicas may differ by this much: an arm this close to its bucket checks the claim.
_CLOCK_MARGIN = timedelta(seconds=2)


def bucket_of(instant: datetime) -> datetime:
    epoch = instant.timestamp()
    return datetime.fromtimestamp(epoch - epoch % BUCKET.total_seconds(), UTC)


def bucket_key(bucket: datetime) -> str:
    return bucket.strftime("%Y-%m-%dT%H:%M:%SZ")


def ring_bucket(due: datetime, now: datetime) -> datetime:
    """The first bucket starting at or after `due` that the ticker has not reached yet."""
    start = bucket_of(due)
    if start < due:
        start += BUCKET
    return max(start, bucket_of(now) + BUCKET)


def _timer(doc: Document) -> Timer:
    return Timer(
        doc["run_id"],
        doc["tenant_id"],
        doc["schedule_id"],
        doc["attempt"],
        TimerKind(doc["kind"]),
        doc["due"],
    )


def _doc(timer: Timer, bucket: datetime) -> Document:
    return {
        "bucket": bucket_key(bucket),
        "run_id": timer.run_id,
        "tenant_id": timer.tenant_id,
        "schedule_id": timer.schedule_id,
        "attempt": timer.attempt,
        "kind": timer.kind.value,
        "due": timer.due,
    }


def _timer_id(run_id: str, attempt: int) -> str:
    return f"{run_id}#{attempt}"


class TimerStore:
    """The `TimerBuckets` port on MongoDB and FerretDB."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._timers = db[TIMERS]
        self._cursor = db[CURSOR]

    async def ensure_indexes(self) -> None:
        await self._timers.create_index("bucket")

    async def arm(self, timer: Timer, now: datetime) -> None:
        await self.arm_all([timer], now)

    async def arm_all(self, timers: Sequence[Timer], now: datetime, *, first: bool = False) -> None:
        """File each timer in a bucket the ticker has not claimed yet (see the module's note).

        One read of the claim for the whole batch, and only when a bucket is near.
        `first`: as far as the caller knows, these attempts have no timer yet, so
        they are inserted, all in one command; a timer already there is kept (it
        rings, sees the run as it is, and files itself again if need be).
        """
        filing = [(timer, ring_bucket(timer.due, now)) for timer in timers]
        if not filing:
            return
        if first:
            await self._insert(filing)
        else:
            await self._replace(filing)
        while True:
            # No ticker claims a bucket before it starts.
            near = datetime.now(UTC) + _CLOCK_MARGIN
            filing = [(t, b) for t, b in filing if b <= near]
            claimed = await self.claimed() if filing else None
            if claimed is None:
                return
            filing = [(t, claimed + BUCKET) for t, b in filing if b <= claimed]
            if not filing:
                return
            await self._replace(filing)

    async def _insert(self, filing: Sequence[tuple[Timer, datetime]]) -> None:
        docs = [{"_id": _timer_id(t.run_id, t.attempt)} | _doc(t, b) for t, b in filing]
        await insert_new(self._timers, docs)

    async def _replace(self, filing: Sequence[tuple[Timer, datetime]]) -> None:
        await bulk_in_commands(
            self._timers,
            [
                ReplaceOne({"_id": _timer_id(t.run_id, t.attempt)}, _doc(t, b), upsert=True)
                for t, b in filing
            ],
        )

    async def disarm(self, run_id: str, attempt: int) -> None:
        await self.disarm_all([(run_id, attempt)])

    async def disarm_all(self, attempts: Sequence[tuple[str, int]]) -> None:
        await bulk_in_commands(
            self._timers, [DeleteOne({"_id": _timer_id(*attempt)}) for attempt in attempts]
        )

    async def ringing(self, bucket: datetime) -> list[Timer]:
        return [_timer(doc) async for doc in self._timers.find({"bucket": bucket_key(bucket)})]

    async def ringing_until(self, bucket: datetime) -> list[Timer]:
        """Every timer of this bucket or earlier: a scan of the timers in flight."""
        last = bucket_key(bucket)
        return [_timer(doc) async for doc in self._timers.find({}) if doc["bucket"] <= last]

    async def cursor(self) -> datetime | None:
        """The last bucket whose timers all rang."""
        doc = await self._cursor.find_one({"_id": "cursor"})
        return doc["bucket"] if doc else None

    async def claimed(self) -> datetime | None:
        """The last bucket the ticker started to read (at or after the cursor)."""
        doc = await self._cursor.find_one({"_id": "cursor"})
        return doc.get("claimed", doc["bucket"]) if doc else None

    async def claim(self, bucket: datetime, done: datetime) -> None:
        """Before reading `bucket`: arms from now on go past it. Only the lease holder writes."""
        await self._cursor.replace_one(
            {"_id": "cursor"}, {"bucket": done, "claimed": bucket}, upsert=True
        )

    async def set_cursor(self, bucket: datetime) -> None:
        """After every timer of `bucket` rang."""
        await self._cursor.replace_one(
            {"_id": "cursor"}, {"bucket": bucket, "claimed": bucket}, upsert=True
        )
