"""`CachedArtifacts` on the in-memory artifacts: each artifact read once, bounded, never stale."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from gridfs.errors import CorruptGridFile, NoFile

from herald.shared.runtime.artifact_cache import CachedArtifacts
from tests.fakes.artifacts import MemoryArtifacts


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _store(artifacts: MemoryArtifacts | CachedArtifacts, file_id: str, data: bytes) -> None:
    await artifacts.put(file_id, "f.csv", "text/csv", _one(data), {})


class SlowArtifacts(MemoryArtifacts):
    """Reads wait for `release`, so a test can pile readers up on one read; may fail once."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        #: Set once a read has the bytes and waits for `release`.
        self.holding = asyncio.Event()
        self.fail_next = False

    async def read(self, file_id: str) -> bytes:
        data = await super().read(file_id)
        self.holding.set()
        await self.release.wait()
        if self.fail_next:
            self.fail_next = False
            raise CorruptGridFile(f"artifact {file_id!r}: chunk 1 missing")
        return data


async def test_an_artifact_is_read_once_then_served_from_memory() -> None:
    inner = MemoryArtifacts()
    cache = CachedArtifacts(inner)
    await _store(cache, "r/csv", b"a,b\r\n")

    assert [await cache.read("r/csv") for _ in range(3)] == [b"a,b\r\n"] * 3
    assert inner.reads == 1
    assert inner.puts == 1
    assert await cache.find("r/csv") == await inner.find("r/csv")


async def test_reads_at_once_of_one_missing_id_are_one_read() -> None:
    inner = SlowArtifacts()
    cache = CachedArtifacts(inner)
    await _store(inner, "r/pdf", b"%PDF")

    readers = [asyncio.create_task(cache.read("r/pdf")) for _ in range(5)]
    await asyncio.sleep(0)
    inner.release.set()

    assert await asyncio.gather(*readers) == [b"%PDF"] * 5
    assert inner.reads == 1


async def test_a_failed_read_reaches_every_waiter_and_is_not_kept() -> None:
    inner = SlowArtifacts()
    inner.fail_next = True
    cache = CachedArtifacts(inner)
    await _store(inner, "r/pdf", b"%PDF")

    readers = [asyncio.create_task(cache.read("r/pdf")) for _ in range(3)]
    await asyncio.sleep(0)
    inner.release.set()
    outcomes = await asyncio.gather(*readers, return_exceptions=True)

    assert all(isinstance(outcome, CorruptGridFile) for outcome in outcomes)
    assert cache.size == 0
    assert await cache.read("r/pdf") == b"%PDF"  # read again, complete this time
    assert inner.reads == 2
    with pytest.raises(NoFile):
        await cache.read("never/stored")


async def test_a_reader_cancelled_leaves_the_read_to_the_others() -> None:
    inner = SlowArtifacts()
    cache = CachedArtifacts(inner)
    await _store(inner, "r/csv", b"a\r\n")
    first, second = (asyncio.create_task(cache.read("r/csv")) for _ in range(2))
    await asyncio.sleep(0)

    first.cancel()
    inner.release.set()

    assert await second == b"a\r\n"
    assert first.cancelled()
    assert inner.reads == 1


async def test_the_least_recently_read_go_first_and_the_bytes_stay_bounded() -> None:
    inner = MemoryArtifacts()
    cache = CachedArtifacts(inner, max_bytes=10)
    for name in "abc":
        await _store(inner, name, name.encode() * 4)
    await _store(inner, "huge", b"x" * 11)

    await cache.read("a")
    await cache.read("b")
    await cache.read("a")  # now the most recent: "b" goes when "c" comes
    await cache.read("c")
    assert cache.size == 8
    reads = inner.reads
    assert await cache.read("a") == b"aaaa"
    assert await cache.read("c") == b"cccc"
    assert inner.reads == reads
    assert await cache.read("b") == b"bbbb"
    assert inner.reads == reads + 1

    assert await cache.read("huge") == b"x" * 11  # larger than the cache: never kept
    assert await cache.read("huge") == b"x" * 11
    assert inner.reads == reads + 3
    assert cache.size <= 10


async def test_a_deleted_artifact_is_not_served_from_memory() -> None:
    """An id deleted and stored again (a render redone) is read afresh, even mid-read."""
    inner = SlowArtifacts()
    inner.release.set()
    cache = CachedArtifacts(inner)
    await _store(cache, "r/csv", b"old")
    assert await cache.read("r/csv") == b"old"

    await cache.delete("r/csv")
    with pytest.raises(NoFile):
        await cache.read("r/csv")
    await _store(cache, "r/csv", b"new")
    assert await cache.read("r/csv") == b"new"

    inner.release.clear()
    await _store(inner, "r/other", b"old")
    inner.holding.clear()
    under_way = asyncio.create_task(cache.read("r/other"))
    await inner.holding.wait()  # the old bytes are read, the read not yet finished
    await cache.delete("r/other")
    await _store(inner, "r/other", b"new")
    inner.release.set()
    assert await under_way == b"old"
    assert await cache.read("r/other") == b"new"
