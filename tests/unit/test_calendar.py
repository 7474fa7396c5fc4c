"""The calendar and the ticker firing slots on in-memory ports: once per run id, under a lease."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from herald.services.scheduler import calendar
from herald.services.scheduler.calendar import FIRE_CHUNK
from herald.services.scheduler.commands import ScheduleState
from herald.services.scheduler.ports import LeaseLost, Written
from herald.services.scheduler.slots import shard_lease, shard_of
from herald.shared.contract.identity import ScheduleRef, fired_run_id
from herald.shared.contract.messages import (
    CreateSchedule,
    DeleteSchedule,
    DisableSchedule,
    EnableSchedule,
    Envelope,
    RunStatus,
    UpdateSchedule,
)
from herald.shared.contract.schedule_spec import ScheduleChanges, ScheduleSpec
from herald.shared.runs.events import status_id
from tests.fakes.scheduler import Crash, MemorySchedules, RecordingHerd
from tests.samples import DAILY_SPEC
from tests.scheduler_world import LEASE_TTL, World, one_shard

#: DAILY_SPEC fires at 08:00 UTC.
DUE = datetime(2026, 11, 27, 8, tzinfo=UTC)
BEFORE = DUE - timedelta(hours=1)
ON_TIME = DUE + timedelta(seconds=2)
DAY = timedelta(days=1)


def create(schedule_id: str, spec: ScheduleSpec = DAILY_SPEC) -> CreateSchedule:
    return CreateSchedule(command_id=uuid4(), tenant_id="acme", schedule_id=schedule_id, spec=spec)


async def test_a_due_minute_fires_each_schedule_once_and_plans_its_next_firing() -> None:
    world = World(BEFORE)
    ids = ["s-1", "s-2", "s-3"]
    await world.send(*(create(i) for i in ids))
    assert world.pending() == dict.fromkeys(ids, DUE)

    await world.tick_at(DUE - timedelta(seconds=1))
    assert world.herd.published == []
    await world.tick_at(ON_TIME)
    await world.tick_at(ON_TIME + timedelta(seconds=1))  # the minute is done: nothing again

    runs = [fired_run_id(ScheduleRef("acme", i), DUE) for i in ids]
    assert world.fired_ids() == runs
    due = world.statuses(RunStatus.DUE)
    assert sorted(m.run_id for m in due) == runs
    for m in due:
        assert m.event_id == status_id(m.run_id, 1, "scheduler", RunStatus.DUE, m.occurred_at)
    assert world.statuses(RunStatus.SKIPPED) == []
    for message in world.fired():
        (status,) = [m for m in due if m.run_id == message.run.run_id]
        assert status.run == message.run
        assert (message.tenant_id, message.run.scheduled_for) == ("acme", DUE)
        assert message.run.window.end == DUE.replace(hour=0)  # yesterday's data
        assert message.run.retry_until == DUE + DAY  # retries end at the next firing
    assert world.pending() == dict.fromkeys(ids, DUE + DAY)
    assert await world.slots.next_due() == {shard_of(f"acme/{i}"): DUE + DAY for i in ids}


async def test_a_disabled_schedule_does_not_fire_until_enabled_again() -> None:
    world = World(BEFORE)
    await world.send(
        create("s-1"), DisableSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="s-1")
    )
    assert world.pending() == {}
    await world.tick_at(ON_TIME)
    assert world.herd.published == []

    world.clock.now = DUE + timedelta(hours=1)
    await world.send(EnableSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="s-1"))
    await world.tick_at(ON_TIME + DAY)
    assert world.fired_ids() == [fired_run_id(ScheduleRef("acme", "s-1"), DUE + DAY)]


async def test_a_deleted_schedule_does_not_fire() -> None:
    """A delete keeps the version; it still empties the schedule's slots (it once did not)."""
    world = World(BEFORE)
    await world.send(
        create("s-1"), DeleteSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="s-1")
    )
    assert world.pending() == {}
    await world.tick_at(ON_TIME)
    assert world.herd.published == []


async def test_an_update_moves_the_firing_to_the_new_time() -> None:
    world = World(BEFORE)
    later = UpdateSchedule(
        command_id=uuid4(),
        tenant_id="acme",
        schedule_id="s-1",
        changes=ScheduleChanges(time_of_day=DUE.replace(hour=9).time()),
        expected_version=1,
    )
    await world.send(create("s-1"), later)
    await world.tick_at(ON_TIME)
    assert world.herd.published == []
    await world.tick_at(ON_TIME + timedelta(hours=1))
    assert world.fired_ids() == [fired_run_id(ScheduleRef("acme", "s-1"), DUE + timedelta(hours=1))]


async def test_a_due_firing_changed_before_the_ticker_reached_it_fires_on_the_new_terms() -> None:
    world = World(BEFORE)
    await world.send(create("s-1"))
    world.clock.now = DUE + timedelta(seconds=30)  # due, but no tick yet
    await world.send(
        UpdateSchedule(
            command_id=uuid4(),
            tenant_id="acme",
            schedule_id="s-1",
            changes=ScheduleChanges(recipients=["b@example.com"]),
            expected_version=1,
        )
    )
    await world.tick_at(DUE + timedelta(seconds=31))
    (fired,) = world.fired()
    assert (fired.run.run_id, fired.run.recipients) == (
        fired_run_id(ScheduleRef("acme", "s-1"), DUE),
        ["b@example.com"],
    )


async def test_imported_schedules_fire_from_their_first_slot() -> None:
    world = World(BEFORE)
    states = [ScheduleState(i, "acme", DAILY_SPEC, 1, None) for i in ("s-1", "s-2")]
    await world.first.calendar.import_schedules(states, BEFORE)
    assert world.pending() == {"s-1": DUE, "s-2": DUE}
    await world.first.calendar.sync("s-1")  # stored as synced: nothing to redo
    assert world.pending() == {"s-1": DUE, "s-2": DUE}
    await world.tick_at(ON_TIME)
    assert world.fired_ids() == [
        fired_run_id(ScheduleRef("acme", "s-1"), DUE),
        fired_run_id(ScheduleRef("acme", "s-2"), DUE),
    ]


async def test_a_shard_leased_by_another_replica_is_left_to_it() -> None:
    world = World(BEFORE)
    await world.send(create("s-1"))
    other = world.replica()
    held = await other.leases.acquire(shard_lease(shard_of("acme/s-1")), ON_TIME)
    assert held is not None

    await world.tick_at(ON_TIME)
    assert world.herd.published == []
    assert world.pending() == {"s-1": DUE}

    # The holder dies without releasing: once its lease runs out, this replica fires.
    await world.tick_at(ON_TIME + LEASE_TTL + timedelta(seconds=1))
    assert world.fired_ids() == [fired_run_id(ScheduleRef("acme", "s-1"), DUE)]
    with pytest.raises(LeaseLost):
        await other.leases.renew(held)


async def test_a_replica_whose_lease_was_taken_over_publishes_nothing() -> None:
    world = World(BEFORE)
    await world.send(create("s-1"))
    shard = shard_of("acme/s-1")
    late = await world.first.leases.acquire(shard_lease(shard), ON_TIME)
    assert late is not None
    world.clock.now = ON_TIME + LEASE_TTL + timedelta(seconds=1)  # stalled past its ttl
    other = world.replica()
    taken = await other.leases.acquire(shard_lease(shard))
    assert taken is not None

    with pytest.raises(LeaseLost):
        await world.first.calendar.fire_shard(shard, late, world.clock())
    assert world.herd.published == []
    assert await other.calendar.fire_shard(shard, taken, world.clock()) == 1
    assert world.fired_ids() == [fired_run_id(ScheduleRef("acme", "s-1"), DUE)]


async def test_a_crash_after_publishing_fires_the_same_run_ids_again() -> None:
    world = World(BEFORE)
    ids = one_shard(3)
    shard = shard_of(f"acme/{ids[0]}")
    await world.send(*(create(i) for i in ids))
    world.clock.now = ON_TIME
    lease = await world.first.leases.acquire(shard_lease(shard))
    assert lease is not None
    world.slots.fail_next_drop = Crash()
    with pytest.raises(Crash):
        await world.first.calendar.fire_shard(shard, lease, ON_TIME)
    # Dead before the slot went: the next firings are planned, the fired slot is still there.
    assert await world.slots.minutes(shard) == [DUE, DUE + DAY]
    before_crash = world.published_ids()

    # Another replica takes the shard once the dead one's lease runs out.
    world.clock.now = ON_TIME + LEASE_TTL + timedelta(seconds=1)
    await world.replica().ticker.tick()

    runs = sorted(fired_run_id(ScheduleRef("acme", i), DUE) for i in ids)
    assert world.fired_ids() == sorted(runs * 2)
    # The same runs (downstream deduplicates by run); their `due` said again, later: new events.
    again = world.published_ids()[len(before_crash) :]
    assert [(kind, run) for kind, run, _ in again] == [(kind, run) for kind, run, _ in before_crash]
    assert not {i for *_, i in again if i} & {i for *_, i in before_crash if i}
    assert await world.slots.minutes(shard) == [DUE + DAY]
    assert sorted(p.schedule_id for p in world.slots.entries()) == sorted(ids)
    assert world.pending() == dict.fromkeys(ids, DUE + DAY)


async def test_start_up_clears_the_firings_that_older_deletes_left() -> None:
    world = World(BEFORE)
    await world.send(create("s-1"), create("s-2"))
    world.schedules.rows["acme/s-1"].deleted = True  # as a delete before issue 13 left it
    assert await world.first.calendar.forget_deleted() == 1
    assert world.pending() == {"s-2": DUE}
    assert await world.first.calendar.forget_deleted() == 0


class ReadCounting(MemorySchedules):
    """Schedules counting the calendar's reads: by id, and of a batch's writes by shard."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: list[str] = []
        self.by_batch: list[tuple[str, int]] = []

    async def raw(self, stored_id: str) -> dict[str, Any] | None:
        self.by_id.append(stored_id)
        return await super().raw(stored_id)

    async def written_in(self, batch: str, shard: int) -> list[dict[str, Any]]:
        self.by_batch.append((batch, shard))
        return await super().written_in(batch, shard)


async def test_a_batch_of_creates_is_read_back_once_a_shard_not_once_a_schedule() -> None:
    schedules = ReadCounting()
    world = World(BEFORE, schedules)
    ids = [*one_shard(5), "t-1", "t-2", "t-3"]
    await world.send_batch(*(create(i) for i in ids))
    assert world.pending() == dict.fromkeys(ids, DUE)
    assert schedules.by_id == []
    shards = {shard_of(f"acme/{i}") for i in ids}
    assert sorted(shard for _, shard in schedules.by_batch) == sorted(shards)

    # A repeat saves nothing: its schedule is read by id.
    schedules.by_batch.clear()
    repeat = create("s-0")
    await world.send_batch(repeat, repeat)
    assert (schedules.by_id, schedules.by_batch) == (["acme/s-0"], [])


async def test_a_batch_leaves_a_schedule_changed_since_to_the_writer_that_changed_it() -> None:
    """Batch `a` saved version 2; batch `b` saved version 3 and synced before `a` did
    (a partition handed to another replica mid-batch): `a`'s sync must not bring 2 back."""
    world = World(BEFORE)
    await world.send(create("s-1"))
    stored_id = "acme/s-1"
    for batch, version, hour in (("a", 2, 9), ("b", 3, 10)):
        current = await world.schedules.load("s-1", "acme")
        assert current is not None
        at = current.spec.time_of_day.replace(hour=hour)
        await world.schedules.save(
            current,
            replace(
                current, spec=current.spec.model_copy(update={"time_of_day": at}), version=version
            ),
            stored_id=stored_id,
            tenant_id="acme",
            command_id=batch,
            outputs=[],
            batch=batch,
        )
    for batch in ("b", "a"):
        await world.first.calendar.sync_many([stored_id], Written(batch, frozenset({stored_id})))
        assert world.pending() == {"s-1": DUE + timedelta(hours=2)}


async def test_sync_many_changes_a_shards_slots_under_one_lease() -> None:
    world = World(BEFORE)
    ids = one_shard(5)
    lease = shard_lease(shard_of(f"acme/{ids[0]}"))
    for schedule_id in ids:
        state = ScheduleState(schedule_id, "acme", DAILY_SPEC, 1, None)
        await world.schedules.save(
            None,
            state,
            stored_id=f"acme/{schedule_id}",
            tenant_id="acme",
            command_id="c",
            outputs=[],
        )
    await world.first.calendar.sync_many(f"acme/{i}" for i in ids)
    assert world.pending() == dict.fromkeys(ids, DUE)
    assert world.first.leases.latest[lease].lease.generation == 0, "taken once"

    later = DAILY_SPEC.model_copy(update={"time_of_day": DAILY_SPEC.time_of_day.replace(hour=9)})
    moved, gone = ids[0], ids[1]
    for schedule_id, new in ((moved, later), (gone, None)):
        current = await world.schedules.load(schedule_id, "acme")
        assert current is not None
        changed = replace(current, spec=new, version=2) if new else None
        await world.schedules.save(
            current,
            changed,
            stored_id=f"acme/{schedule_id}",
            tenant_id="acme",
            command_id="d",
            outputs=[],
        )
    await world.first.calendar.sync_many(f"acme/{i}" for i in (moved, gone, moved))
    assert world.pending() == {moved: DUE + timedelta(hours=1)} | dict.fromkeys(ids[2:], DUE)
    assert world.first.leases.latest[lease].lease.generation == 1

    await world.tick_at(ON_TIME)
    assert world.fired_ids() == sorted(fired_run_id(ScheduleRef("acme", i), DUE) for i in ids[2:])


class GatedHerd(RecordingHerd):
    """A herd whose publishes each wait for the test to let one go."""

    def __init__(self) -> None:
        super().__init__()
        self.publishing = asyncio.Event()
        self.go = asyncio.Semaphore(0)

    async def publish(self, messages: Sequence[Envelope]) -> None:
        self.publishing.set()
        await self.go.acquire()
        await super().publish(messages)


async def test_a_command_on_a_shard_being_fired_goes_in_between_two_chunks() -> None:
    herd = GatedHerd()
    world = World(BEFORE, herd=herd)
    ids = one_shard(2 * FIRE_CHUNK + 10)
    states = [ScheduleState(i, "acme", DAILY_SPEC, 1, None) for i in ids]
    await world.first.calendar.import_schedules(states, BEFORE)
    world.clock.now = ON_TIME
    firing = asyncio.create_task(world.first.ticker.tick())
    await herd.publishing.wait()  # the first chunk is on its way

    deleted = ids[-1]  # in the slot's last chunk
    command = asyncio.create_task(
        world.send(DeleteSchedule(command_id=uuid4(), tenant_id="acme", schedule_id=deleted))
    )
    for _ in range(50):  # in memory, the command reaches the shard's turn in a few steps
        await asyncio.sleep(0)
    herd.go.release()  # the first chunk goes out; the command goes next
    await asyncio.wait_for(command, 5)  # not left waiting for the rest of the herd
    assert len(world.fired()) == FIRE_CHUNK, "answered after one chunk, not the herd"
    for _ in ids:
        herd.go.release()
    await firing

    assert world.fired_ids() == sorted(fired_run_id(ScheduleRef("acme", i), DUE) for i in ids[:-1])
    assert world.pending() == dict.fromkeys(ids[:-1], DUE + DAY)


async def test_a_herd_waits_between_chunks_while_commands_are_handled_but_not_for_good(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(BEFORE)
    ids = one_shard(2 * FIRE_CHUNK)
    states = [ScheduleState(i, "acme", DAILY_SPEC, 1, None) for i in ids]
    await world.first.calendar.import_schedules(states, BEFORE)
    world.clock.now = ON_TIME
    first = world.first.calendar.commands_first

    async with first.handling_commands():
        firing = asyncio.create_task(world.first.ticker.tick())
        await asyncio.sleep(0.1)
        assert world.fired() == [], "the herd waits while commands are handled"
    await asyncio.wait_for(firing, 5)
    assert len(world.fired()) == len(ids)

    # A flood of commands slows a herd, a chunk at a time, but never stops it.
    monkeypatch.setattr(calendar, "COMMANDS_FIRST_S", 0.05)
    world.clock.now = ON_TIME + DAY
    async with first.handling_commands():
        await asyncio.wait_for(world.first.ticker.tick(), 5)
    assert len(world.fired()) == 2 * len(ids)


async def test_the_history_projection_waits_for_commands_being_handled_but_not_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = calendar.CommandsFirst()
    async with first.handling_commands():
        projecting = asyncio.create_task(first.before_projection())
        await asyncio.sleep(0.1)
        assert not projecting.done(), "statuses wait while commands are handled"
    await asyncio.wait_for(projecting, 1)

    monkeypatch.setattr(calendar, "COMMANDS_FIRST_S", 0.05)
    async with first.handling_commands():
        await asyncio.wait_for(first.before_projection(), 1)
