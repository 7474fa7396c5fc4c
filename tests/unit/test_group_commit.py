"""Group commit: concurrent callers' writes go out together, each caller told its own result."""

from __future__ import annotations

import asyncio

import pytest

from herald.shared.runtime.group_commit import GroupCommit


class Writer:
    """A write that takes a while, recording each batch it was handed."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail

    async def write(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await asyncio.sleep(0.01)
        if self.fail:
            raise ConnectionError("the database went away")
        return [item * 10 for item in items]


async def test_items_submitted_while_a_write_is_out_go_together_in_the_next() -> None:
    writer = Writer()
    commit = GroupCommit(writer.write, limit=4)
    results = await asyncio.gather(*(commit.submit(n) for n in range(9)))
    assert results == [n * 10 for n in range(9)], "each caller its own result"
    # Submitted in one turn of the loop: they go out at once, the limit to a write.
    assert writer.batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]

    # One alone goes out alone; those that come while it is written go in the next write.
    writer.batches.clear()
    first = asyncio.create_task(commit.submit(0))
    await asyncio.sleep(0.001)
    await asyncio.gather(first, *(commit.submit(n) for n in (1, 2)))
    assert writer.batches == [[0], [1, 2]]


async def test_a_write_waits_for_the_tasks_the_loop_has_ready() -> None:
    """A task woken in the same turn as the writer (a reply read with another) joins its write."""
    writer = Writer()
    commit = GroupCommit(writer.write, limit=4)
    woken = asyncio.get_running_loop().create_future()

    async def woken_later() -> int:
        await woken
        return await commit.submit(2)

    later = asyncio.create_task(woken_later())
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0)  # `first` submits: the writer's task is scheduled
    woken.set_result(None)  # `later` is scheduled after the writer
    assert await asyncio.gather(first, later) == [10, 20]
    assert writer.batches == [[1, 2]]


async def test_a_failed_write_fails_every_caller_of_that_batch_and_the_next_goes_on() -> None:
    writer = Writer(fail=True)
    commit = GroupCommit(writer.write, limit=8)
    outcomes = await asyncio.gather(*(commit.submit(n) for n in range(3)), return_exceptions=True)
    assert [type(o) for o in outcomes] == [ConnectionError] * 3
    writer.fail = False
    assert await commit.submit(7) == 70


async def test_a_cancelled_caller_does_not_stop_the_write() -> None:
    writer = Writer()
    commit = GroupCommit(writer.write, limit=8)
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await commit.submit(2) == 20
    assert writer.batches == [[1], [2]], "the cancelled caller's item was written all the same"
