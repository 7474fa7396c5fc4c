"""Bounded storage: TTL indexes where the server has them, a periodic clean-up where it does not.

Every collection that grows with the work keeps, on each document that may
expire, the instant its retention starts (a run's `finished_at`, a send's
`accepted_at`, ...) and that instant's UTC day as a string (`finished_day`,
...), both written when the document becomes removable (a send claim: when
it is made, as no retry comes later than the retention); a document still
in use (a run in flight) carries neither, so nothing can remove it, and a
document written before a release added them is kept (only what can be
proven old goes).

- MongoDB: a TTL index on the instant (`ensure_ttl`); the server removes
  what is older than the retention. A changed retention is applied to the
  index (`collMod`).
- FerretDB 1.x refuses TTL indexes (code 238, "not implemented"), so each
  service removes its own expired documents (`Cleanup`): day by day, by
  equality on the day field (the one filter FerretDB pushes down, served by
  its index and `ferretdb-gin.sql`), at most `batch` documents per
  collection and pass, each deleted by `_id` and day. A range filter on the
  instant would read the whole collection on FerretDB at every pass.

A day is swept once all of it is older than the retention, so a document
goes between `keep` and `keep` plus a day after its instant. Each replica
remembers the first day it has not emptied yet; its first pass looks
`lookback_days` further back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from pymongo import DeleteOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure, PyMongoError

from herald.shared.runtime.metrics import RETENTION_REMOVED
from herald.shared.runtime.mongo import Document

#: The server's code for a command or option it lacks (FerretDB 1.24 and `expireAfterSeconds`).
NOT_IMPLEMENTED = 238
#: An index with these keys exists with other options (a TTL index of another retention).
INDEX_OPTIONS_CONFLICT = 85
#: Deletes in one command at most (by `_id`: each is an indexed lookup on FerretDB).
DELETES_PER_COMMAND = 100
#: Days before a replica's first not-emptied day that each pass checks again (late writers).
RECHECK_DAYS = 2
#: Between passes while a collection has more expired documents than one pass removes.
CATCH_UP_PAUSE_S = 1.0

log = logging.getLogger("herald.retention")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def day_key(instant: datetime) -> str:
    """The UTC day of an instant, `YYYY-MM-DD`: the value a sweep deletes by."""
    return instant.astimezone(UTC).date().isoformat()


def expiry_fields(at_field: str, day_field: str, instant: datetime) -> Document:
    """The two fields a document expires by: the instant and its day."""
    return {at_field: instant, day_field: day_key(instant)}


async def ensure_ttl(collection: AsyncCollection[Document], at_field: str, keep: timedelta) -> bool:
    """A TTL index on `at_field` where the server has them (True); False where it lacks them.

    An existing TTL index of another retention is changed to this one.
    Any other error propagates.
    """
    seconds = max(1, int(keep.total_seconds()))
    try:
        await collection.create_index(at_field, expireAfterSeconds=seconds)
    except OperationFailure as exc:
        if exc.code == NOT_IMPLEMENTED:
            log.info(
                "%s: no TTL index on this server, expired documents are swept", collection.name
            )
            return False
        if exc.code != INDEX_OPTIONS_CONFLICT:
            raise
        await collection.database.command(
            "collMod",
            collection.name,
            index={"keyPattern": {at_field: 1}, "expireAfterSeconds": seconds},
        )
    return True


class Sweep(Protocol):
    """One collection's share of a service's clean-up."""

    name: str

    async def prepare(self) -> None:
        """Indexes; for a TTL-capable collection, whether the server removes its documents."""

    async def sweep(self, now: datetime, budget: int) -> tuple[int, bool]:
        """Remove at most `budget` expired documents: (how many went, whether more are due)."""


Remove = Callable[[str, list[Document]], Awaitable[None]]


@dataclass
class DayBuckets:
    """Documents filed by the day their retention started: TTL on `at_field`, else a sweep.

    `may_go` is asked about each document found (with `fields` read) before it
    is removed; `remove` replaces the default delete by `_id` and day (GridFS
    files take their chunks along). `ttl` False: always swept.
    """

    collection: AsyncCollection[Document]
    at_field: str
    day_field: str
    keep: timedelta
    lookback_days: int = 60
    ttl: bool = True
    fields: Mapping[str, int] = field(default_factory=dict)
    may_go: Callable[[Document], bool] = field(default=lambda _doc: True)
    remove: Remove | None = None
    name: str = ""
    #: True once the server's TTL index removes them (no sweep).
    by_ttl: bool = False
    #: The first day this replica has not emptied yet (None: no pass yet).
    _first_full: date | None = None

    def __post_init__(self) -> None:
        self.name = self.name or self.collection.name

    async def prepare(self) -> None:
        self.by_ttl = self.ttl and await ensure_ttl(self.collection, self.at_field, self.keep)
        if not self.by_ttl:
            await self.collection.create_index(self.day_field)

    def last_due_day(self, now: datetime) -> date:
        """The newest day all of whose documents are older than the retention."""
        return (now - self.keep).astimezone(UTC).date() - timedelta(days=1)

    async def sweep(self, now: datetime, budget: int) -> tuple[int, bool]:
        if self.by_ttl:
            return 0, False
        last = self.last_due_day(now)
        if self._first_full is None:
            day = last - timedelta(days=self.lookback_days)
        else:
            day = min(self._first_full, last + timedelta(days=1)) - timedelta(days=RECHECK_DAYS)
        removed = 0
        while day <= last:
            room = budget - removed
            if room <= 0:
                return removed, True
            key = day.isoformat()
            projection = {self.day_field: 1, **self.fields}
            found = (
                await self.collection.find({self.day_field: key}, projection).limit(room).to_list()
            )
            going = [doc for doc in found if self.may_go(doc)]
            if going:
                await (self.remove or self._delete)(key, going)
                RETENTION_REMOVED.labels(self.name).inc(len(going))
                removed += len(going)
            if len(found) == room and going:
                return removed, True  # more of this day next time
            self._first_full = day + timedelta(days=1)
            day += timedelta(days=1)
        return removed, False

    async def _delete(self, key: str, docs: list[Document]) -> None:
        await delete_by_id(self.collection, docs, {self.day_field: key})


async def delete_by_id(
    collection: AsyncCollection[Document], docs: Sequence[Document], also: Document
) -> None:
    """Each document by `_id` (and `also`: a document filed elsewhere since stays)."""
    for start in range(0, len(docs), DELETES_PER_COMMAND):
        chunk = docs[start : start + DELETES_PER_COMMAND]
        await collection.bulk_write(
            [DeleteOne({"_id": doc["_id"], **also}) for doc in chunk], ordered=False
        )


class Cleanup:
    """A service's periodic clean-up of the collections it owns, one bounded pass at a time.

    `start` (a start-up hook) prepares the indexes and starts the task; `stop`
    ends it. Passes run every `every_s` (the first within a minute or so, at a
    random moment, so replicas started together do not sweep together); a pass
    that left expired documents behind is followed by another a second later.
    A failed pass is logged and tried again at the next.
    """

    def __init__(
        self,
        service: str,
        sweeps: Sequence[Sweep],
        *,
        every_s: float,
        batch: int,
        clock: Clock = utcnow,
    ) -> None:
        self._service = service
        self._sweeps = list(sweeps)
        self._every_s = every_s
        self._batch = batch
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    @property
    def sweeps(self) -> list[Sweep]:
        return self._sweeps

    async def prepare(self) -> None:
        for sweep in self._sweeps:
            await sweep.prepare()

    async def start(self) -> None:
        await self.prepare()
        self._task = asyncio.create_task(self._run(), name=f"{self._service}-cleanup")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> tuple[int, bool]:
        """One pass over every collection: (documents removed, whether more are due)."""
        now = self._clock()
        removed, more = 0, False
        for sweep in self._sweeps:
            try:
                gone, left = await sweep.sweep(now, self._batch)
            except PyMongoError as exc:  # tried again at the next pass
                log.warning("%s: cleaning %s failed: %s", self._service, sweep.name, exc)
                continue
            removed += gone
            more = more or left
            if gone:
                log.info("%s: removed %d expired documents of %s", self._service, gone, sweep.name)
        return removed, more

    async def _run(self) -> None:
        await asyncio.sleep(random.uniform(1.0, min(self._every_s, 60.0)))
        while True:
            _, more = await self.run_once()
            pause = CATCH_UP_PAUSE_S if more else self._every_s * random.uniform(0.9, 1.1)
            await asyncio.sleep(pause)
