"""`pacing.VolumeGate` on FerretDB: two replicas racing for one tenant's allowed volume.

Windows of seconds instead of a minute and a day, so the test sees several
pass; the slots and the rule are the same.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.services.mailer.cleanup import mailer_cleanup
from herald.services.mailer.pacing import VOLUME, VolumeGate
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings

pytestmark = pytest.mark.integration

TENANT = "acme"


async def _admit_all(
    gates: list[VolumeGate], count: int, per_minute: int | None, per_day: int | None
) -> list[tuple[float, float]]:
    """Every admit at once, spread over the replicas; each one's (admitted at, waited)."""

    async def one(gate: VolumeGate) -> tuple[float, float]:
        waited = await gate.admit(TENANT, per_minute, per_day)
        return time.time(), waited

    return await asyncio.gather(*(one(gates[n % len(gates)]) for n in range(count)))


def _windows(times: list[float], length: float) -> Counter[int]:
    return Counter(math.floor(t / length) for t in times)


async def test_two_replicas_admit_at_most_the_limit_in_each_window(
    db: AsyncDatabase[Document],
) -> None:
    minute_s = 2.0
    gates = [VolumeGate(db, minute_s=minute_s) for _ in range(2)]
    began = time.time()

    admitted = await _admit_all(gates, 30, per_minute=10, per_day=None)

    times = [at for at, _ in admitted]
    assert len(times) == 30  # every email admitted in the end
    per_window = _windows(times, minute_s)
    assert max(per_window.values()) <= 10
    assert len(per_window) >= 3
    assert sum(waited > 0 for _, waited in admitted) >= 20  # the first window holds 10 at most
    assert time.time() - began < 4 * minute_s
    slots = await db[VOLUME].find({}, {"_id": 1}).to_list()
    labels = Counter(doc["_id"].rsplit("|", 1)[0] for doc in slots)
    assert all(label.startswith(f"{TENANT}|m|") for label in labels)
    assert max(labels.values()) <= 10
    assert sum(labels.values()) >= 30  # one slot per email (more only if a window ended mid-insert)


async def test_the_day_window_holds_the_rest_until_the_next_day(
    db: AsyncDatabase[Document],
) -> None:
    minute_s, day_s = 0.5, 2.0
    gates = [VolumeGate(db, minute_s=minute_s, day_s=day_s) for _ in range(2)]

    admitted = await _admit_all(gates, 12, per_minute=5, per_day=8)

    times = [at for at, _ in admitted]
    assert len(times) == 12
    assert max(_windows(times, minute_s).values()) <= 5
    assert max(_windows(times, day_s).values()) <= 8
    assert len(_windows(times, day_s)) >= 2
    slots = await db[VOLUME].find({"_id": {"$regex": r"\|d\|"}}, {"_id": 1}).to_list()
    assert max(Counter(doc["_id"].rsplit("|", 1)[0] for doc in slots).values()) <= 8


async def test_slots_expire(db: AsyncDatabase[Document]) -> None:
    """By the TTL index on MongoDB; FerretDB 1.24 has none, so the mailer's clean-up
    sweeps old days (`cleanup.py`, `shared/runtime/retention.py`)."""
    cleanup = mailer_cleanup(db, Settings())
    await cleanup.prepare()
    today = datetime.now(UTC)
    old, recent = today - timedelta(days=5), today - timedelta(days=1)
    await db[VOLUME].insert_many(
        [
            {"_id": f"{TENANT}|d|old|0", "at": old, "day": old.date().isoformat()},
            {"_id": f"{TENANT}|d|recent|0", "at": recent, "day": recent.date().isoformat()},
        ]
    )
    await cleanup.run_once()
    left = [doc["_id"] async for doc in db[VOLUME].find({})]
    assert left == [f"{TENANT}|d|recent|0"]
