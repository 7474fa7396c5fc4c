"""Firings missed while no scheduler ran, on in-memory ports: each accounted for exactly once.

The rule (`firing.timeline`): of the firings from the pending one up to now,
the latest is sent if it is no older than the catch-up window (by default one
period, so it always is), the earlier ones are published as `skipped`; past
the window, all of them are skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from herald.shared.contract.identity import ScheduleRef, fired_run_id
from herald.shared.contract.messages import CreateSchedule, RunStatus
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.runs.events import status_id
from tests.samples import DAILY_SPEC
from tests.scheduler_world import World, one_shard

DUE = datetime(2026, 11, 27, 8, tzinfo=UTC)
DAY = timedelta(days=1)
#: Three days down: the firings of DUE and the two days after are missed, the fourth is late.
MISSED = [DUE + DAY * d for d in range(4)]
SENT_INSTEAD = "missed; a later firing was sent instead"
PAST_WINDOW = "missed while no scheduler ran; past the catch-up window"
STRICT = DAILY_SPEC.model_copy(update={"catch_up_seconds": 600})


async def back_after_downtime(at: datetime, **specs: ScheduleSpec) -> World:
    """Schedules created before DUE, and the first tick of a scheduler back at `at`."""
    world = World(DUE - timedelta(hours=1))
    await world.send(
        *(
            CreateSchedule(command_id=uuid4(), tenant_id="acme", schedule_id=i, spec=s)
            for i, s in specs.items()
        )
    )
    await world.tick_at(at)
    return world


def skips(world: World) -> list[tuple[str, datetime | None, str | None]]:
    return sorted((m.run_id, m.scheduled_for, m.reason) for m in world.statuses(RunStatus.SKIPPED))


def skipped(
    schedule_id: str, times: list[datetime], reason: str
) -> list[tuple[str, datetime | None, str | None]]:
    return [(fired_run_id(ScheduleRef("acme", schedule_id), t), t, reason) for t in times]


async def test_after_three_missed_days_the_last_fires_once_and_the_rest_are_skipped() -> None:
    at = MISSED[-1] + timedelta(hours=1)
    world = await back_after_downtime(at, s=DAILY_SPEC)

    assert world.fired_ids() == [fired_run_id(ScheduleRef("acme", "s"), MISSED[-1])]
    (fired,) = world.fired()
    assert fired.run.window.end == MISSED[-1].replace(hour=0)
    assert fired.run.retry_until == MISSED[-1] + DAY
    assert skips(world) == skipped("s", MISSED[:-1], SENT_INSTEAD)
    for status in world.statuses(RunStatus.SKIPPED):
        assert (status.attempt, status.stage) == (1, "scheduler")
        assert status.event_id == status_id(
            status.run_id, 1, "scheduler", RunStatus.SKIPPED, status.occurred_at
        )
    assert world.pending() == {"s": MISSED[-1] + DAY}

    published = len(world.herd.published)
    await world.tick_at(at + timedelta(seconds=1))
    assert len(world.herd.published) == published, "each missed firing is accounted for once"


async def test_past_its_catch_up_window_every_missed_firing_is_skipped() -> None:
    world = await back_after_downtime(MISSED[-1] + timedelta(hours=1), s=STRICT)

    assert world.fired() == []
    assert world.statuses(RunStatus.DUE) == []
    assert skips(world) == skipped("s", MISSED, PAST_WINDOW)
    assert world.pending() == {"s": MISSED[-1] + DAY}


@pytest.mark.parametrize(
    ("late", "sent"), [(timedelta(seconds=600), True), (timedelta(seconds=601), False)]
)
async def test_the_catch_up_window_includes_its_last_second(late: timedelta, sent: bool) -> None:
    world = await back_after_downtime(MISSED[-1] + late, s=STRICT)

    assert world.fired_ids() == (
        [fired_run_id(ScheduleRef("acme", "s"), MISSED[-1])] if sent else []
    )
    reason = SENT_INSTEAD if sent else PAST_WINDOW
    assert skips(world) == skipped("s", MISSED[:-1] if sent else MISSED, reason)


async def test_by_default_the_missed_firing_is_sent_however_late_in_its_period() -> None:
    world = await back_after_downtime(DUE + DAY - timedelta(minutes=1), s=DAILY_SPEC)

    assert world.fired_ids() == [fired_run_id(ScheduleRef("acme", "s"), DUE)]
    assert skips(world) == []
    assert world.pending() == {"s": DUE + DAY}


async def test_schedules_of_one_slot_each_follow_their_own_catch_up_window() -> None:
    lenient, strict = one_shard(2)
    world = await back_after_downtime(
        DUE + timedelta(hours=1), **{lenient: DAILY_SPEC, strict: STRICT}
    )

    assert world.fired_ids() == [fired_run_id(ScheduleRef("acme", lenient), DUE)]
    assert skips(world) == skipped(strict, [DUE], PAST_WINDOW)
    assert world.pending() == {lenient: DUE + DAY, strict: DUE + DAY}


async def test_an_hourly_cron_down_for_hours_sends_only_the_latest_hour() -> None:
    hourly = ScheduleSpec.model_validate(
        DAILY_SPEC.model_dump(exclude={"time_of_day"})
        | {"frequency": "custom", "cron": "0 * * * *", "window": {"kind": "last_hours", "n": 1}}
    )
    hours = [DUE + timedelta(hours=h) for h in range(4)]
    world = await back_after_downtime(hours[-1] + timedelta(minutes=30), s=hourly)

    assert world.fired_ids() == [fired_run_id(ScheduleRef("acme", "s"), hours[-1])]
    assert skips(world) == skipped("s", hours[:-1], SENT_INSTEAD)
    assert world.pending() == {"s": hours[-1] + timedelta(hours=1)}
