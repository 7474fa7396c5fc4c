"""The ticker's timer buckets on in-memory ports: rung from the shared cursor, none missed.

The first test is the unit form of issue 20's handover: a replica taking the
`timers` lease over resumed from the buckets *it* had seen rung, and skipped
the ones its predecessor left unfinished.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from herald.services.scheduler.firing import run_details
from herald.services.scheduler.retries import Timer, TimerKind
from herald.services.scheduler.ticker import TIMERS_LEASE
from herald.services.scheduler.timers import BUCKET, bucket_of
from herald.shared.contract.messages import DeliveryStatus, ReportDue, RunStatus
from tests.samples import DAILY_SPEC
from tests.scheduler_world import World

NOW = datetime(2026, 11, 27, 12, 0, 3, tzinfo=UTC)


async def pending_retry(world: World, run_id: str, retry_at: datetime, armed_at: datetime) -> None:
    """A run waiting for its second attempt at `retry_at`, as the projection leaves it."""
    details = run_details(run_id, DAILY_SPEC, "UTC", retry_at - timedelta(minutes=5))
    common = {"tenant_id": "acme", "schedule_id": "s", "run_id": run_id, "attempt": 1}
    await world.history.project_run(
        [
            DeliveryStatus(**common, status=RunStatus.DUE, stage="scheduler", run=details),
            DeliveryStatus(
                **common,
                status=RunStatus.PENDING_RETRY,
                stage="mailer",
                next_attempt_at=retry_at,
            ),
        ]
    )
    await world.timers.arm(Timer(run_id, "acme", "s", 1, TimerKind.RETRY, retry_at), armed_at)


def refired(world: World) -> list[tuple[str, int]]:
    return sorted(
        (m.run.run_id, m.run.attempt) for m in world.herd.published if isinstance(m, ReportDue)
    )


async def test_a_replica_taking_the_timers_over_rings_what_its_predecessor_left() -> None:
    world = World(NOW)
    # The previous holder rang up to a minute ago and stopped; a timer waits in
    # the first bucket it did not finish.
    left_at = bucket_of(NOW) - timedelta(minutes=1)
    await world.timers.set_cursor(left_at)
    await pending_retry(world, "s@left", left_at + timedelta(seconds=5), left_at)
    other = world.replica()
    holder = await other.leases.acquire(TIMERS_LEASE)
    assert holder is not None

    await world.tick_at(NOW)  # the lease is held elsewhere: this replica only notes the bucket
    assert refired(world) == []
    assert await world.timers.cursor() == left_at
    await other.leases.release(holder)  # the holder is gone

    next_bucket = bucket_of(NOW) + BUCKET
    await world.tick_at(next_bucket + timedelta(seconds=0.1))
    assert refired(world) == [("s@left", 2)]
    assert await world.timers.cursor() == next_bucket
    assert world.timers.armed == {}


async def test_back_from_downtime_every_overdue_timer_rings_once() -> None:
    world = World(NOW)
    down_since = bucket_of(NOW) - timedelta(hours=1)
    await world.timers.set_cursor(down_since)
    for minutes in (5, 20, 55):
        due = down_since + timedelta(minutes=minutes, seconds=1)
        await pending_retry(world, f"s@{minutes}", due, down_since)

    await world.tick_at(NOW)
    assert refired(world) == [("s@20", 2), ("s@5", 2), ("s@55", 2)]
    assert await world.timers.cursor() == bucket_of(NOW)

    await world.tick_at(NOW + BUCKET)
    assert len(refired(world)) == 3, "no timer rings twice"
