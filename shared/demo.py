"""A deterministic demo dataset: a contact center's calls, so reports have something to show.

Seeded: the same seed and anchor day give the same calls. The catalog issue
grows this into the full dataset; today it feeds the Campaign Summary.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document

DEMO_TENANT = "demo"
CAMPAIGNS = ("acme-renewals", "solar-leads", "insurance-q4")
AGENTS = tuple(f"agent-{n:02d}" for n in range(1, 13))
#: Calls per hour of the working day (08:00-19:00), shaping a daily pattern.
_HOURLY_WEIGHTS = (3, 6, 8, 8, 5, 4, 6, 8, 7, 5, 3)
_BATCH = 5000


def generate_calls(
    tenant_id: str, calls: int, days: int, anchor: date, seed: int = 7
) -> Iterator[Document]:
    rng = random.Random(seed)
    first_day = anchor - timedelta(days=days)
    for n in range(calls):
        day = first_day + timedelta(days=rng.randrange(days))
        hour = 8 + rng.choices(range(len(_HOURLY_WEIGHTS)), _HOURLY_WEIGHTS)[0]
        started = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), UTC)
        answered = rng.random() < 0.42
        sale = answered and rng.random() < 0.18
        yield {
            "_id": f"{tenant_id}-call-{n:08d}",
            "tenant_id": tenant_id,
            "started_at": started,
            "day": day.isoformat(),
            "campaign_id": rng.choice(CAMPAIGNS),
            "agent_id": rng.choice(AGENTS),
            "answered": int(answered),
            "sale": int(sale),
            "talk_s": rng.randrange(30, 600) if answered else 0,
        }


async def seed(
    db: AsyncDatabase[Document], *, tenant_id: str, calls: int, days: int, anchor: date
) -> int:
    """Replace the tenant's demo calls; returns how many were written."""
    collection = db["calls"]
    await collection.delete_many({"tenant_id": tenant_id})
    batch: list[dict[str, Any]] = []
    written = 0
    for call in generate_calls(tenant_id, calls, days, anchor):
        batch.append(call)
        if len(batch) >= _BATCH:
            await collection.insert_many(batch, ordered=False)
            written += len(batch)
            batch = []
    if batch:
        await collection.insert_many(batch, ordered=False)
        written += len(batch)
    return written
