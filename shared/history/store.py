"""The `runs` collection: applying events to it and querying it.

Each event touches one document, by `_id` = `run_id`, with an optimistic
`rev` check: single-document atomic operations only, so it works the same on
MongoDB and FerretDB, and concurrent projectors (replicas, replay) never lose
an event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from herald.shared.contract.messages import DeliveryStatus, RunStatus
from herald.shared.history import fold as history
from herald.shared.runtime.mongo import Document

RUNS = "runs"
_MAX_CONFLICTS = 50


async def ensure_indexes(runs: AsyncCollection[Document]) -> None:
    await runs.create_index([("tenant_id", ASCENDING), ("updated_at", DESCENDING)])
    await runs.create_index([("tenant_id", ASCENDING), ("schedule_id", ASCENDING)])
    await runs.create_index([("tenant_id", ASCENDING), ("status", ASCENDING)])


def _record(doc: Document) -> history.RunRecord:
    return history.RunRecord.model_validate({k: v for k, v in doc.items() if k != "rev"})


async def project(runs: AsyncCollection[Document], event: DeliveryStatus) -> history.RunRecord:
    """Apply one event to its run's record and return the record as stored."""
    return await project_run(runs, [event])


async def project_run(
    runs: AsyncCollection[Document], events: Sequence[DeliveryStatus]
) -> history.RunRecord:
    """Apply events of one run to its record in one read and one write; the record as stored."""
    run_id = events[0].run_id
    for _ in range(_MAX_CONFLICTS):
        doc = await runs.find_one({"_id": run_id})
        record = _record(doc) if doc else None
        updated = history.apply_all(record, events)
        if updated is None:
            assert record is not None
            return record
        new_doc = updated.to_document()
        if doc is None:
            try:
                await runs.insert_one(new_doc | {"rev": 1})
            except DuplicateKeyError:
                continue
            return updated
        result = await runs.replace_one(
            {"_id": run_id, "rev": doc["rev"]}, new_doc | {"rev": doc["rev"] + 1}
        )
        if result.matched_count == 1:
            return updated
    raise RuntimeError(f"run {run_id}: too many concurrent updates, giving up for now")


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

    async def get_run(self, tenant_id: str, run_id: str) -> history.RunRecord | None:
        return await get_run(self._runs, tenant_id, run_id)
