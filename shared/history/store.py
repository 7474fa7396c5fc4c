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
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bson.errors import InvalidDocument
from pymongo import ASCENDING, DESCENDING, InsertOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, WriteError

from herald.shared.contract.messages import DeliveryStatus, RunStatus
from herald.shared.history import fold as history
from herald.shared.runtime.mongo import UPDATES_PER_COMMAND, Document

RUNS = "runs"
#: Rounds of read, fold and write before a run still contended is given up on (for now).
_MAX_CONFLICTS = 50
_DUPLICATE_KEY = 11000
#: Statements of one `update` command (see `write`).
REPLACES_PER_COMMAND = UPDATES_PER_COMMAND
#: Commands in flight at once, whatever the client's pool (a CLI's or a test's is
#: larger than a service's): FerretDB hangs once update statements fill its pool.
COMMANDS_AT_ONCE = 4

Write = InsertOne[Document] | ReplaceOne[Document]
#: A run's outcome: its record as stored, or why its events cannot be projected.
Outcome = history.RunRecord | Exception


async def ensure_indexes(runs: AsyncCollection[Document]) -> None:
    await runs.create_index([("tenant_id", ASCENDING), ("updated_at", DESCENDING)])
    await runs.create_index([("tenant_id", ASCENDING), ("schedule_id", ASCENDING)])
    await runs.create_index([("tenant_id", ASCENDING), ("status", ASCENDING)])


def _record(doc: Document) -> history.RunRecord:
    return history.RunRecord.model_validate({k: v for k, v in doc.items() if k != "rev"})


def folded(
    doc: Document | None, events: Sequence[DeliveryStatus]
) -> tuple[history.RunRecord, Write | None]:
    """A run's record after `events`, and the write that stores it if it changed.

    The write is conditional on `doc` still being stored: its `rev`, or no
    document at all. `ValueError` when the events contradict the record.
    """
    record = _record(doc) if doc else None
    updated = history.apply_all(record, events)
    if updated is None:
        assert record is not None
        return record, None
    new_doc = updated.to_document()
    if doc is None:
        return updated, InsertOne(new_doc | {"rev": 1})
    rev = doc["rev"]
    return updated, ReplaceOne({"_id": updated.run_id, "rev": rev}, new_doc | {"rev": rev + 1})


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
            False if code == _DUPLICATE_KEY else WriteError(error.get("errmsg"), code, error)
        )
    replaces = [n for n, w in enumerate(writes) if isinstance(w, ReplaceOne) and fates[n] is True]
    if details["nMatched"] < len(replaces):
        for n in replaces:
            fates[n] = False
    return fates


async def project_runs(
    runs: AsyncCollection[Document], events: Iterable[DeliveryStatus]
) -> dict[str, Outcome]:
    """Apply a batch of events of many runs; each run's outcome, by run id.

    A round is one read of the pending runs and one bulk write; runs whose
    write lost its condition go to the next round. An outage propagates.
    """
    by_run: dict[str, list[DeliveryStatus]] = {}
    for event in events:
        by_run.setdefault(event.run_id, []).append(event)
    outcomes: dict[str, Outcome] = {}
    pending = list(by_run)
    for _ in range(_MAX_CONFLICTS):
        if not pending:
            return outcomes
        docs = await _read(runs, pending)
        planned: dict[str, tuple[history.RunRecord, Write]] = {}
        for run_id in pending:
            try:
                record, change = folded(docs.get(run_id), by_run[run_id])
            except ValueError as exc:
                outcomes[run_id] = exc
                continue
            if change is None:
                outcomes[run_id] = record
            else:
                planned[run_id] = (record, change)
        fates = await write(runs, [change for _, change in planned.values()])
        pending = []
        for (run_id, (record, _)), fate in zip(planned.items(), fates, strict=True):
            if fate is False:
                pending.append(run_id)
            else:
                outcomes[run_id] = record if fate is True else fate
    for run_id in pending:
        outcomes[run_id] = RuntimeError(
            f"run {run_id}: too many concurrent updates, giving up for now"
        )
    return outcomes


async def project_run(
    runs: AsyncCollection[Document], events: Sequence[DeliveryStatus]
) -> history.RunRecord:
    """Apply events of one run to its record; the record as stored."""
    if len({event.run_id for event in events}) != 1:
        raise ValueError("project_run takes the events of exactly one run")
    outcome = (await project_runs(runs, events))[events[0].run_id]
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
    return _record(doc) if doc else None


async def query_runs(
    runs: AsyncCollection[Document],
    tenant_id: str,
    *,
    schedule_id: str | None = None,
    status: RunStatus | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[history.RunRecord]:
    """History of one tenant, newest first; a tenant never sees another's runs."""
    query: dict[str, Any] = {"tenant_id": tenant_id}
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
    return [_record(doc) async for doc in cursor]


class MongoRunHistory:
    """The scheduler's `RunHistory` port on the `runs` collection."""

    def __init__(self, runs: AsyncCollection[Document]) -> None:
        self._runs = runs

    async def project_run(self, events: Sequence[DeliveryStatus]) -> history.RunRecord:
        return await project_run(self._runs, events)

    async def project_runs(self, events: Sequence[DeliveryStatus]) -> dict[str, Outcome]:
        return await project_runs(self._runs, events)

    async def get_run(self, tenant_id: str, run_id: str) -> history.RunRecord | None:
        return await get_run(self._runs, tenant_id, run_id)
