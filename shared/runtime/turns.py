"""Long loops on the shared event loop hand it over now and then.

A service's loop also carries its commands, replies and Kafka traffic: a herd's
chunk of messages serialised at once, or a batch of a thousand runs folded at
once, held it 100 ms, and a command beside it waited that long at each of its
round trips.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import TypeVar

T = TypeVar("T")


async def in_turns(items: Iterable[T], every: int) -> AsyncIterator[T]:
    """The items, with the event loop handed over before each `every`-th after the first."""
    for n, item in enumerate(items):
        if n and n % every == 0:
            await asyncio.sleep(0)
        yield item
