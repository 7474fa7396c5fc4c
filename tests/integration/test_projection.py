"""The scheduler's batch projection on the real server: one read and one write per run."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.services.scheduler.firing import run_details
from herald.services.scheduler.projection import Projection
from herald.services.scheduler.timers import TimerStore, bucket_key, ring_bucket
from herald.shared.contract.messages import DeliveryStatus, RunStatus
from herald.shared.history import store as history_store
from herald.shared.history.store import MongoRunHistory
from herald.shared.runtime.mongo import Document
from tests.samples import DAILY_SPEC

pytestmark = pytest.mark.integration

SPEC = DAILY_SPEC
STUCK = timedelta(minutes=15)


def _attempt(run_id: str, tenant: str, retry_at: datetime) -> list[DeliveryStatus]:
    """A first attempt that the mailer sent to `pending_retry`."""
    details = run_details(run_id, SPEC, "UTC", retry_at - timedelta(minutes=1))
    common = {"tenant_id": tenant, "schedule_id": "s", "run_id": run_id, "attempt": 1}
    return [
        DeliveryStatus(**common, status=RunStatus.DUE, stage="scheduler", run=details),
        DeliveryStatus(**common, status=RunStatus.RENDERED, stage="renderer", artifact_id="a"),
        DeliveryStatus(
            **common,
            status=RunStatus.PENDING_RETRY,
            stage="mailer",
            reason="451 later",
            next_attempt_at=retry_at,
        ),
    ]


async def test_a_shuffled_batch_of_many_runs_is_projected_once_with_its_timers(
    db: AsyncDatabase[Document],
) -> None:
    retry_at = datetime.now(UTC) + timedelta(minutes=5)
    events = [e for n in range(200) for e in _attempt(f"s@{n:03d}", "acme", retry_at)]
    random.Random(7).shuffle(events)
    projection = Projection(MongoRunHistory(db[history_store.RUNS]), TimerStore(db), STUCK)
    assert await projection.apply([(n, e) for n, e in enumerate(events)]) == []

    docs = {doc["_id"]: doc async for doc in db[history_store.RUNS].find({})}
    assert len(docs) == 200
    assert {doc["status"] for doc in docs.values()} == {"pending_retry"}
    assert {len(doc["events"]) for doc in docs.values()} == {3}
    assert {doc["rev"] for doc in docs.values()} == {1}, "one write per run"
    timers = [doc async for doc in db["timers"].find({})]
    assert sorted(t["run_id"] for t in timers) == sorted(docs)
    assert {t["bucket"] for t in timers} == {bucket_key(ring_bucket(retry_at, retry_at))}

    # Read again (an outage, a rebalance): nothing changes.
    assert await projection.apply([(n, e) for n, e in enumerate(events)]) == []
    again = {doc["_id"]: doc["rev"] async for doc in db[history_store.RUNS].find({})}
    assert set(again.values()) == {1}


async def test_events_that_contradict_their_run_are_returned_and_the_rest_projected(
    db: AsyncDatabase[Document],
) -> None:
    retry_at = datetime.now(UTC) + timedelta(minutes=5)
    projection = Projection(MongoRunHistory(db[history_store.RUNS]), TimerStore(db), STUCK)
    await projection.apply(list(enumerate(_attempt("s@1", "acme", retry_at))))
    # Another tenant's events under the same run id, beside a good run.
    intruder = _attempt("s@1", "globex", retry_at)
    good = _attempt("s@2", "acme", retry_at)
    failed = await projection.apply([("bad", e) for e in intruder] + [("ok", e) for e in good])
    assert [(f.origins, type(f.error)) for f in failed] == [(["bad"] * 3, ValueError)]
    record = await history_store.get_run(db[history_store.RUNS], "acme", "s@2")
    assert record is not None
    assert record.status is RunStatus.PENDING_RETRY
    assert await history_store.get_run(db[history_store.RUNS], "globex", "s@1") is None
