"""Pending firings, batched in a few documents so a herd costs few round trips.

Schedules are split into `SHARDS` shards by a hash of their id. A schedule's
next firing is one entry in the slot document of its due minute and shard
(`slots`, `_id` = `<minute>#<shard>`), which holds everything needed to fire
it: 100,000 schedules due at 08:00 are 64 documents to read, not 100,000, and
every lookup is by `_id` (cheap on MongoDB and FerretDB alike). Per shard,
`slot_pending` lists the minutes that have a slot and `slot_next` the
earliest, which the ticker reads every second for all shards in one query.

Only the holder of a shard's lease writes that shard's documents (FerretDB
1.x has no atomic conditional update; see `leases.py`), and every write is
ordered so a crash at any point loses no firing: new entries and their
minutes are recorded before the slot they came from is removed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from herald.services.scheduler.firing import Pending
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.runtime.mongo import Document

SHARDS = 64
SLOTS = "slots"
PENDING = "slot_pending"
NEXT = "slot_next"


def _digest(schedule_id: str) -> bytes:
    return hashlib.blake2b(schedule_id.encode(), digest_size=8).digest()


def shard_of(schedule_id: str) -> int:
    return int.from_bytes(_digest(schedule_id), "big") % SHARDS


def entry_key(schedule_id: str) -> str:
    """A field name for the schedule (ids may hold dots, which field paths may not)."""
    return _digest(schedule_id).hex()


def minute_of(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


def slot_id(minute: datetime, shard: int) -> str:
    return f"{minute.strftime('%Y-%m-%dT%H:%MZ')}#{shard:02d}"


def shard_lease(shard: int) -> str:
    return f"shard-{shard:02d}"


def _entry(pending: Pending) -> dict[str, Any]:
    return {
        "schedule_id": pending.schedule_id,
        "tenant_id": pending.tenant_id,
        "version": pending.version,
        "spec": pending.spec_document or pending.spec.model_dump(mode="json"),
        "due": pending.due.isoformat(),
    }


def _pending(entry: dict[str, Any]) -> Pending:
    return Pending(
        schedule_id=entry["schedule_id"],
        tenant_id=entry["tenant_id"],
        version=entry["version"],
        spec=ScheduleSpec.model_validate(entry["spec"]),
        due=datetime.fromisoformat(entry["due"]),
        spec_document=entry["spec"],
    )


class SlotStore:
    """The `Slots` port: reads and writes one shard's slots; callers hold the shard's lease.

    A slot's entries are one JSON string field, not a nested document:
    FerretDB converts every field of a document between JSONB and BSON on each
    read and write, which for a slot of hundreds of nested entries costs ten
    times more than the same data as one string.
    """

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._slots = db[SLOTS]
        self._pending = db[PENDING]
        self._next = db[NEXT]

    async def next_due(self) -> dict[int, datetime]:
        """The earliest pending minute of every shard that has one: one small query."""
        return {doc["_id"]: doc["next"] async for doc in self._next.find({}) if doc.get("next")}

    async def minutes(self, shard: int) -> list[datetime]:
        doc = await self._pending.find_one({"_id": shard})
        return sorted(doc["minutes"]) if doc else []

    async def set_minutes(self, shard: int, minutes: Iterable[datetime]) -> None:
        ordered = sorted(set(minutes))
        await self._pending.replace_one({"_id": shard}, {"minutes": ordered}, upsert=True)
        await self._next.replace_one(
            {"_id": shard}, {"next": ordered[0] if ordered else None}, upsert=True
        )

    async def _entries(self, minute: datetime, shard: int) -> dict[str, dict[str, Any]]:
        doc = await self._slots.find_one({"_id": slot_id(minute, shard)})
        return json.loads(doc["entries"]) if doc else {}

    async def _write(self, minute: datetime, shard: int, entries: dict[str, Any]) -> None:
        await self._slots.replace_one(
            {"_id": slot_id(minute, shard)},
            {"minute": minute, "shard": shard, "entries": json.dumps(entries)},
            upsert=True,
        )

    async def read(self, minute: datetime, shard: int) -> list[Pending]:
        return [_pending(entry) for entry in (await self._entries(minute, shard)).values()]

    async def holds(self, minute: datetime, shard: int, schedule_id: str) -> bool:
        return entry_key(schedule_id) in await self._entries(minute, shard)

    async def put(self, shard: int, entries: Iterable[Pending]) -> set[datetime]:
        """Add entries (idempotent: keyed by schedule); returns the minutes written to."""
        by_minute: dict[datetime, dict[str, Any]] = {}
        for pending in entries:
            by_minute.setdefault(minute_of(pending.due), {})[entry_key(pending.schedule_id)] = (
                _entry(pending)
            )
        for minute, added in by_minute.items():
            await self._write(minute, shard, await self._entries(minute, shard) | added)
        return set(by_minute)

    async def remove(self, schedule_id: str, minutes: Iterable[datetime]) -> None:
        shard, key = shard_of(schedule_id), entry_key(schedule_id)
        for minute in minutes:
            entries = await self._entries(minute, shard)
            if entries.pop(key, None) is not None:
                await self._write(minute, shard, entries)

    async def drop(self, minute: datetime, shard: int) -> None:
        await self._slots.delete_one({"_id": slot_id(minute, shard)})
