"""The `render_shares` store on FerretDB: first writer wins; stale or broken shares go unused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.services.renderer.reports import custom_store as custom_report_store
from herald.services.renderer.reports.custom_definitions import CustomReport
from herald.services.renderer.reports.custom_store import CUSTOM_REPORTS
from herald.services.renderer.shares import SHARES, ShareStore
from herald.shared.ports import StoredArtifact
from herald.shared.runtime.artifacts import ArtifactStore
from herald.shared.runtime.mongo import Document

pytestmark = pytest.mark.integration

TTL_S = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 5, 8, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def _put(artifacts: ArtifactStore, artifact_id: str, companions: list[str]) -> StoredArtifact:
    metadata = {"rows": 2, "title": "Campaign Summary", "companions": companions}
    return await artifacts.put(artifact_id, "r.csv", "text/csv", _chunks(b"a,b\r\n"), metadata)


async def test_a_recorded_render_is_found_until_it_is_stale(db: AsyncDatabase[Document]) -> None:
    artifacts, clock = ArtifactStore(db), Clock()
    store = ShareStore(db, artifacts, TTL_S, clock)
    companion = await _put(artifacts, "run-1/full.csv", [])
    primary = await _put(artifacts, "run-1/pdf", [companion.artifact_id])
    assert await store.find("k") is None

    assert await store.record("k", "acme", "run-1", primary.artifact_id)
    assert not await store.record("k", "acme", "run-2", "run-2/pdf")  # the first writer wins
    found = await store.find("k")
    assert found is not None
    assert found.artifact.artifact_id == "run-1/pdf"
    assert [c.artifact_id for c in found.companions] == ["run-1/full.csv"]

    clock.now += timedelta(seconds=TTL_S + 1)
    assert await store.find("k") is None  # late data may have arrived since
    assert await db[SHARES].count_documents({}) == 0
    assert await store.record("k", "acme", "run-3", "run-3/pdf")  # a fresh render takes its place


async def test_a_share_whose_artifacts_are_gone_is_not_reused(db: AsyncDatabase[Document]) -> None:
    artifacts = ArtifactStore(db)
    store = ShareStore(db, artifacts, TTL_S)
    companion = await _put(artifacts, "run-1/full.csv", [])
    primary = await _put(artifacts, "run-1/pdf", [companion.artifact_id])
    await store.record("k", "acme", "run-1", primary.artifact_id)
    await artifacts.delete(companion.artifact_id)
    assert await store.find("k") is None
    await store.record("other", "acme", "run-1", "never-stored/csv")
    assert await store.find("other") is None


async def test_a_custom_reports_version_is_when_it_was_last_saved(
    db: AsyncDatabase[Document],
) -> None:
    store = ShareStore(db, ArtifactStore(db), TTL_S)
    definitions = db[CUSTOM_REPORTS]
    assert await store.definition("acme", "by-agent") is None
    report = CustomReport.model_validate(
        {
            "tenant_id": "acme",
            "report_id": "by-agent",
            "title": "By agent",
            "dataset": "calls",
            "dimensions": ["agent_id"],
            "metrics": [{"key": "calls", "label": "Calls", "kind": "count"}],
        }
    )
    await custom_report_store.save(definitions, report)
    first = await store.definition("acme", "by-agent")
    assert first is not None
    await asyncio.sleep(0.01)  # stored to the millisecond
    await custom_report_store.save(definitions, report)
    again = await store.definition("acme", "by-agent")
    assert again is not None
    assert again != first
    assert await store.definition("globex", "by-agent") is None


async def test_a_share_found_once_is_remembered_until_it_is_stale(
    db: AsyncDatabase[Document],
) -> None:
    artifacts, clock = ArtifactStore(db), Clock()
    store = ShareStore(db, artifacts, TTL_S, clock)
    primary = await _put(artifacts, "run-1/csv", [])
    await store.record("k", "acme", "run-1", primary.artifact_id)
    assert await store.find("k") is not None
    await db[SHARES].delete_many({})  # a herd of twins asks no more queries of the database
    found = await store.find("k")
    assert found is not None
    assert found.artifact.artifact_id == "run-1/csv"
    clock.now += timedelta(seconds=TTL_S + 1)
    assert await store.find("k") is None
