"""`RecentReads`: one read shared by the renders of a few seconds, never a failure kept."""

from __future__ import annotations

import asyncio

import pytest

from herald.services.renderer.calldata.recent import RecentReads


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Reader:
    """Counts its reads; each returns its number, after `gate` opens."""

    def __init__(self) -> None:
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def __call__(self) -> int:
        self.reads += 1
        number = self.reads
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("MongoDB did not answer")
        return number


async def test_concurrent_asks_share_one_read() -> None:
    recent, read = RecentReads(5.0), Reader()
    read.gate.clear()
    asking = [asyncio.create_task(recent.get("day", read)) for _ in range(50)]
    await asyncio.sleep(0)
    read.gate.set()
    assert await asyncio.gather(*asking) == [1] * 50
    assert read.reads == 1


async def test_a_read_is_reused_until_it_is_ttl_old() -> None:
    clock = Clock()
    recent, read = RecentReads(5.0, clock=clock), Reader()
    assert await recent.get("day", read) == 1
    clock.now = 4.9
    assert await recent.get("day", read) == 1
    clock.now = 5.0
    assert await recent.get("day", read) == 2
    assert await recent.get("other day", read) == 3


async def test_a_zero_ttl_reads_every_time() -> None:
    recent, read = RecentReads(0.0), Reader()
    assert [await recent.get("day", read) for _ in range(3)] == [1, 2, 3]


async def test_a_failed_read_reaches_its_waiters_and_is_not_kept() -> None:
    recent, read = RecentReads(5.0), Reader()
    read.gate.clear()
    read.fail = True
    asking = [asyncio.create_task(recent.get("day", read)) for _ in range(3)]
    await asyncio.sleep(0)
    read.gate.set()
    results = await asyncio.gather(*asking, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    read.fail = False
    assert await recent.get("day", read) == 2


async def test_a_cancelled_asker_leaves_the_read_to_the_others() -> None:
    recent, read = RecentReads(5.0), Reader()
    read.gate.clear()
    first = asyncio.create_task(recent.get("day", read))
    second = asyncio.create_task(recent.get("day", read))
    await asyncio.sleep(0)
    first.cancel()
    read.gate.set()
    assert await second == 1
    with pytest.raises(asyncio.CancelledError):
        await first
    assert read.reads == 1


async def test_entries_are_bounded_oldest_first() -> None:
    recent, read = RecentReads(60.0, max_entries=2), Reader()
    for key in ("a", "b", "c"):
        await recent.get(key, read)
    assert await recent.get("c", read) == 3
    assert await recent.get("a", read) == 4  # evicted when "c" came in
