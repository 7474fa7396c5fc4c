"""Daily roll-ups on FerretDB give exactly what grouping the raw calls gives.

A small demo (3,000 calls over ten local days in Europe/Berlin, across the spring
clock change) is seeded; every grouping is read for several scopes from the roll-ups
and from the raw calls, and both are checked against the same sums computed here in
Python from the generated calls. Ingest is idempotent, and a day whose roll-up was
left `ingesting` by a crash is still answered right, from its raw calls, until
`rebuild_rollups` makes its roll-up usable again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.services.renderer.calldata import store as call_store
from herald.services.renderer.calldata.days import day_bounds, slices
from herald.services.renderer.calldata.groupings import GROUPINGS, Cells, Grouping, add_calls
from herald.services.renderer.calldata.records import Call
from herald.services.renderer.calldata.store import (
    ROLLUP_CELLS,
    ROLLUPS,
    CallStore,
    Scope,
    calls_collection,
)
from herald.shared.runtime.leases import Lease, LeaseLost, LeaseStore
from herald.shared.runtime.mongo import Document
from tests.helpers import mongo_commands_sent

pytestmark = pytest.mark.integration

TENANT = "acme"
ZONE = ZoneInfo("Europe/Berlin")
ANCHOR = date(2026, 4, 3)
DAYS = 10
CALLS = 3000
FIRST, LAST = ANCHOR - timedelta(days=DAYS), ANCHOR - timedelta(days=1)


def _local(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), ZONE)


#: Whole local days, from a day before the data to a day after it.
WHOLE = Scope(TENANT, day_bounds(FIRST - timedelta(days=1), ZONE)[0], day_bounds(ANCHOR, ZONE)[1])
#: Cuts the first and the last day of the data, keeps the days between whole.
CUT = Scope(TENANT, _local(FIRST, 13, 17), _local(LAST, 10, 42))
NEW_YORK = ZoneInfo("America/New_York")
SCOPES = {
    "whole days": WHOLE,
    "days cut at both ends": CUT,
    # Read from the cells by hour: 06:00 on the first day to 18:00 on the last.
    "days cut at whole hours": Scope(TENANT, _local(FIRST, 6, 0), _local(LAST, 18, 0)),
    # New York's 28-30 March: Berlin's 28th from 05:00 (CET) to the 31st at 06:00 (CEST),
    # the 23-hour 29th whole between them.
    "New York days across the clock change": Scope(
        TENANT,
        datetime(2026, 3, 28, tzinfo=NEW_YORK),
        datetime(2026, 3, 31, tzinfo=NEW_YORK),
    ),
    "campaigns": Scope(TENANT, WHOLE.start, WHOLE.end, campaign_ids=("solar", "care")),
    "agents, days cut": Scope(
        TENANT, CUT.start, CUT.end, agent_ids=("agent-01", "agent-12", "agent-33")
    ),
}


def _generated() -> list[Call]:
    days = demo.generate(TENANT, calls=CALLS, days=DAYS, anchor=ANCHOR, zone=ZONE)
    return [call for day in days for call in day.calls]


def _expected(grouping: Grouping, scope: Scope, calls: list[Call]) -> Cells:
    """The grouping's cells computed here, from the generated calls the scope holds."""
    docs = [
        call.document(ZONE)
        for call in calls
        if scope.start <= call.started_at < scope.end
        and (not scope.campaign_ids or call.campaign_id in scope.campaign_ids)
        and (not scope.agent_ids or call.agent_id in scope.agent_ids)
    ]
    cells: Cells = {}
    add_calls(grouping, cells, docs)
    return cells


async def _seed(db: AsyncDatabase[Document]) -> None:
    assert await demo.seed(db, tenant_id=TENANT, calls=CALLS, days=DAYS, anchor=ANCHOR, zone=ZONE)


async def _crash(db: AsyncDatabase[Document], day: date) -> None:
    """What a crash mid-ingest leaves: the day marked `ingesting`, its cells stale."""
    await db[ROLLUPS].update_one(
        {"_id": f"{TENANT}/{day.isoformat()}"}, {"$set": {"state": "ingesting"}}
    )
    stale = await db[ROLLUP_CELLS].update_many(
        {"tenant_id": TENANT, "day": day.isoformat()}, {"$set": {"cells": "[]"}}
    )
    assert stale.modified_count == 2 * len(GROUPINGS)  # by day and by hour


async def _rollups(db: AsyncDatabase[Document]) -> list[Document]:
    return await db[ROLLUPS].find({"tenant_id": TENANT}).sort("_id").to_list()


async def _assert_correct(
    db: AsyncDatabase[Document], calls: list[Call], *, with_raw: bool = False
) -> None:
    """Every grouping over every scope, from the roll-ups (and the raw calls) as computed here.

    Grouping raw calls reads every call on FerretDB, the slow part: only when asked.
    """
    stores = [CallStore(db, ZONE)] + ([CallStore(db, ZONE, use_rollups=False)] if with_raw else [])
    for name, scope in SCOPES.items():
        for grouping in GROUPINGS:
            expected = _expected(grouping, scope, calls)
            assert expected or grouping.inbound_only, f"{name} holds no calls"
            for store in stores:
                where = f"{grouping.name} over {name}, roll-ups {store.use_rollups}"
                assert (await store.group(grouping, scope)).cells == expected, where


async def test_rollups_equal_raw_calls_for_every_grouping_and_scope(
    db: AsyncDatabase[Document], caplog: pytest.LogCaptureFixture
) -> None:
    await _seed(db)
    rollups = await _rollups(db)
    assert [doc["day"] for doc in rollups] == [
        (FIRST + timedelta(days=n)).isoformat() for n in range(DAYS)
    ]
    assert {doc["state"] for doc in rollups} == {"ready"}
    with caplog.at_level(logging.WARNING, logger="herald.calldata"):
        await _assert_correct(db, _generated(), with_raw=True)
    assert not caplog.records  # every whole day was read from its roll-up


async def test_ingesting_the_same_batch_again_changes_nothing(db: AsyncDatabase[Document]) -> None:
    await _seed(db)
    store = CallStore(db, ZONE)
    calls = _generated()
    day = FIRST + timedelta(days=3)
    batch = [c for c in calls if c.started_at.astimezone(ZONE).date() == day]
    before = await _rollups(db)
    stored = await db[calls_collection(day)].count_documents({})

    assert await store.ingest(batch) == 0
    assert await store.ingest(batch[:100]) == 0

    assert await _rollups(db) == before
    assert await db[calls_collection(day)].count_documents({}) == stored == len(batch)
    later = batch[-1].started_at + timedelta(minutes=1)
    extra = [
        c.model_copy(update={"call_id": f"extra-{n}", "started_at": later})
        for n, c in enumerate(batch[:50])
    ]
    assert await store.ingest(extra) == 50
    after_extra = await _rollups(db)
    assert await store.ingest(extra) == 0
    assert await _rollups(db) == after_extra
    await _assert_correct(db, calls + extra)


async def test_a_day_left_ingesting_is_grouped_raw_until_rebuilt(
    db: AsyncDatabase[Document], caplog: pytest.LogCaptureFixture
) -> None:
    await _seed(db)
    store = CallStore(db, ZONE)
    calls = _generated()
    day = FIRST + timedelta(days=5)
    # A crash after the calls were written, before the roll-up was: marked, and stale.
    await _crash(db, day)
    with caplog.at_level(logging.WARNING, logger="herald.calldata"):
        await _assert_correct(db, calls)
    assert any("is not usable" in record.getMessage() for record in caplog.records)

    await store.rebuild_rollups(TENANT, day)
    (doc,) = [d for d in await _rollups(db) if d["day"] == day.isoformat()]
    assert doc["state"] == "ready"
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="herald.calldata"):
        await _assert_correct(db, calls)
    assert not caplog.records


async def test_ingesting_into_a_crashed_day_rebuilds_its_rollup(
    db: AsyncDatabase[Document],
) -> None:
    await _seed(db)
    store = CallStore(db, ZONE)
    calls = _generated()
    day = FIRST + timedelta(days=2)
    await _crash(db, day)
    late = calls[0].model_copy(update={"call_id": "late-1", "started_at": _local(day, 12, 0)})
    assert await store.ingest([late]) == 1
    (doc,) = [d for d in await _rollups(db) if d["day"] == day.isoformat()]
    assert doc["state"] == "ready"
    await _assert_correct(db, [*calls, late])


def _finds() -> float:
    return mongo_commands_sent("find")


async def test_reports_within_reuse_s_read_each_day_once(db: AsyncDatabase[Document]) -> None:
    """A herd's reports share each day's roll-up read; late calls show once that read is old."""
    await _seed(db)
    calls = _generated()
    grouping = GROUPINGS[0]
    store = CallStore(db, ZONE, reuse_s=60)
    finds = _finds()
    herd = await asyncio.gather(*(store.group(grouping, WHOLE) for _ in range(20)))
    assert all(g.cells == _expected(grouping, WHOLE, calls) for g in herd)
    days = len(slices(WHOLE.start, WHOLE.end, ZONE))
    assert _finds() - finds == 2 * days  # each day's state and cells once, not 20 times

    day = FIRST + timedelta(days=4)
    late = calls[0].model_copy(update={"call_id": "late-1", "started_at": _local(day, 12, 0)})
    assert await CallStore(db, ZONE).ingest([late]) == 1
    assert (await store.group(grouping, WHOLE)).cells == _expected(grouping, WHOLE, calls)
    fresh = CallStore(db, ZONE, reuse_s=60)
    assert (await fresh.group(grouping, WHOLE)).cells == _expected(grouping, WHOLE, [*calls, late])


async def test_two_imports_of_one_tenant_at_once_lose_no_call_from_the_rollups(
    db: AsyncDatabase[Document], caplog: pytest.LogCaptureFixture
) -> None:
    """Two importers (`herald data import` twice, a second operator, an overlapping job) fold
    calls of the same days into the same roll-ups at once. FerretDB runs each replace as a
    whole-document write, so without a lease one importer's merge overwrote the other's:
    days marked `ready` that undercounted."""
    calls = _generated()
    halves = calls[0::2], calls[1::2]

    async def importer(half: list[Call]) -> int:
        store = CallStore(db, ZONE)  # each its own, as two processes would be
        written = 0
        for start in range(0, len(half), 100):
            written += await store.ingest(half[start : start + 100])
        return written

    assert await asyncio.gather(*(importer(half) for half in halves)) == [len(h) for h in halves]
    assert {doc["state"] for doc in await _rollups(db)} == {"ready"}
    with caplog.at_level(logging.WARNING, logger="herald.calldata"):
        await _assert_correct(db, calls)
    assert not caplog.records  # read from the roll-ups, not rescued by the raw calls


async def test_a_writer_that_stalled_past_its_lease_writes_nothing_and_the_next_rebuilds_the_day(
    db: AsyncDatabase[Document], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stalled writer had merged the day's roll-up with its call; the writer that took
    the day over rebuilt it with both calls. Written late, the stalled one's merge would
    have dropped the other's call from a day marked `ready`."""
    await _seed(db)
    calls = _generated()
    day = FIRST + timedelta(days=4)
    late_a, late_b = (
        calls[0].model_copy(update={"call_id": f"late-{n}", "started_at": _local(day, 12, n)})
        for n in (1, 2)
    )
    taker = CallStore(db, ZONE)
    monkeypatch.setattr(call_store, "ROLLUP_LEASE_TTL", timedelta(seconds=1))
    stalled = CallStore(db, ZONE)
    at_renewal, resume = asyncio.Event(), asyncio.Event()
    renew = LeaseStore.renew

    async def stalling_renew(self: LeaseStore, lease: Lease) -> None:
        if not at_renewal.is_set():  # the first renewal is the stalled writer's
            at_renewal.set()
            await resume.wait()
        await renew(self, lease)

    monkeypatch.setattr(LeaseStore, "renew", stalling_renew)
    stalled_ingest = asyncio.create_task(stalled.ingest([late_a]))
    await at_renewal.wait()  # its call stored and merged, its roll-up not yet written
    assert await taker.ingest([late_b]) == 1  # waits out the 1 s lease, finds `ingesting`
    resume.set()
    with pytest.raises(LeaseLost):
        await stalled_ingest
    (doc,) = [d for d in await _rollups(db) if d["day"] == day.isoformat()]
    assert doc["state"] == "ready"
    await _assert_correct(db, [*calls, late_a, late_b])
