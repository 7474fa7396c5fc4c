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
from herald.shared.contract.tolerance import TOLERANT
from herald.shared.runtime.mongo import Document

SHARDS = 64
SLOTS = "slots"
PENDING = "slot_pending"
NEXT = "slot_next"


def _digest(stored_id: str) -> bytes:
    return hashlib.blake2b(stored_id.encode(), digest_size=8).digest()


def shard_of(stored_id: str) -> int:
    """By the schedule's document id, which never changes: its firings stay in one shard."""
    return int.from_bytes(_digest(stored_id), "big") % SHARDS


def entry_key(stored_id: str) -> str:
    """A field name for the schedule (ids may hold dots, which field paths may not)."""
    return _digest(stored_id).hex()


def minute_of(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


def slot_id(minute: datetime, shard: int) -> str:
    return f"{minute.strftime('%Y-%m-%dT%H:%MZ')}#{shard:02d}"


def shard_lease(shard: int) -> str:
    return f"shard-{shard:02d}"


def _spec_ref(document: dict[str, Any]) -> str:
    return hashlib.blake2b(json.dumps(document, sort_keys=True).encode(), digest_size=8).hexdigest()


def _encode(entries: Iterable[Pending]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The entries by key, each naming its spec by `spec_ref`, and each distinct spec once."""
    refs: dict[int, str] = {}
    specs: dict[str, Any] = {}
    encoded: dict[str, Any] = {}
    for pending in entries:
        ref = refs.get(id(pending.spec))
        if ref is None:
            document = pending.spec_document or pending.spec.model_dump(mode="json")
            ref = refs[id(pending.spec)] = _spec_ref(document)
            specs[ref] = document
        encoded[entry_key(pending.slot_key)] = {
            "stored_id": pending.slot_key,
            "schedule_id": pending.schedule_id,
            "tenant_id": pending.tenant_id,
            "version": pending.version,
            "spec_ref": ref,
            "due": pending.due.isoformat(),
        }
    return encoded, specs


def _decode(entries: dict[str, Any], specs: dict[str, Any]) -> list[Pending]:
    """Each distinct spec validated once; an entry written before issue 14 holds its own."""
    parsed = {
        ref: ScheduleSpec.model_validate(document, context=TOLERANT)
        for ref, document in specs.items()
    }
    return [
        Pending(
            schedule_id=entry["schedule_id"],
            tenant_id=entry["tenant_id"],
            version=entry["version"],
            spec=parsed[entry["spec_ref"]]
            if "spec_ref" in entry
            else ScheduleSpec.model_validate(entry["spec"], context=TOLERANT),
            due=datetime.fromisoformat(entry["due"]),
            spec_document=specs[entry["spec_ref"]] if "spec_ref" in entry else entry["spec"],
            # Written before issue 18, an entry's schedule id was its document id.
            stored_id=entry.get("stored_id", entry["schedule_id"]),
        )
        for entry in entries.values()
    ]


class SlotStore:
    """The `Slots` port: reads and writes one shard's slots; callers hold the shard's lease.

    A slot's entries are one JSON string field, not a nested document:
    FerretDB converts every field of a document between JSONB and BSON on each
    read and write, which for a slot of hundreds of nested entries costs ten
    times more than the same data as one string. The specs are a second string,
    each distinct spec once (entries name theirs by `spec_ref`): a herd's
    schedules share a few specs, so a slot is half the bytes and each spec is
    validated once per read, not once per entry.
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

    async def _load(self, minute: datetime, shard: int) -> tuple[dict[str, Any], dict[str, Any]]:
        doc = await self._slots.find_one({"_id": slot_id(minute, shard)})
        if doc is None:
            return {}, {}
        return json.loads(doc["entries"]), json.loads(doc.get("specs", "{}"))

    async def _write(
        self, minute: datetime, shard: int, entries: dict[str, Any], specs: dict[str, Any]
    ) -> None:
        used = {entry["spec_ref"] for entry in entries.values() if "spec_ref" in entry}
        await self._slots.replace_one(
            {"_id": slot_id(minute, shard)},
            {
                "minute": minute,
                "shard": shard,
                "entries": json.dumps(entries),
                "specs": json.dumps({ref: specs[ref] for ref in used}),
            },
            upsert=True,
        )

    async def read(self, minute: datetime, shard: int) -> list[Pending]:
        return _decode(*await self._load(minute, shard))

    async def put(self, shard: int, entries: Iterable[Pending]) -> set[datetime]:
        """Add entries (idempotent: keyed by schedule); returns the minutes written to."""
        by_minute: dict[datetime, list[Pending]] = {}
        for pending in entries:
            by_minute.setdefault(minute_of(pending.due), []).append(pending)
        for minute, added in by_minute.items():
            new_entries, new_specs = _encode(added)
            stored, specs = await self._load(minute, shard)
            await self._write(minute, shard, stored | new_entries, specs | new_specs)
        return set(by_minute)

    async def replace(self, minute: datetime, shard: int, entries: Iterable[Pending]) -> None:
        """Make the slot hold exactly these entries; none: delete it."""
        kept, specs = _encode(entries)
        if kept:
            await self._write(minute, shard, kept, specs)
        else:
            await self.drop(minute, shard)

    async def drop(self, minute: datetime, shard: int) -> None:
        await self._slots.delete_one({"_id": slot_id(minute, shard)})
