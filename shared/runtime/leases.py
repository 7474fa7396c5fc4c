"""Leases that give one process a piece of work at a time, on MongoDB and FerretDB.

The scheduler's replicas take a shard's firing and the timers by lease; importers
of call data take a day's roll-up (`calldata/store.py`).

FerretDB 1.x runs a conditional update as a read, a filter in Go and an
unconditional write, so two processes "claiming" one lease document with a
filtered update would both succeed. Inserting a document with a unique `_id`
is atomic on both servers, so a lease is a series of generation documents
(`<name>:<generation>`): taking the lease means inserting the next
generation, which exactly one contender can do, and only once the current one
is released or expired. The holder alone writes its own generation document
(to renew or release it).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from herald.shared.contract.messages import utcnow
from herald.shared.runtime.mongo import Document

LEASES = "leases"


@dataclass(frozen=True, slots=True)
class Lease:
    """One generation of a named lease, taken by `owner`."""

    name: str
    generation: int
    owner: str


class LeaseLost(Exception):
    """Another holder took the lease after ours expired: stop before doing more."""


def _doc_id(name: str, generation: int) -> str:
    return f"{name}:{generation:012d}"


def _own_id(lease: Lease) -> str:
    return _doc_id(lease.name, lease.generation)


class LeaseStore:
    """The scheduler's `Leases` port on MongoDB and FerretDB; the roll-ups take it too."""

    def __init__(self, leases: AsyncCollection[Document], ttl: timedelta) -> None:
        self._leases = leases
        self._ttl = ttl
        #: One owner id per process: a restarted replica is a new owner.
        self.owner = f"{uuid.uuid4().hex[:12]}"

    async def ensure_indexes(self) -> None:
        await self._leases.create_index([("name", 1), ("generation", DESCENDING)])

    async def _latest(self, name: str) -> Document | None:
        # The collection holds at most three generations per name (a release removes
        # the older ones), so this scan is small on FerretDB too.
        docs = [doc async for doc in self._leases.find({"name": name})]
        return max(docs, key=lambda d: d["generation"], default=None)

    async def acquire(self, name: str, now: datetime | None = None) -> Lease | None:
        """The lease if it is free (never taken, released or expired), else None."""
        now = now or utcnow()
        latest = await self._latest(name)
        if latest is not None and not latest["released"] and latest["until"] > now:
            return None
        generation = 0 if latest is None else latest["generation"] + 1
        lease = Lease(name, generation, self.owner)
        try:
            await self._leases.insert_one(
                {
                    "_id": _own_id(lease),
                    "name": name,
                    "generation": generation,
                    "owner": self.owner,
                    "until": now + self._ttl,
                    "released": False,
                }
            )
        except DuplicateKeyError:
            return None  # another replica took this generation first
        return lease

    async def renew(self, lease: Lease) -> None:
        """Extend the lease; LeaseLost if a newer generation exists, or once its own document
        is gone: a later generation's release removed it (and the next one's too), so a
        holder that stalled through two takeovers finds no next generation to be told by."""
        renewed = await self._leases.update_one(
            {"_id": _own_id(lease)}, {"$set": {"until": utcnow() + self._ttl}}
        )
        if renewed.matched_count == 0 or await self._leases.find_one(
            {"_id": _doc_id(lease.name, lease.generation + 1)}
        ):
            raise LeaseLost(lease.name)

    async def release(self, lease: Lease) -> None:
        """Marks it released, and removes the generations before it, at once: done at
        `acquire`, that was one round trip more before a command could sync."""
        await asyncio.gather(
            self._leases.update_one({"_id": _own_id(lease)}, {"$set": {"released": True}}),
            self._leases.delete_many({"name": lease.name, "generation": {"$lt": lease.generation}}),
        )

    @contextlib.asynccontextmanager
    async def holding(self, name: str, *, wait_s: float) -> AsyncIterator[Lease]:
        """Hold the lease for a block, waiting up to `wait_s` for its holder to finish."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while (lease := await self.acquire(name)) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"lease {name} is busy")
            await asyncio.sleep(0.05)
        try:
            yield lease
        finally:
            await self.release(lease)
