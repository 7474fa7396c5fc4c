"""The `runs` collection: applying events to it and querying it.

Events are applied in batches: one round of reads of the batch's runs (by
`_id`, side by side) and one round of unordered bulk writes of the records that changed, each a
replace conditional on the `rev` it was read at, or an insert for a new run
(conditional too: `_id` is unique); on FerretDB the replaces go in commands
of a few statements (see `write`). Single-document atomic operations only,
so it works the same on MongoDB and FerretDB; a write that lost its
condition to a concurrent projector (a replica, a replay) is read and
folded again, so none loses an event. On FerretDB 1.x a conditional replace
is a read and a write, not atomic: one writer per run is the caller's rule
(a run's events share a partition).

That one writer may also keep the records it wrote (`RecordCache`) and skip
their reads: a cached record that is stale only costs a lost condition and a
real read, never an event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import bson
from bson.errors import InvalidDocument
from cachetools import LRUCache
from pymongo import ASCENDING, DESCENDING, InsertOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, WriteError

from herald.shared.contract.messages import DeliveryStatus, RunStatus
from herald.shared.history import fold as history
from herald.shared.runtime.mongo import (
    COMMANDS_AT_ONCE,
    DUPLICATE_KEY,
    UPDATES_PER_COMMAND,
    Document,
)
from herald.shared.runtime.retention import expiry_fields
from herald.shared.runtime.turns import in_turns

RUNS = "runs"
#: Written with a run once it is final, for retention (`shared/runtime/retention.py`):
#: its last event's time and that day. Derived from the events like the rest, so a
#: replay writes the same; not part of the record.
FINISHED_AT = "finished_at"
FINISHED_DAY = "finished_day"
#: Rounds of read, fold and write before a run still contended is given up on (for now).
_MAX_CONFLICTS = 50
#: Statements of one `update` command (see `write`).
REPLACES_PER_COMMAND = UPDATES_PER_COMMAND
#: Runs folded between two turns of the event loop (`shared/runtime/turns.py`).
_FOLDS_BETWEEN_YIELDS = 100

Write = InsertOne[Document] | ReplaceOne[Document]
#: Stored records by run id, as BSON: compact, and decoded as a read would be.
Known = MutableMapping[str, bytes]
#: A run's outcome: its record as stored, or why its events cannot be projected.
Outcome = history.RunRecord | Exception


async def ensure_indexes(runs: AsyncCollection[Document]) -> None:
    await runs.create_index([("tenant_id", ASCENDING), ("updated_at", DESCENDING)])
    await runs.create_index([("tenant_id", ASCENDING), ("schedule_id", ASCENDING)])
    await runs.create_index([("tenant_id", ASCENDING), ("status", ASCENDING)])


def finished(record: history.RunRecord) -> Document:
    """The retention fields of a final run's document (none for a run in flight)."""
    if record.status not in history.FINAL_STATUSES:
        return {}
    return expiry_fields(FINISHED_AT, FINISHED_DAY, record.updated_at)


class RecordCache(LRUCache[str, bytes]):
    """The records one writer stored lately, bounded in bytes (`Known`)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(maxsize=max_bytes, getsizeof=len)


@dataclass(frozen=True, slots=True)
class Change:
    """A run's folded record, the write that stores it, the document it stores, and the
    events it adds to the record."""

    record: history.RunRecord
    write: Write
    document: Document
    fresh: tuple[DeliveryStatus, ...]


def folded(doc: Document | None, events: Sequence[DeliveryStatus]) -> history.RunRecord | Change:
    """A run's record after `events`: as it is if they change nothing, else the `Change`.

    The write is conditional on `doc` still being stored: its `rev`, or no
    document at all. `ValueError` when the events contradict the record.
    """
    record = history.RunRecord.from_document(doc) if doc else None
    updated = history.apply_all(record, events)
    if updated is None:
        assert record is not None
        return record
    rev = doc["rev"] if doc else 0
    new_doc = updated.to_document() | {"rev": rev + 1} | finished(updated)
    fresh = history.added(record, updated)
    if doc is None:
        return Change(updated, InsertOne(new_doc), new_doc, fresh)
    replace = ReplaceOne({"_id": updated.run_id, "rev": rev}, new_doc)
    return Change(updated, replace, new_doc, fresh)


def _is_new(events: Sequence[DeliveryStatus]) -> bool:
    """Events that begin a run (its first firing): its record most likely does not exist yet."""
    return any(e.status is RunStatus.DUE and e.attempt == 1 for e in events)


async def _read(runs: AsyncCollection[Document], run_ids: list[str]) -> dict[str, Document]:
    """The stored records, each by `_id` equality, `COMMANDS_AT_ONCE` at a time.

    Not one `$in`: FerretDB 1.x pushes only equality down to PostgreSQL, so
    `$in` read the whole history each batch (seconds at 10,000 runs).
    """
    room = asyncio.Semaphore(COMMANDS_AT_ONCE)

    async def one(run_id: str) -> Document | None:
        async with room:
            return await runs.find_one({"_id": run_id})

    found = await asyncio.gather(*(one(run_id) for run_id in run_ids))
    return {doc["_id"]: doc for doc in found if doc is not None}


async def write(runs: AsyncCollection[Document], writes: Sequence[Write]) -> list[bool | Exception]:
    """Each write's fate: True written, False lost its condition (read again), or its error.

    The inserts go in one command; the replaces in commands of at most
    `REPLACES_PER_COMMAND` statements, `COMMANDS_AT_ONCE` at a time:
    FerretDB 1.24 holds a connection per statement of an `update` until the
    command ends, and hangs once they fill its pool.
    """
    inserts = [n for n, one in enumerate(writes) if isinstance(one, InsertOne)]
    replaces = [n for n, one in enumerate(writes) if isinstance(one, ReplaceOne)]
    groups = [inserts] + [
        replaces[start : start + REPLACES_PER_COMMAND]
        for start in range(0, len(replaces), REPLACES_PER_COMMAND)
    ]
    fates: list[bool | Exception] = [True] * len(writes)
    room = asyncio.Semaphore(COMMANDS_AT_ONCE)

    async def send(group: list[int]) -> list[bool | Exception]:
        async with room:
            return await _bulk(runs, [writes[n] for n in group])

    sent = await asyncio.gather(*(send(group) for group in groups))
    for group, group_fates in zip(groups, sent, strict=True):
        for n, fate in zip(group, group_fates, strict=True):
            fates[n] = fate
    return fates


async def _bulk(runs: AsyncCollection[Document], writes: list[Write]) -> list[bool | Exception]:
    """`write`'s fates for writes sent at once.

    A bulk reply counts matched replaces but does not say which: when some
    missed, all replaces count as lost, and the next read tells which were
    written (their events are in the record). A record too large for a
    document fails alone.
    """
    if not writes:
        return []
    details: Mapping[str, Any]
    try:
        details = (await runs.bulk_write(writes, ordered=False)).bulk_api_result
    except BulkWriteError as exc:
        details = exc.details
    except InvalidDocument as exc:
        if len(writes) == 1:
            return [exc]
        return [fate for one in writes for fate in await _bulk(runs, [one])]
    fates: list[bool | Exception] = [True] * len(writes)
    for error in details["writeErrors"]:
        code = error.get("code")
        fates[error["index"]] = (
            False if code == DUPLICATE_KEY else WriteError(error.get("errmsg"), code, error)
        )
    replaces = [n for n, w in enumerate(writes) if isinstance(w, ReplaceOne) and fates[n] is True]
    if details["nMatched"] < len(replaces):
        for n in replaces:
            fates[n] = False
    return fates


async def project_runs(
    runs: AsyncCollection[Document],
    events: Iterable[DeliveryStatus],
    known: Known | None = None,
) -> history.Projected:
    """Apply a batch of events of many runs: each run's outcome, and the events stored.

    A round is one read of the pending runs and one bulk write; runs whose
    write lost its condition go to the next round. An outage propagates.
    With `known`, the first round reads no run found there, nor a run the
    batch begins (its insert fails if it exists after all), and `known`
    keeps what was written; later rounds read every run.

    A replace reported lost may have been written all the same (a bulk reply
    does not say which missed): when the next round finds its events stored,
    they count as this batch's `fresh`.
    """
    by_run: dict[str, list[DeliveryStatus]] = {}
    for event in events:
        by_run.setdefault(event.run_id, []).append(event)
    outcomes: dict[str, Outcome] = {}
    fresh: list[DeliveryStatus] = []
    created: set[str] = set()
    #: The events of replaces reported lost, by run: maybe written (see above).
    unconfirmed: dict[str, tuple[DeliveryStatus, ...]] = {}
    pending = list(by_run)
    for round_ in range(_MAX_CONFLICTS):
        if not pending:
            return history.Projected(outcomes, fresh, created)
        cached: dict[str, Document] = {}
        unread = pending
        if known is not None and round_ == 0:
            cached = {
                run_id: bson.decode(known[run_id], codec_options=runs.codec_options)
                for run_id in pending
                if run_id in known
            }
            unread = [r for r in pending if r not in cached and not _is_new(by_run[r])]
        read = await _read(runs, unread)
        docs = cached | read
        planned: dict[str, Change] = {}
        async for run_id in in_turns(pending, _FOLDS_BETWEEN_YIELDS):
            try:
                outcome = folded(docs.get(run_id), by_run[run_id])
            except ValueError as exc:
                outcomes[run_id] = exc
                continue
            maybe_written = unconfirmed.pop(run_id, ())
            if isinstance(outcome, Change):
                planned[run_id] = outcome
            else:
                outcomes[run_id] = outcome
                fresh += maybe_written
                if run_id in read:  # a cached record is kept as it is
                    _remember(known, runs, run_id, read[run_id])
        fates = await write(runs, [change.write for change in planned.values()])
        pending = []
        for (run_id, change), fate in zip(planned.items(), fates, strict=True):
            if fate is False:
                pending.append(run_id)
                if isinstance(change.write, ReplaceOne):
                    unconfirmed[run_id] = change.fresh
                _remember(known, runs, run_id, None)
            elif fate is True:
                outcomes[run_id] = change.record
                fresh += change.fresh
                if isinstance(change.write, InsertOne):
                    created.add(run_id)
                _remember(known, runs, run_id, change.document)
            else:
                outcomes[run_id] = fate
                _remember(known, runs, run_id, None)
    for run_id in pending:
        outcomes[run_id] = RuntimeError(
            f"run {run_id}: too many concurrent updates, giving up for now"
        )
    return history.Projected(outcomes, fresh, created)


def _remember(
    known: Known | None, runs: AsyncCollection[Document], run_id: str, doc: Document | None
) -> None:
    if known is None:
        return
    if doc is None:
        known.pop(run_id, None)
    else:
        known[run_id] = bson.encode(doc, codec_options=runs.codec_options)


async def project_run(
    runs: AsyncCollection[Document], events: Sequence[DeliveryStatus]
) -> history.RunRecord:
    """Apply events of one run to its record; the record as stored."""
    if len({event.run_id for event in events}) != 1:
        raise ValueError("project_run takes the events of exactly one run")
    outcome = (await project_runs(runs, events)).outcomes[events[0].run_id]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


async def project(runs: AsyncCollection[Document], event: DeliveryStatus) -> history.RunRecord:
    """Apply one event to its run's record and return the record as stored."""
    return await project_run(runs, [event])


async def get_run(
    runs: AsyncCollection[Document], tenant_id: str, run_id: str
) -> history.RunRecord | None:
    doc = await runs.find_one({"_id": run_id, "tenant_id": tenant_id})
    return history.RunRecord.from_document(doc) if doc else None


async def query_runs(
    runs: AsyncCollection[Document],
    tenant_id: str | None,
    *,
    schedule_id: str | None = None,
    status: RunStatus | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[history.RunRecord]:
    """History of one tenant, newest first; a tenant never sees another's runs. None: every
    tenant's, for an operator (`herald history` without `--tenant`), never the platform's."""
    query: dict[str, Any] = {} if tenant_id is None else {"tenant_id": tenant_id}
    if schedule_id is not None:
        query["schedule_id"] = schedule_id
    if status is not None:
        query["status"] = status.value
    if since is not None or until is not None:
        window: dict[str, datetime] = {}
        if since is not None:
            window["$gte"] = since
        if until is not None:
            window["$lt"] = until
        query["updated_at"] = window
    cursor = runs.find(query).sort("updated_at", DESCENDING).limit(limit)
    return [history.RunRecord.from_document(doc) async for doc in cursor]


class MongoRunHistory:
    """The scheduler's `RunHistory` port on the `runs` collection."""

    def __init__(self, runs: AsyncCollection[Document], known: Known | None = None) -> None:
        self._runs = runs
        self._known = known

    async def project_run(self, events: Sequence[DeliveryStatus]) -> history.RunRecord:
        return await project_run(self._runs, events)

    async def project_runs(self, events: Sequence[DeliveryStatus]) -> history.Projected:
        return await project_runs(self._runs, events, self._known)

    async def get_run(self, tenant_id: str, run_id: str) -> history.RunRecord | None:
        return await get_run(self._runs, tenant_id, run_id)
