"""Retry and stuck-run timers on the real server: no ring is ever lost.

Both tests failed before the fix of issue 20, where a herd's retries stopped
being fired: a replica taking the timers lease over resumed from the buckets
*it* had seen rung instead of the shared cursor, skipping the buckets its
predecessor left unfinished; and a timer written just after the ticker read
its bucket was never read again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.services.scheduler.calendar import Calendar
from herald.services.scheduler.firing import run_details
from herald.services.scheduler.retries import Timer, TimerKind
from herald.services.scheduler.slots import SlotStore
from herald.services.scheduler.store import SchedulerStore
from herald.services.scheduler.ticker import TIMERS_LEASE, Ticker
from herald.services.scheduler.timers import BUCKET, TimerStore, bucket_of
from herald.shared.contract.messages import DeliveryStatus, Envelope, ReportDue, RunStatus
from herald.shared.history import store as history_store
from herald.shared.runtime.leases import LEASES, LeaseStore
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.fakes.scheduler import MemoryStageQueues
from tests.samples import DAILY_SPEC

pytestmark = pytest.mark.integration

SPEC = DAILY_SPEC


class Published:
    """The ticker's publisher, keeping what it was given."""

    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def publish(self, messages: Sequence[Envelope]) -> None:
        self.messages += messages

    def refired(self) -> list[tuple[str, int]]:
        return [(m.run.run_id, m.run.attempt) for m in self.messages if isinstance(m, ReportDue)]


def _ticker(settings: Settings, db: AsyncDatabase[Document], published: Published) -> Ticker:
    leases = LeaseStore(db[LEASES], timedelta(seconds=settings.scheduler.lease_ttl_s))
    slots = SlotStore(db)
    calendar = Calendar(SchedulerStore(db), slots, leases, published, "UTC")  # type: ignore[arg-type]
    runs = history_store.MongoRunHistory(db[history_store.RUNS])
    return Ticker(
        settings,
        calendar,
        slots,
        leases,
        TimerStore(db),
        runs,
        published,  # type: ignore[arg-type]
        MemoryStageQueues(),
    )


async def _pending_retry(db: AsyncDatabase[Document], run_id: str, retry_at: datetime) -> Timer:
    """A run waiting for its second attempt at `retry_at`, as the projection leaves it."""
    details = run_details(run_id, SPEC, "UTC", retry_at - timedelta(minutes=5))
    common = {"tenant_id": "acme", "schedule_id": "s1", "run_id": run_id, "attempt": 1}
    for event in (
        DeliveryStatus(**common, status=RunStatus.DUE, stage="scheduler", run=details),
        DeliveryStatus(
            **common,
            status=RunStatus.PENDING_RETRY,
            stage="mailer",
            reason="451 try later",
            next_attempt_at=retry_at,
        ),
    ):
        await history_store.project(db[history_store.RUNS], event)
    return Timer(run_id, "acme", "s1", 1, TimerKind.RETRY, retry_at)


async def test_a_replica_taking_the_timers_over_rings_what_its_predecessor_left(
    settings: Settings, db: AsyncDatabase[Document]
) -> None:
    now = datetime.now(UTC)
    timers = TimerStore(db)
    # The previous holder rang up to a minute ago and stopped (killed, or its lease ran out
    # in a long bucket); a timer waits in the first bucket it did not finish.
    left_at = bucket_of(now) - timedelta(minutes=1)
    await timers.set_cursor(left_at)
    timer = await _pending_retry(db, "s1@left", left_at + timedelta(seconds=5))
    await timers.arm(timer, left_at - timedelta(seconds=1))

    published = Published()
    ticker = _ticker(settings, db, published)
    leases = LeaseStore(db[LEASES], timedelta(seconds=settings.scheduler.lease_ttl_s))
    holder = await leases.acquire(TIMERS_LEASE)
    assert holder is not None
    await ticker.tick()  # the lease is held elsewhere: this replica only notes the bucket
    assert published.refired() == []
    await leases.release(holder)  # the holder is gone

    # At the next bucket this replica takes the lease over.
    next_bucket = bucket_of(now) + BUCKET
    await asyncio.sleep((next_bucket - datetime.now(UTC)).total_seconds() + 0.1)
    await ticker.tick()
    assert published.refired() == [("s1@left", 2)]
    assert await timers.cursor() == next_bucket


async def test_a_timer_armed_into_a_bucket_already_read_moves_to_the_next(
    settings: Settings, db: AsyncDatabase[Document]
) -> None:
    now = datetime.now(UTC)
    timers = TimerStore(db)
    current = bucket_of(now)
    # The ticker has claimed the current bucket and read it; the projection's write of
    # a timer for that bucket, computed a moment earlier, lands only now.
    await timers.claim(current, current - BUCKET)
    timer = await _pending_retry(db, "s1@late", current - timedelta(seconds=3))
    await timers.arm(timer, current - timedelta(seconds=1))
    assert [t.run_id for t in await timers.ringing(current)] == []
    assert [t.run_id for t in await timers.ringing(current + BUCKET)] == ["s1@late"]


async def test_a_bucket_of_many_timers_rings_them_all(
    settings: Settings, db: AsyncDatabase[Document]
) -> None:
    now = datetime.now(UTC)
    timers = TimerStore(db)
    start = bucket_of(now) - BUCKET
    await timers.set_cursor(start - BUCKET)
    for n in range(100):
        timer = await _pending_retry(db, f"s1@{n:03d}", start - timedelta(seconds=1))
        await timers.arm(timer, start - timedelta(seconds=11))
    published = Published()
    await _ticker(settings, db, published).tick()
    assert sorted(published.refired()) == [(f"s1@{n:03d}", 2) for n in range(100)]
    assert await timers.ringing(start) == []


async def test_first_timers_of_a_herd_are_inserted_at_once_and_one_already_there_kept(
    db: AsyncDatabase[Document],
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)  # stored to the millisecond
    timers = TimerStore(db)
    due = now + timedelta(minutes=15)
    kept = Timer("s1@000", "acme", "s1", 1, TimerKind.DEADLINE, due + timedelta(minutes=1))
    await timers.arm(kept, now)
    herd = [Timer(f"s1@{n:03d}", "acme", "s1", 1, TimerKind.DEADLINE, due) for n in range(300)]
    await timers.arm_all(herd, now, first=True)

    filed = await timers.ringing_until(bucket_of(due) + timedelta(minutes=2))
    assert len(filed) == 300
    assert {t.due for t in filed if t.run_id == "s1@000"} == {kept.due}, "the one there is kept"

    moved = [Timer(f"s1@{n:03d}", "acme", "s1", 1, TimerKind.RETRY, now) for n in range(3)]
    await timers.arm_all(moved, now)
    filed = await timers.ringing_until(bucket_of(due) + timedelta(minutes=2))
    assert sorted(t.kind for t in filed if t.run_id < "s1@003") == [TimerKind.RETRY] * 3
