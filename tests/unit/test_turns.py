"""Long loops hand the event loop over every so many items, and lose none."""

from __future__ import annotations

from herald.shared.runtime.turns import in_turns
from tests.loop_turns import turns_beside


async def test_the_loop_is_handed_over_before_every_nth_item_and_every_item_comes() -> None:
    seen_at: list[int] = []
    async with turns_beside() as turns:
        items = [item async for item in in_turns(range(250), 50)]
        async for item in in_turns(range(3), 50):
            seen_at.append(turns.count)
            del item
    assert items == list(range(250))
    assert turns.count == 4, "before items 50, 100, 150 and 200; none for a short loop"
    assert seen_at == [4, 4, 4]
