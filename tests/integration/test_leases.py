"""Leases on the real server: one holder at a time, taken over only after expiry."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.shared.contract.messages import utcnow
from herald.shared.runtime.leases import LEASES, LeaseLost, LeaseStore
from herald.shared.runtime.mongo import Document

pytestmark = pytest.mark.integration


async def test_many_contenders_one_holder(db: AsyncDatabase[Document]) -> None:
    stores = [LeaseStore(db[LEASES], timedelta(seconds=30)) for _ in range(8)]
    for _ in range(5):
        won = await asyncio.gather(*(s.acquire("shard-01") for s in stores))
        holders = [lease for lease in won if lease is not None]
        assert len(holders) == 1
        await stores[0].release(holders[0])


async def test_an_expired_lease_is_taken_over_and_its_old_holder_is_told(
    db: AsyncDatabase[Document],
) -> None:
    first = LeaseStore(db[LEASES], timedelta(seconds=30))
    second = LeaseStore(db[LEASES], timedelta(seconds=30))
    held = await first.acquire("timers")
    assert held is not None
    assert await second.acquire("timers") is None
    later = utcnow() + timedelta(seconds=31)
    taken = await second.acquire("timers", now=later)
    assert taken is not None
    assert taken.generation == held.generation + 1
    with pytest.raises(LeaseLost):
        await first.renew(held)


async def test_a_holder_that_stalled_through_two_takeovers_is_told_it_lost_the_lease(
    db: AsyncDatabase[Document],
) -> None:
    """Its next generation is gone too (the one after it removed both on release): a
    holder that only looked for the next one went on writing as if it held the shard."""
    stalled = LeaseStore(db[LEASES], timedelta(seconds=30))
    others = LeaseStore(db[LEASES], timedelta(seconds=30))
    held = await stalled.acquire("shard-03")
    assert held is not None
    later = utcnow() + timedelta(seconds=31)
    for _ in range(2):
        taken = await others.acquire("shard-03", now=later)
        assert taken is not None
        await others.release(taken)
    assert await db[LEASES].count_documents({"name": "shard-03"}) == 1, "only the newest left"
    with pytest.raises(LeaseLost):
        await stalled.renew(held)


async def test_a_release_removes_the_generations_before_it(db: AsyncDatabase[Document]) -> None:
    """Even those a crashed holder left: the collection stays a few documents a name."""
    store = LeaseStore(db[LEASES], timedelta(seconds=30))
    for _ in range(3):
        lease = await store.acquire("shard-07")
        assert lease is not None
        await store.release(lease)
    crashed = await store.acquire("shard-07")  # never released
    assert crashed is not None
    taken = await store.acquire("shard-07", now=utcnow() + timedelta(seconds=31))
    assert taken is not None
    assert await db[LEASES].count_documents({"name": "shard-07"}) == 3, "while held"
    await store.release(taken)
    left = [doc["generation"] async for doc in db[LEASES].find({"name": "shard-07"})]
    assert left == [taken.generation]
    assert await store.acquire("shard-07") is not None, "free again"
