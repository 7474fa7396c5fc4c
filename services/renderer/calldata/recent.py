"""Reads of the last few seconds, shared by the renders of a herd.

At the top of the hour a tenant's schedules render the same days at once:
each run read the same roll-up, session and dimension documents again, one
MongoDB command each, thousands of times a minute. Here each read is made
once and reused for `ttl_s`; renders asking while it is in flight wait for
it. A render that reuses a read a few seconds old sees what it would have
seen had it started those seconds earlier, which no ordering guarantee rules
out: ingestion and rendering never promised each other an order.

Values are shared between renders and must be treated as read-only. Entries
expire in the order they were read, so memory holds at most the last `ttl_s`
seconds of reads (and `max_entries`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class RecentReads:
    def __init__(
        self,
        ttl_s: float,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, asyncio.Future[Any]]] = OrderedDict()

    async def get(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """`read()`'s result, made at most `ttl_s` ago (a failed read is not kept)."""
        if self._ttl_s <= 0:
            return await read()
        now = self._clock()
        self._expire(now)
        entry = self._entries.get(key)
        if entry is None:
            future: asyncio.Future[T] = asyncio.ensure_future(read())
            entry = (now + self._ttl_s, future)
            self._entries[key] = entry
            future.add_done_callback(lambda done: self._forget_failed(key, done))
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        # Shielded: a render cancelled while waiting leaves the read to the others.
        result: T = await asyncio.shield(entry[1])
        return result

    def _expire(self, now: float) -> None:
        while self._entries:
            expires, _ = next(iter(self._entries.values()))
            if expires > now:
                return
            self._entries.popitem(last=False)

    def _forget_failed(self, key: Hashable, done: asyncio.Future[Any]) -> None:
        entry = self._entries.get(key)
        if entry is not None and entry[1] is done and (done.cancelled() or done.exception()):
            del self._entries[key]
