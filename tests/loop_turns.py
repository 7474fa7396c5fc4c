"""Counting the turns a task beside the code under test gets on the event loop.

A loop that never awaits gives it none; one that hands the loop over every N
items gives it one per N.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass
class Turns:
    count: int = 0


@asynccontextmanager
async def turns_beside() -> AsyncIterator[Turns]:
    """Turns counted from inside the block; the counting task is gone after it."""
    turns = Turns()

    async def beside() -> None:
        while True:
            turns.count += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(beside())
    await asyncio.sleep(0)
    turns.count = 0
    try:
        yield turns
    finally:
        other.cancel()
