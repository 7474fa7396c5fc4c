"""The scheduler's MongoDB collections: `schedules` and `commands`.

A schedule's document id is `<tenant>/<schedule_id>` (`ScheduleRef.key`): ids
are the tenant's own. Schedules created before issue 18 keep their bare id as
document id (an `_id` cannot change, and their slot entries go by it); they
are found by tenant and id instead, and lack the `schedule_id` field. Only a
database that holds such schedules pays that second lookup for an id it does
not have (a create): whether it does is looked at once per process, at start-up
(`ensure_indexes`), and the stores of one process share the answer. (No
scheduler of an older release may run beside this one: it would neither see
the new documents nor stop writing bare ids.) That look reads the whole
collection on FerretDB (`$exists` is not pushed down: 2 s per 10,000
schedules), so the first look that finds none says so in `migrations`, and
later start-ups read that one document instead: no scheduler writes a bare
id again.

A command's outputs (reply, `ScheduleChanged`, `ReportDue`, ...) are written
with the schedule change in the same single-document update (the schedule's
`outbox`), then copied to `commands` keyed by `command_id`. A command read
again after a crash at any point finds its outputs in one of the two and
publishes them again instead of applying the command twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from herald.services.scheduler.commands import ScheduleState
from herald.services.scheduler.ports import ConcurrentChange, Output, Recorded, Stored
from herald.services.scheduler.slots import shard_of
from herald.shared.contract.identity import ScheduleRef
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.contract.tolerance import TOLERANT
from herald.shared.runtime.group_commit import GroupCommit
from herald.shared.runtime.mongo import Document, bulk_in_commands, insert_new
from herald.shared.runtime.retention import expiry_fields

SCHEDULES = "schedules"
COMMANDS = "commands"
#: What the scheduler has established about its stored data, a document a fact.
MIGRATIONS = "migrations"
#: The fact that no schedule has a bare document id any more (see the module).
BARE_IDS_GONE = "schedules.bare-ids-gone"
#: When a command's record was written, and that day: what it expires by (retention).
RECORDED_AT = "at"
RECORDED_DAY = "day"
#: Outputs of this many recent commands stay in the schedule document.
OUTBOX_SIZE = 20
#: New schedules in one insert at most: the creates of a batch, handled side by side,
#: go out together (`GroupCommit`), a command for many where each took one.
CREATES_PER_WRITE = 64
#: The batch of commands that wrote the schedule last, with its slot shard: the calendar
#: reads what a batch wrote back a shard at a time, in one query (an equality FerretDB
#: pushes down, on an indexed field) where it took one read per schedule.
WRITTEN_BY = "written_by"


def _written_tag(batch: str, shard: int) -> str:
    return f"{batch}#{shard:02d}"


def _outputs(documents: list[dict[str, str]]) -> list[Output]:
    return [Output(d["topic"], d["body"], d.get("key")) for d in documents]


@dataclass(slots=True)
class BareIds:
    """Whether schedules stored before issue 18 (bare document ids) are in the database;
    None until looked. One per process, shared by its stores: the look reads the whole
    collection on FerretDB (`$exists` is not pushed down), which a command meeting it
    mid-herd once waited 30 s for."""

    present: bool | None = None


class SchedulerStore:
    """The `Schedules` port on MongoDB."""

    def __init__(self, db: AsyncDatabase[Document], bare_ids: BareIds | None = None) -> None:
        self._schedules = db[SCHEDULES]
        self._commands = db[COMMANDS]
        self._migrations = db[MIGRATIONS]
        self._bare_ids = bare_ids or BareIds()
        self._creates = GroupCommit(self._insert_new, CREATES_PER_WRITE)

    async def ensure_indexes(self) -> None:
        """At start-up: the index, and the look for bare-id schedules (see `BareIds`)."""
        await self._schedules.create_index([("tenant_id", ASCENDING)])
        await self._schedules.create_index([(WRITTEN_BY, ASCENDING)])
        await self._holds_legacy()

    async def find(self, ref: ScheduleRef) -> Document | None:
        """The tenant's schedule of that id, whatever its document id (see the module)."""
        doc = await self._schedules.find_one({"_id": ref.key})
        if doc is None and await self._holds_legacy():
            doc = await self._legacy(ref)
        return doc

    async def _legacy(self, ref: ScheduleRef) -> Document | None:
        # Equalities, pushed down on FerretDB.
        return await self._schedules.find_one({"_id": ref.schedule_id, "tenant_id": ref.tenant_id})

    async def _holds_legacy(self) -> bool:
        """Looked once: no scheduler of an older release writes beside this one."""
        if self._bare_ids.present is None:
            self._bare_ids.present = await self._look_for_bare_ids()
        return self._bare_ids.present

    async def _look_for_bare_ids(self) -> bool:
        if await self._migrations.find_one({"_id": BARE_IDS_GONE}) is not None:
            return False
        bare = await self._schedules.find_one({"schedule_id": {"$exists": False}}, {"_id": 1})
        if bare is not None:
            return True
        await insert_new(self._migrations, [{"_id": BARE_IDS_GONE, "at": datetime.now(UTC)}])
        return False

    async def read(self, ref: ScheduleRef) -> Stored | None:
        doc = await self.find(ref)
        if doc is None:
            return None
        outbox = {e["command_id"]: _outputs(e["outputs"]) for e in doc.get("outbox", [])}
        return Stored(_state(doc), bool(doc.get("deleted")), outbox, doc["_id"])

    async def recorded(self, command_id: str) -> Recorded | None:
        doc = await self._commands.find_one({"_id": command_id})
        return None if doc is None else Recorded(doc["tenant_id"], _outputs(doc["outputs"]))

    async def live_specs(self, tenant_id: str) -> dict[str, ScheduleSpec]:
        # Equalities, pushed down on FerretDB; `tenant_id` is indexed on MongoDB.
        found = self._schedules.find({"tenant_id": tenant_id, "deleted": False}, {"spec": 1})
        return {
            schedule_id_of(doc): ScheduleSpec.model_validate(doc["spec"], context=TOLERANT)
            async for doc in found
        }

    async def raw(self, stored_id: str) -> Document | None:
        return await self._schedules.find_one({"_id": stored_id}, {"outbox": 0})

    async def written_in(self, batch: str, shard: int) -> list[Document]:
        found = self._schedules.find({WRITTEN_BY: _written_tag(batch, shard)}, {"outbox": 0})
        return [doc async for doc in found]

    async def mark_synced(self, marks: Sequence[tuple[str, int, Document | None]]) -> None:
        """Record which version's firing the slots hold (None: none, it is off or deleted)."""
        await bulk_in_commands(
            self._schedules,
            [
                UpdateOne({"_id": i}, {"$set": {"slot_version": version, "slot_spec": spec}})
                for i, version, spec in marks
            ],
        )

    async def deleted_with_firings(self) -> list[str]:
        # Equality is pushed down on FerretDB; `slot_spec` is looked at here.
        found = self._schedules.find({"deleted": True}, {"slot_spec": 1})
        return [doc["_id"] async for doc in found if doc.get("slot_spec")]

    async def save(
        self,
        previous: ScheduleState | None,
        new: ScheduleState | None,
        *,
        stored_id: str,
        tenant_id: str,
        command_id: str,
        outputs: list[Output],
        batch: str,
    ) -> None:
        """Write the schedule's new state (None: deleted) and the command's outputs atomically."""
        entry = {"command_id": command_id, "outputs": [o.to_document() for o in outputs]}
        written = {WRITTEN_BY: _written_tag(batch, shard_of(stored_id))}
        if previous is None:
            assert new is not None
            if await self._holds_legacy() and await self._legacy(new.ref):
                raise ConcurrentChange(stored_id)
            if not await self._creates.submit(_document(new) | {"outbox": [entry]} | written):
                raise ConcurrentChange(stored_id)
            return
        fields: dict[str, Any] = (
            _document(new)
            if new is not None
            else {"tenant_id": tenant_id, "deleted": True, "next_run_at": None}
        )
        fields.pop("_id", None)
        fields |= written
        current = await self._schedules.find_one({"_id": stored_id}, {"outbox": 1})
        fields["outbox"] = [*(current or {}).get("outbox", []), entry][-OUTBOX_SIZE:]
        # The version in the filter makes read-and-write one step on MongoDB; FerretDB 1.x
        # reads, compares and writes apart, and relies on one writer: the commands'
        # partition's consumer, which hands it over between batches (`CommandTurns`).
        result = await self._schedules.update_one(
            {"_id": stored_id, "version": previous.version, "deleted": False},
            {"$set": fields},
        )
        if result.matched_count != 1:
            raise ConcurrentChange(stored_id)

    async def _insert_new(self, docs: list[Document]) -> list[bool]:
        return await insert_new(self._schedules, docs)

    async def import_many(self, states: list[ScheduleState]) -> None:
        """Insert new schedules in bulk, their firings already in the slots (see Calendar)."""
        docs = [
            _document(s) | {"slot_version": s.version, "slot_spec": s.spec.model_dump(mode="json")}
            for s in states
        ]
        if docs:
            await self._schedules.insert_many(docs, ordered=False)

    async def record_many(self, records: Sequence[tuple[str, Recorded]]) -> None:
        expiry = expiry_fields(RECORDED_AT, RECORDED_DAY, datetime.now(UTC))
        docs = [
            {
                "_id": command_id,
                "tenant_id": recorded.tenant_id,
                "outputs": [o.to_document() for o in recorded.outputs],
            }
            | expiry
            for command_id, recorded in records
        ]
        # An id already there was recorded by an earlier delivery of the same command.
        if docs:
            await insert_new(self._commands, docs)


def schedule_id_of(doc: Document) -> str:
    """The tenant's id of a stored schedule (one stored before issue 18: its document id)."""
    return str(doc.get("schedule_id", doc["_id"]))


def _document(state: ScheduleState) -> Document:
    return {
        "_id": state.ref.key,
        "schedule_id": state.schedule_id,
        "tenant_id": state.tenant_id,
        "spec": state.spec.model_dump(mode="json"),
        "version": state.version,
        "next_run_at": state.next_run_at,
        "deleted": False,
    }


def _state(doc: Document) -> ScheduleState:
    next_run_at: datetime | None = doc.get("next_run_at")
    return ScheduleState(
        schedule_id=schedule_id_of(doc),
        tenant_id=doc["tenant_id"],
        spec=ScheduleSpec.model_validate(doc["spec"], context=TOLERANT),
        version=doc["version"],
        next_run_at=next_run_at,
    )
