"""Long loops hand the event loop over every so many items, and lose none."""

from __future__ import annotations

import asyncio

from herald.shared.runtime.turns import in_turns


async def test_the_loop_is_handed_over_before_every_nth_item_and_every_item_comes() -> None:
    turns = 0
    seen_at: list[int] = []

    async def beside() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(beside())
    await asyncio.sleep(0)
    turns = 0
    items = [item async for item in in_turns(range(250), 50)]
    async for item in in_turns(range(3), 50):
        seen_at.append(turns)
        del item
    other.cancel()
    assert items == list(range(250))
    assert turns == 4, "before items 50, 100, 150 and 200; none for a short loop"
    assert seen_at == [4, 4, 4]
