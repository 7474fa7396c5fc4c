"""MongoDB storage of the contact-center data: calls by local day, daily roll-ups, sessions.

Calls live in one collection per local day (`calls_YYYYMMDD`, one document per
call), so a report names the days it reads and its cost follows the window,
not the whole history: on FerretDB a range filter is never pushed down and
would scan every call ever stored. Per tenant, day and grouping,
`call_rollup_cells` keeps the cells as one JSON string (FerretDB reads that
ten times faster than nested documents, and reads a whole document whatever
the projection, so each grouping has its own), and the same cells by local
hour beside them: a day a window cuts at a whole hour (a schedule in another
zone than the data's) is read from those instead of its raw calls.
`call_rollups` keeps each day's state. A day's roll-up is marked
`ingesting` before its calls are written and `ready` after, so a crash in
between leaves a day that is grouped from its raw calls until
`rebuild_rollups` runs, never a wrong figure.

Reports of the same seconds share their reads (`recent.py`): a herd of a
tenant's schedules reads each day's roll-up once, not once per run.

A day's roll-up is read, merged and replaced by one writer at a time, under a
lease named for the tenant and day (`runtime/leases.py`): FerretDB writes a
whole document back on every update, so two imports folding calls into one day
at once undid each other's merge (or failed on a duplicate upsert). A writer
that stalled past the lease's ttl learns it lost the lease before it writes the
roll-up (`LeaseLost`); its calls are stored, the day stays `ingesting`, and the
writer that took over rebuilds the day from its raw calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from pymongo import ASCENDING, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from herald.services.renderer.calldata.days import DaySlice, hours_of, slices
from herald.services.renderer.calldata.groupings import (
    GROUPINGS,
    Cells,
    Grouped,
    Grouping,
    Sums,
    add_calls,
    decode_day,
    encode_day,
    keep,
    merge,
    read_group,
    sum_stage,
    within_hours,
)
from herald.services.renderer.calldata.recent import RecentReads
from herald.services.renderer.calldata.records import (
    Agent,
    AgentSession,
    Call,
    CallList,
    Campaign,
    Dimension,
    Team,
)
from herald.services.renderer.calldata.sessions import SESSION_SUMS, clipped, per_agent
from herald.shared.runtime.leases import Lease, LeaseStore
from herald.shared.runtime.mongo import Document, bulk_in_commands, insert_new

log = logging.getLogger("herald.calldata")

#: One small document per tenant and day: the roll-up's state and definitions.
ROLLUPS: Final = "call_rollups"
#: The cells, one document per tenant, day and grouping, so a report reads only its own;
#: and the same cells by local hour (id suffix `HOURLY`), read for a day cut at whole hours.
ROLLUP_CELLS: Final = "call_rollup_cells"
HOURLY: Final = "/hours"
SESSIONS: Final = "agent_sessions"
#: The roll-ups' leases, apart from the scheduler's `leases`: one document per tenant and
#: day ever written, which the scheduler's every-minute lease reads need not pass.
ROLLUP_LEASES: Final = "rollup_leases"
#: A day's roll-up lease: held for one batch's fold of that day, or one rebuild; a crashed
#: writer's lapses after it.
ROLLUP_LEASE_TTL: Final = timedelta(minutes=2)
#: How long a writer waits for another's hold of the same day: past one ttl, so a crashed
#: writer's lease has lapsed by then.
ROLLUP_LEASE_WAIT_S: Final = ROLLUP_LEASE_TTL.total_seconds() + 30
#: Collection and id field of each dimension.
DIMENSIONS: Final[dict[type[Dimension], tuple[str, str]]] = {
    Agent: ("agents", "agent_id"),
    Team: ("teams", "team_id"),
    Campaign: ("campaigns", "campaign_id"),
    CallList: ("lists", "list_id"),
}
CALLS_PREFIX: Final = "calls_"
#: A grouping's stored cells: by day (False) or by local hour too (True).
Part = tuple[Grouping, bool]
PARTS: Final[tuple[Part, ...]] = tuple((g, by_hour) for g in GROUPINGS for by_hour in (False, True))
#: Days read at once: enough to keep the server busy, few enough to stay polite.
_PARALLEL_DAYS = 8


async def _by_day(
    parts: Sequence[DaySlice], read: Callable[[DaySlice], Awaitable[Cells]]
) -> list[Cells]:
    """Each day's cells, in the days' order, `_PARALLEL_DAYS` days read at once."""
    limit = asyncio.Semaphore(_PARALLEL_DAYS)

    async def one(part: DaySlice) -> Cells:
        async with limit:
            return await read(part)

    return await asyncio.gather(*(one(part) for part in parts))


#: Per day collection, for MongoDB (FerretDB 1.x serves no query from them).
_CALL_INDEXES = (
    ("tenant_id", "started_at"),
    ("tenant_id", "campaign_id", "started_at"),
    ("tenant_id", "agent_id", "started_at"),
)


def rollup_lease(tenant_id: str, day: date) -> str:
    """The lease a writer of the tenant's roll-up of that day holds."""
    return f"rollup:{tenant_id}/{day.isoformat()}"


def calls_collection(day: date) -> str:
    return f"{CALLS_PREFIX}{day:%Y%m%d}"


class RollupBusy(Exception):
    """Another writer held a day's roll-up for longer than a writer waits for it."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose data, over which instants [start, end), narrowed by campaigns and agents."""

    tenant_id: str
    start: datetime
    end: datetime
    campaign_ids: tuple[str, ...] = ()
    agent_ids: tuple[str, ...] = ()

    def match(self, part: DaySlice) -> dict[str, Any]:
        match: dict[str, Any] = {"tenant_id": self.tenant_id}
        if not part.whole:
            match["started_at"] = {"$gte": part.start, "$lt": part.end}
        if self.campaign_ids:
            match["campaign_id"] = {"$in": list(self.campaign_ids)}
        if self.agent_ids:
            match["agent_id"] = {"$in": list(self.agent_ids)}
        return match


class CallStore:
    """`reuse_s`: how long a read (roll-up, grouping, sessions, dimension) serves other reports."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        zone: ZoneInfo,
        *,
        use_rollups: bool = True,
        reuse_s: float = 0.0,
    ) -> None:
        self._db = db
        self.zone = zone
        self.use_rollups = use_rollups
        self._recent = RecentReads(reuse_s)
        self._indexed: set[str] = set()
        self._single_accumulator: bool | None = None
        self._leases = LeaseStore(db[ROLLUP_LEASES], ROLLUP_LEASE_TTL)

    def _rollup_id(self, tenant_id: str, day: date) -> str:
        return f"{tenant_id}/{day.isoformat()}"

    def _cells_id(self, tenant_id: str, day: date, part: Part) -> str:
        grouping, by_hour = part
        return f"{tenant_id}/{day.isoformat()}/{grouping.name}{HOURLY if by_hour else ''}"

    async def _cells_doc(self, tenant_id: str, day: date, part: Part) -> Document | None:
        return await self._db[ROLLUP_CELLS].find_one({"_id": self._cells_id(tenant_id, day, part)})

    async def _stored_cells(self, tenant_id: str, day: date, part: Part) -> Cells:
        return _decoded_cells(part, day, await self._cells_doc(tenant_id, day, part))

    # -- reading -------------------------------------------------------------------------

    async def group(self, grouping: Grouping, scope: Scope) -> Grouped:
        """The grouping's cells over the scope: from the roll-ups for whole days and days cut
        at whole hours (their cells by hour), from raw calls otherwise."""
        parts = slices(scope.start, scope.end, self.zone)

        async def one(part: DaySlice) -> Cells:
            # Only registered groupings are rolled up; an ad-hoc one reads raw calls.
            hours = None if part.whole else hours_of(part, self.zone)
            if (part.whole or hours) and self.use_rollups and grouping in GROUPINGS:
                stored = (grouping, hours is not None)
                cells = await self._rolled_up(stored, scope.tenant_id, part.day)
                if cells is not None:
                    if hours is not None:
                        cells = within_hours(cells, *hours)
                    return keep(cells, scope.campaign_ids, scope.agent_ids)
            return await self._raw(grouping, scope, part)

        cells: Cells = {}
        for day_cells in await _by_day(parts, one):
            cells.update(day_cells)  # every cell's key holds its day: days never overlap
        return Grouped(grouping, cells)

    async def _rolled_up(self, part: Part, tenant_id: str, day: date) -> Cells | None:
        grouping, by_hour = part
        state, cells_doc = await self._recent.get(
            (ROLLUPS, tenant_id, day, grouping.name, by_hour),
            lambda: asyncio.gather(
                self._db[ROLLUPS].find_one({"_id": self._rollup_id(tenant_id, day)}),
                self._cells_doc(tenant_id, day, part),
            ),
        )
        cells = _decoded_cells(part, day, cells_doc)
        if state is None:
            # No roll-up: either no calls that day, or calls written around `ingest`.
            return None
        if state.get("state") != "ready" or state.get("signatures", {}).get(grouping.name) != (
            grouping.signature
        ):
            log.warning("roll-up %s/%s is not usable; grouping raw calls", tenant_id, day)
            return None
        return cells

    async def _raw(self, grouping: Grouping, scope: Scope, part: DaySlice) -> Cells:
        match = scope.match(part) | grouping.match()
        collection = self._db[calls_collection(part.day)]
        return await self.sum_by(collection, match, grouping.all_keys, grouping.sums)

    async def sum_by(
        self,
        collection: AsyncCollection[Document],
        match: Document,
        keys: tuple[str, ...],
        sums: tuple[str, ...],
    ) -> Cells:
        """`$match` + `$group` with `$sum`: the sums per distinct keys, as cells.

        The groups may come from a recent identical read (`RecentReads`).
        """
        one = await self._one_accumulator()
        pipeline = [{"$match": match}, sum_stage(keys, sums, one_accumulator=one)]

        async def read() -> list[Document]:
            return await (await collection.aggregate(pipeline)).to_list()

        cells: Cells = {}
        for group in await self._recent.get((collection.name, repr(pipeline)), read):
            key, values = read_group(keys, sums, group, one_accumulator=one)
            merge(cells, {key: values})
        return cells

    async def _one_accumulator(self) -> bool:
        """True on FerretDB 1.x, whose `$group` computes only its first accumulator."""
        if self._single_accumulator is None:
            info = await self._db.client.admin.command("buildInfo")
            version = str(info.get("ferretdbVersion", ""))
            self._single_accumulator = version.startswith(("v1.", "1."))
        return self._single_accumulator

    async def calls(self, scope: Scope, batch_size: int = 1000) -> AsyncIterator[Document]:
        """Every call in the scope, oldest first, one day at a time (constant memory)."""
        for part in slices(scope.start, scope.end, self.zone):
            cursor = (
                self._db[calls_collection(part.day)]
                .find(scope.match(part), batch_size=batch_size)
                .sort([("started_at", ASCENDING), ("_id", ASCENDING)])
            )
            async for call in cursor:
                yield call

    async def sessions(self, scope: Scope) -> dict[str, Sums]:
        """Agents' session time inside the scope, per agent (`sessions.py`).

        Days the scope covers whole are summed on the server; on a day it cuts, each
        session's spans are clipped to the scope. The agent filter applies, a campaign
        filter cannot (sessions span campaigns).
        """
        parts = slices(scope.start, scope.end, self.zone)
        cells = await self._session_cells(
            scope, [p for p in parts if p.whole], ("agent_id",), SESSION_SUMS
        )
        whole = [(key[0], dict(zip(SESSION_SUMS, v, strict=True))) for key, v in cells.items()]

        async def cut(part: DaySlice) -> list[tuple[str, Sums]]:
            match = self._session_match(scope, part)
            docs = await self._recent.get(
                (SESSIONS, repr(match)), lambda: self._db[SESSIONS].find(match).to_list()
            )
            return [(doc["agent_id"], clipped(doc, part.start, part.end)) for doc in docs]

        clips = await asyncio.gather(*(cut(part) for part in parts if not part.whole))
        return per_agent([*whole, *(pair for day in clips for pair in day)])

    async def session_sums(
        self, scope: Scope, keys: tuple[str, ...], sums: tuple[str, ...]
    ) -> Cells:
        """Session sums per distinct `keys` over the local days the scope touches, each whole.

        The agent filter applies, a campaign filter cannot (sessions span campaigns).
        """
        return await self._session_cells(
            scope, slices(scope.start, scope.end, self.zone), keys, sums
        )

    def _session_match(self, scope: Scope, part: DaySlice) -> Document:
        match: Document = {"tenant_id": scope.tenant_id, "day": part.day.isoformat()}
        if scope.agent_ids:
            match["agent_id"] = {"$in": list(scope.agent_ids)}
        return match

    async def _session_cells(
        self, scope: Scope, parts: Sequence[DaySlice], keys: tuple[str, ...], sums: tuple[str, ...]
    ) -> Cells:
        async def one(part: DaySlice) -> Cells:
            return await self.sum_by(
                self._db[SESSIONS], self._session_match(scope, part), keys, sums
            )

        cells: Cells = {}
        for day_cells in await _by_day(parts, one):
            merge(cells, day_cells)
        return cells

    async def dimension(self, kind: type[Dimension], tenant_id: str) -> dict[str, Document]:
        """A tenant's agents, teams, campaigns or lists by their id."""
        name, id_field = DIMENSIONS[kind]
        docs = await self._recent.get(
            (name, tenant_id), lambda: self._db[name].find({"tenant_id": tenant_id}).to_list()
        )
        return {doc[id_field]: doc for doc in docs}

    # -- writing -------------------------------------------------------------------------

    async def put(
        self, records: Sequence[Agent | Team | Campaign | CallList | AgentSession]
    ) -> None:
        """Insert or replace dimension and session records by their natural id."""
        by_collection: dict[str, list[ReplaceOne[Document]]] = defaultdict(list)
        for record in records:
            doc = (
                record.document(self.zone)
                if isinstance(record, AgentSession)
                else record.document()
            )
            name = SESSIONS if isinstance(record, AgentSession) else DIMENSIONS[type(record)][0]
            by_collection[name].append(ReplaceOne({"_id": doc["_id"]}, doc, upsert=True))
        for name, requests in by_collection.items():
            if name == SESSIONS and name not in self._indexed:
                await self._db[name].create_index([("tenant_id", ASCENDING), ("day", ASCENDING)])
                self._indexed.add(name)
            await bulk_in_commands(self._db[name], requests)

    async def ingest(self, calls: Iterable[Call]) -> int:
        """Store calls and fold them into their days' roll-ups; returns how many were new.

        A call already stored (same tenant and call id) is skipped, so a batch can be
        sent again after a failure without counting anything twice.
        """
        by_day: dict[tuple[str, date], list[Document]] = defaultdict(list)
        for call in calls:
            doc = call.document(self.zone)
            by_day[call.tenant_id, date.fromisoformat(doc["day"])].append(doc)
        written = 0
        for (tenant_id, day), docs in by_day.items():
            written += await self._ingest_day(tenant_id, day, docs)
        return written

    async def _ingest_day(self, tenant_id: str, day: date, docs: list[Document]) -> int:
        async with self._rollup_lease(tenant_id, day) as lease:
            rollups = self._db[ROLLUPS]
            rollup_id = self._rollup_id(tenant_id, day)
            before = await rollups.find_one({"_id": rollup_id})
            await rollups.update_one(
                {"_id": rollup_id},
                {"$set": {"tenant_id": tenant_id, "day": day.isoformat(), "state": "ingesting"}},
                upsert=True,
            )
            collection = await self._calls_collection(day)
            # Without a roll-up, the day must hold none of the tenant's calls for the new
            # ones alone to be its roll-up (calls may have been written around `ingest`).
            first = before is None and await collection.find_one({"tenant_id": tenant_id}) is None
            new = await _insert_new(collection, docs)
            if not (first or _usable(before)):
                await self._rebuild(tenant_id, day, lease)
                return len(new)
            fresh = {part: _cells_of(part, new) for part in PARTS}
            if before is not None:
                for part in PARTS:
                    merge(fresh[part], await self._stored_cells(tenant_id, day, part))
            await self._write_rollup(tenant_id, day, fresh, lease)
            return len(new)

    async def rebuild_rollups(self, tenant_id: str, day: date) -> None:
        """Recompute a day's roll-ups from its stored calls (after a crash or a direct write)."""
        async with self._rollup_lease(tenant_id, day) as lease:
            await self._rebuild(tenant_id, day, lease)

    @contextlib.asynccontextmanager
    async def _rollup_lease(self, tenant_id: str, day: date) -> AsyncIterator[Lease]:
        if ROLLUP_LEASES not in self._indexed:
            await self._leases.ensure_indexes()
            self._indexed.add(ROLLUP_LEASES)
        try:
            async with self._leases.holding(
                rollup_lease(tenant_id, day), wait_s=ROLLUP_LEASE_WAIT_S
            ) as lease:
                yield lease
        except TimeoutError as exc:
            raise RollupBusy(
                f"the roll-up of tenant {tenant_id!r} for {day.isoformat()} was held by another "
                f"writer for over {ROLLUP_LEASE_WAIT_S:.0f} s"
            ) from exc

    async def _rebuild(self, tenant_id: str, day: date, lease: Lease) -> None:
        calls = (
            await self._db[calls_collection(day)]
            .find({"tenant_id": tenant_id}, batch_size=5000)
            .to_list()
        )
        cells = {part: _cells_of(part, calls) for part in PARTS}
        await self._write_rollup(tenant_id, day, cells, lease)

    async def _write_rollup(
        self, tenant_id: str, day: date, cells: dict[Part, Cells], lease: Lease
    ) -> None:
        """The cells first, then the day's state: `ready` only once every grouping is in.

        Only while the lease is still ours (`LeaseLost` otherwise): a writer that took it
        over after a stall is rebuilding this day, and the day stays `ingesting` till then.
        """
        await self._leases.renew(lease)
        for part in PARTS:
            doc: Document = {
                "tenant_id": tenant_id,
                "day": day.isoformat(),
                "grouping": part[0].name,
                "by_hour": part[1],
                "cells": json.dumps(encode_day(cells[part]), separators=(",", ":")),
            }
            await self._db[ROLLUP_CELLS].replace_one(
                {"_id": self._cells_id(tenant_id, day, part)}, doc, upsert=True
            )
        state: Document = {
            "tenant_id": tenant_id,
            "day": day.isoformat(),
            "state": "ready",
            "signatures": {g.name: g.signature for g in GROUPINGS},
        }
        await self._db[ROLLUPS].replace_one(
            {"_id": self._rollup_id(tenant_id, day)}, state, upsert=True
        )

    async def _calls_collection(self, day: date) -> AsyncCollection[Document]:
        name = calls_collection(day)
        collection = self._db[name]
        if name not in self._indexed:
            for fields in (
                ("started_at",),
                ("campaign_id", "started_at"),
                ("agent_id", "started_at"),
            ):
                await collection.create_index(
                    [("tenant_id", ASCENDING), *((f, ASCENDING) for f in fields)]
                )
            self._indexed.add(name)
        return collection

    async def delete_tenant(self, tenant_id: str) -> None:
        """Remove a tenant's data everywhere (the demo reseeds with it)."""
        names = await self._db.list_collection_names()
        for name in names:
            dimensions = [collection for collection, _ in DIMENSIONS.values()]
            kept = (ROLLUPS, ROLLUP_CELLS, SESSIONS, *dimensions)
            if name.startswith(CALLS_PREFIX) or name in kept:
                await self._db[name].delete_many({"tenant_id": tenant_id})


def _decoded_cells(part: Part, day: date, doc: Document | None) -> Cells:
    rows = json.loads(doc["cells"]) if doc is not None else []
    return decode_day(part[0], day.isoformat(), rows, by_hour=part[1])


def _usable(rollup: Document | None) -> bool:
    if rollup is None or rollup.get("state") != "ready":
        return False
    signatures = rollup.get("signatures", {})
    return all(signatures.get(g.name) == g.signature for g in GROUPINGS)


def _cells_of(part: Part, calls: Iterable[Document]) -> Cells:
    cells: Cells = {}
    add_calls(part[0], cells, calls, by_hour=part[1])
    return cells


async def _insert_new(
    collection: AsyncCollection[Document], docs: list[Document]
) -> list[Document]:
    """Insert, skipping calls already stored; returns the documents actually written."""
    inserted = await insert_new(collection, docs)
    return [doc for doc, new in zip(docs, inserted, strict=True) if new]
