"""The `ShareIndex` promises, on `ShareStore` (FerretDB) and on the fake `MemoryShares`.

The first record wins; a stale share, or one whose artifacts are gone, goes
unused and is forgotten; a custom report's version is when it was last saved.
The renderer's use case is unit-tested on the fake, so both must keep them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.services.renderer.ports import ShareIndex
from herald.services.renderer.reports import custom_store as custom_report_store
from herald.services.renderer.reports.custom_definitions import CustomReport
from herald.services.renderer.reports.custom_store import CUSTOM_REPORTS
from herald.services.renderer.shares import SHARES, ShareStore
from herald.shared.ports import Artifacts, StoredArtifact
from herald.shared.runtime.artifacts import ArtifactStore
from herald.shared.runtime.mongo import Document
from tests.fakes.artifacts import MemoryArtifacts
from tests.fakes.mailer import Clock
from tests.fakes.renderer import MemoryShares
from tests.integration.contract import SIDES, database

pytestmark = pytest.mark.integration

TTL_S = 3600.0
START = datetime(2026, 3, 5, 8, tzinfo=UTC)
#: The smallest step both sides tell apart: the database keeps milliseconds.
TICK = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class World:
    """A share index and the artifacts it reads, both on the database or both in memory."""

    shares: ShareIndex
    artifacts: Artifacts
    clock: Clock
    #: Saves (or saves again) a tenant's custom report, as `herald custom` does.
    save_report: Callable[[str, str], Awaitable[None]]
    #: The keys that have a share recorded.
    recorded: Callable[[], Awaitable[set[str]]]


def _adapter(db: AsyncDatabase[Document], clock: Clock) -> World:
    async def save_report(tenant_id: str, report_id: str) -> None:
        report = CustomReport.model_validate(
            {
                "tenant_id": tenant_id,
                "report_id": report_id,
                "title": "By agent",
                "dataset": "calls",
                "dimensions": ["agent_id"],
                "metrics": [{"key": "calls", "label": "Calls", "kind": "count"}],
            }
        )
        await custom_report_store.save(db[CUSTOM_REPORTS], report)

    async def recorded() -> set[str]:
        return {str(doc["_id"]) async for doc in db[SHARES].find({}, {"_id": 1})}

    artifacts = ArtifactStore(db)
    return World(ShareStore(db, artifacts, TTL_S, clock), artifacts, clock, save_report, recorded)


def _fake(clock: Clock) -> World:
    artifacts = MemoryArtifacts()
    shares = MemoryShares(artifacts, TTL_S, clock)

    async def save_report(tenant_id: str, report_id: str) -> None:
        shares.definitions[tenant_id, report_id] = datetime.now(UTC).isoformat()

    async def recorded() -> set[str]:
        return set(shares.shared())

    return World(shares, artifacts, clock, save_report, recorded)


@pytest.fixture(params=SIDES)
def world(request: pytest.FixtureRequest) -> World:
    clock, db = Clock(START), database(request)
    return _fake(clock) if db is None else _adapter(db, clock)


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def _put(artifacts: Artifacts, artifact_id: str, companions: list[str]) -> StoredArtifact:
    metadata = {"rows": 2, "title": "Campaign Summary", "companions": companions}
    return await artifacts.put(artifact_id, "r.csv", "text/csv", _chunks(b"a,b\r\n"), metadata)


async def test_a_recorded_render_is_found_until_it_is_stale(world: World) -> None:
    shares = world.shares
    companion = await _put(world.artifacts, "run-1/full.csv", [])
    primary = await _put(world.artifacts, "run-1/pdf", [companion.artifact_id])
    assert await shares.find("k") is None

    assert await shares.record("k", "acme", "run-1", primary.artifact_id)
    assert not await shares.record("k", "acme", "run-2", "run-2/pdf")  # the first writer wins
    found = await shares.find("k")
    assert found is not None
    assert found.artifact == primary
    assert found.companions == (companion,)

    world.clock.advance(timedelta(seconds=TTL_S) - TICK)
    assert await shares.find("k") == found
    world.clock.advance(TICK)
    assert await shares.find("k") is None  # late data may have arrived since
    assert await world.recorded() == set()
    assert await shares.record("k", "acme", "run-3", "run-3/pdf")  # a fresh render takes its place


async def test_of_renders_recorded_at_once_one_is_shared(world: World) -> None:
    """Identical runs on two renderers finish together: one share, and it is a whole one."""
    stored = [await _put(world.artifacts, f"run-{n}/csv", []) for n in range(4)]
    won = await asyncio.gather(
        *(world.shares.record("k", "acme", f"run-{n}", a.artifact_id) for n, a in enumerate(stored))
    )
    assert won.count(True) == 1
    found = await world.shares.find("k")
    assert found is not None
    assert found.artifact == stored[won.index(True)]


async def test_a_share_whose_artifacts_are_gone_is_not_reused(world: World) -> None:
    shares = world.shares
    companion = await _put(world.artifacts, "run-1/full.csv", [])
    primary = await _put(world.artifacts, "run-1/pdf", [companion.artifact_id])
    await shares.record("k", "acme", "run-1", primary.artifact_id)
    await world.artifacts.delete(companion.artifact_id)
    assert await shares.find("k") is None  # half of a render is no render
    await shares.record("other", "acme", "run-1", "never-stored/csv")
    assert await shares.find("other") is None
    assert await world.recorded() == set()
    assert await shares.record("k", "acme", "run-2", "run-2/pdf")


async def test_a_custom_reports_version_is_when_it_was_last_saved(world: World) -> None:
    shares = world.shares
    assert await shares.definition("acme", "by-agent") is None
    await world.save_report("acme", "by-agent")
    first = await shares.definition("acme", "by-agent")
    assert first is not None
    await asyncio.sleep(0.01)  # stored to the millisecond
    await world.save_report("acme", "by-agent")
    again = await shares.definition("acme", "by-agent")
    assert again is not None
    assert again != first
    assert await shares.definition("globex", "by-agent") is None
    assert await shares.definition("acme", "by-campaign") is None


async def test_a_share_found_once_is_remembered_until_it_is_stale(
    db: AsyncDatabase[Document],
) -> None:
    """ShareStore's own memo, so real only: it saves a herd of twins a query each; the fake
    has no queries to save. Found once, a share is not checked again within the TTL, which
    is safe because Herald never deletes an artifact it has recorded as a share."""
    artifacts, clock = ArtifactStore(db), Clock(START)
    store = ShareStore(db, artifacts, TTL_S, clock)
    primary = await _put(artifacts, "run-1/csv", [])
    await store.record("k", "acme", "run-1", primary.artifact_id)
    assert await store.find("k") is not None
    await db[SHARES].delete_many({})  # a herd of twins asks no more queries of the database
    found = await store.find("k")
    assert found is not None
    assert found.artifact.artifact_id == "run-1/csv"
    clock.advance(timedelta(seconds=TTL_S + 1))
    assert await store.find("k") is None
