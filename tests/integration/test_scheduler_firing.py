"""Firing on real Kafka and FerretDB: replicas, catch-up after downtime, retries, stuck runs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.services.scheduler.calendar import Calendar
from herald.services.scheduler.commands import ScheduleState
from herald.services.scheduler.firing import Pending, due_messages, run_details
from herald.services.scheduler.slots import SLOTS, SlotStore, entry_key, shard_of, slot_id
from herald.services.scheduler.store import (
    BARE_IDS_GONE,
    MIGRATIONS,
    SCHEDULES,
    BareIds,
    SchedulerStore,
)
from herald.shared.contract.identity import ScheduleRef, fired_run_id
from herald.shared.contract.messages import (
    CreateSchedule,
    DeleteSchedule,
    DeliveryStatus,
    RunStatus,
    UpdateSchedule,
)
from herald.shared.contract.schedule_spec import ScheduleChanges, ScheduleSpec
from herald.shared.contract.topics import Topics
from herald.shared.history import store as history_store
from herald.shared.runtime.kafka import publish_many
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.service import build_runtime
from herald.shared.runtime.settings import SchedulerSettings, Settings
from tests.helpers import (
    ServiceProcess,
    command_client,
    commit_as,
    ends_of,
    mongo_commands_sent,
    ops_get,
    read_topic,
    wait_until,
)
from tests.samples import DAILY_SPEC
from tests.scheduler_world import World

pytestmark = pytest.mark.integration

EVERY_MINUTE: dict[str, Any] = {
    "name": "Minutely",
    "report": {"id": "campaign_summary"},
    "frequency": "custom",
    "cron": "* * * * *",
    "window": {"kind": "last_hours", "n": 1},
    "recipients": ["ops@example.com"],
    "format": "csv",
}


def _due_records(records: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(r.value)["run"] for r in records]


async def test_three_replicas_fire_every_run_exactly_once(
    topics_ready: Settings, db: AsyncDatabase[Document], log_dir: Path
) -> None:
    settings = topics_ready
    replicas = [ServiceProcess("scheduler", settings, log_dir) for _ in range(3)]
    try:
        await asyncio.gather(*(replica.wait_started() for replica in replicas))
        # The next minute with time to spare for the import (seconds), while all three watch.
        now = datetime.now(UTC)
        herd = (now + timedelta(seconds=80)).replace(second=0, microsecond=0)
        spec = ScheduleSpec.model_validate(
            EVERY_MINUTE
            | {"frequency": "daily", "cron": None, "window": None}
            | {"time_of_day": herd.time().isoformat(timespec="minutes"), "timezone": "UTC"}
        )
        states = [ScheduleState(f"herd-{n:04d}", "acme", spec, 1, None) for n in range(2000)]
        await Calendar.for_import(db, settings).import_schedules(states, now)
        assert datetime.now(UTC) < herd, "importing the schedules took longer than planned"
        topics = Topics(settings.kafka.topic_prefix)

        async def herd_fired() -> list[dict[str, Any]]:
            runs = _due_records(await read_topic(settings, topics.report_due, timeout_s=30))
            in_herd = [r for r in runs if datetime.fromisoformat(r["scheduled_for"]) == herd]
            return runs if len(in_herd) >= 2000 else []

        await asyncio.sleep(max(0.0, (herd - datetime.now(UTC)).total_seconds()))
        runs = await wait_until(herd_fired, 120, "the herd minute to be fired", interval_s=3)
        await asyncio.sleep(3)  # let any duplicate show itself
        runs = _due_records(await read_topic(settings, topics.report_due, timeout_s=30))
    finally:
        for replica in replicas:
            replica.stop()
    counts = Counter(r["run_id"] for r in runs)
    duplicated = {run_id: n for run_id, n in counts.items() if n > 1}
    assert duplicated == {}
    herd_ids = {r["run_id"] for r in runs if datetime.fromisoformat(r["scheduled_for"]) == herd}
    assert herd_ids == {
        fired_run_id(ScheduleRef("acme", f"herd-{n:04d}"), herd) for n in range(2000)
    }
    logs = "".join(r.log() for r in replicas)
    assert sum(1 for r in replicas if "fired" in r.log()) >= 2, "the herd was shared"
    assert "Traceback" not in logs


async def test_after_three_missed_periods_the_last_fires_once_and_the_rest_are_skipped(
    topics_ready: Settings, db: AsyncDatabase[Document], log_dir: Path
) -> None:
    # The fired run stays `due` (no renderer here): written at once, not after the
    # history's hold for runs under way (tests/integration/test_history_hold.py).
    settings = topics_ready.model_copy(
        update={"scheduler": topics_ready.scheduler.model_copy(update={"history_hold_s": 0})}
    )
    now = datetime.now(UTC)
    at = (now - timedelta(hours=1)).replace(second=0, microsecond=0)
    spec = ScheduleSpec.model_validate(
        {
            "name": "Morning Brief",
            "report": {"id": "campaign_summary"},
            "frequency": "daily",
            "time_of_day": at.time().isoformat(timespec="minutes"),
            "timezone": "UTC",
            "recipients": ["ops@example.com"],
        }
    )
    scheduler = ServiceProcess("scheduler", settings, log_dir)
    await scheduler.wait_started()
    async with command_client(settings) as herald:
        await herald.send(
            CreateSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="brief", spec=spec)
        )
    scheduler.stop()

    # What a scheduler that stopped three days ago leaves behind: the pending
    # firing of three periods back, never fired.
    slots = SlotStore(db)
    shard = shard_of("acme/brief")
    minutes = await slots.minutes(shard)
    (pending,) = [p for m in minutes for p in await slots.read(m, shard)]
    for minute in minutes:
        await slots.drop(minute, shard)
    missed = [at - timedelta(days=d) for d in (3, 2, 1, 0)]
    stale = dataclasses.replace(pending, due=missed[0])
    await slots.set_minutes(shard, await slots.put(shard, [stale]))

    restarted = ServiceProcess("scheduler", settings, log_dir)
    await restarted.wait_started()
    runs = db[history_store.RUNS]
    try:

        async def all_recorded() -> bool:
            found = [
                await history_store.get_run(
                    runs, "acme", fired_run_id(ScheduleRef("acme", "brief"), t)
                )
                for t in missed
            ]
            return all(found)

        await wait_until(all_recorded, 60, "the missed firings in the history")
    finally:
        restarted.stop()
    records = [
        await history_store.get_run(runs, "acme", fired_run_id(ScheduleRef("acme", "brief"), t))
        for t in missed
    ]
    assert [r.status if r else None for r in records] == [
        RunStatus.SKIPPED,
        RunStatus.SKIPPED,
        RunStatus.SKIPPED,
        RunStatus.DUE,
    ]
    assert all(r and r.reason and "missed" in r.reason for r in records[:3])
    fired = _due_records(await read_topic(settings, Topics(settings.kafka.topic_prefix).report_due))
    assert [r["run_id"] for r in fired] == [fired_run_id(ScheduleRef("acme", "brief"), missed[-1])]
    assert datetime.fromisoformat(fired[0]["window"]["end"]) == missed[-1].replace(hour=0, minute=0)


async def test_stuck_and_retried_runs_fire_again_as_the_next_attempt(
    topics_ready: Settings, db: AsyncDatabase[Document], log_dir: Path
) -> None:
    settings = topics_ready.model_copy(
        update={"scheduler": SchedulerSettings(tick_s=0.5, stuck_after_s=4)}
    )
    scheduler = ServiceProcess("scheduler", settings, log_dir)
    await scheduler.wait_started()
    spec = ScheduleSpec.model_validate(EVERY_MINUTE)
    now = datetime.now(UTC).replace(microsecond=0)
    stuck = run_details("s-stuck@x", spec, "UTC", now)
    retried = run_details("s-retry@x", spec, "UTC", now)
    retry_at = now + timedelta(seconds=25)

    def event(run_id: str, status: RunStatus, **fields: Any) -> DeliveryStatus:
        return DeliveryStatus(
            tenant_id="acme",
            schedule_id=run_id.split("@")[0],
            run_id=run_id,
            attempt=1,
            status=status,
            stage="scheduler" if status is RunStatus.DUE else "mailer",
            scheduled_for=now,
            **fields,
        )

    runtime = build_runtime("probe", settings)
    await runtime.broker.start()
    try:
        await publish_many(
            runtime.broker,
            runtime.topics,
            [
                event(stuck.run_id, RunStatus.DUE, run=stuck),
                event(retried.run_id, RunStatus.DUE, run=retried),
                event(
                    retried.run_id,
                    RunStatus.PENDING_RETRY,
                    reason="451 try later",
                    next_attempt_at=retry_at,
                ),
            ],
        )
        runs = db[history_store.RUNS]

        async def second_attempts() -> bool:
            records = [
                await history_store.get_run(runs, "acme", run_id)
                for run_id in (stuck.run_id, retried.run_id)
            ]
            return all(r is not None and r.attempt >= 2 for r in records)

        # Nothing renders these runs, so each attempt gets stuck in turn: only
        # the second attempt's timing is checked.
        await wait_until(second_attempts, 90, "both runs to be fired as attempt 2")
    finally:
        await runtime.broker.stop()
        scheduler.stop()
    fired = {
        (r["run_id"], r["attempt"]): r
        for r in _due_records(
            await read_topic(settings, Topics(settings.kafka.topic_prefix).report_due)
        )
    }
    assert {(stuck.run_id, 2), (retried.run_id, 2)} <= set(fired)
    assert fired[(retried.run_id, 2)]["recipients"] == ["ops@example.com"]

    def due_at(record: history_store.history.RunRecord | None, attempt: int) -> datetime:
        assert record is not None
        (event,) = [e for e in record.events if e.attempt == attempt and e.status is RunStatus.DUE]
        return event.occurred_at

    retry_record = await history_store.get_run(db[history_store.RUNS], "acme", retried.run_id)
    assert due_at(retry_record, 2) >= retry_at
    stuck_record = await history_store.get_run(db[history_store.RUNS], "acme", stuck.run_id)
    assert due_at(stuck_record, 2) - due_at(stuck_record, 1) >= timedelta(seconds=4)


def _found_queued(scheduler: ServiceProcess) -> float:
    _, body = ops_get(scheduler.ops_port, "/metrics")
    found = re.search(r'^herald_stuck_runs_queued_total\{status="due"\} (\S+)$', body, re.M)
    return float(found.group(1)) if found else 0.0


async def test_a_stuck_run_still_queued_for_the_renderers_waits_and_goes_once_they_read_past_it(
    topics_ready: Settings, db: AsyncDatabase[Document], log_dir: Path
) -> None:
    settings = topics_ready.model_copy(
        update={"scheduler": SchedulerSettings(tick_s=0.5, stuck_after_s=4)}
    )
    topics = Topics(settings.kafka.topic_prefix)
    scheduler = ServiceProcess("scheduler", settings, log_dir)
    await scheduler.wait_started()
    spec = ScheduleSpec.model_validate(EVERY_MINUTE)
    queued = run_details("s-queued@x", spec, "UTC", datetime.now(UTC).replace(microsecond=0))
    runtime = build_runtime("probe", settings)
    await runtime.broker.start()
    runs = db[history_store.RUNS]

    async def attempts() -> list[int]:
        fired = _due_records(await read_topic(settings, topics.report_due))
        return [r["attempt"] for r in fired if r["run_id"] == queued.run_id]

    try:
        # Fired as the scheduler fires a run, its ReportDue on report.due; no renderer reads it.
        await publish_many(runtime.broker, runtime.topics, due_messages("acme", "s-queued", queued))

        async def found_queued(times: int) -> bool:
            return _found_queued(scheduler) >= times

        await wait_until(lambda: found_queued(1), 60, "the timer to find the run still queued")
        # Its timer is armed again, rings again, and finds it still there.
        await wait_until(lambda: found_queued(2), 30, "the timer to ring again")
        assert await attempts() == [1]
        record = await history_store.get_run(runs, "acme", queued.run_id)
        assert record is not None
        assert (record.status, record.attempt) == (RunStatus.DUE, 1)

        # The renderers read past it and nothing came of it: it is stuck, and fired again.
        await commit_as(settings, "renderer", await ends_of(settings, topics.report_due))

        async def second_attempt() -> bool:
            return 2 in await attempts()

        await wait_until(second_attempt, 30, "the run fired again as attempt 2")
    finally:
        await runtime.broker.stop()
        scheduler.stop()
    assert "still waits for the next stage" in scheduler.log()


async def test_on_the_real_stores_a_deleted_schedule_never_fires(
    db: AsyncDatabase[Document],
) -> None:
    """The calendar over `SchedulerStore` and `SlotStore` as its unit tests run it in memory.

    A delete keeps the schedule's version; its slot must go all the same.
    """
    store = SchedulerStore(db)
    await store.ensure_indexes()
    due = datetime(2026, 11, 27, 8, tzinfo=UTC)  # DAILY_SPEC's firing
    world = World(due - timedelta(hours=1), store, SlotStore(db))
    created = [
        CreateSchedule(
            command_id=uuid4(), tenant_id="acme", schedule_id=schedule_id, spec=DAILY_SPEC
        )
        for schedule_id in ("kept", "deleted")
    ]
    await world.send(
        *created, DeleteSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="deleted")
    )
    await world.tick_at(due + timedelta(seconds=2))
    assert world.fired_ids() == [fired_run_id(ScheduleRef("acme", "kept"), due)]


async def test_on_the_real_stores_a_schedule_deleted_before_the_fix_is_cleared_at_start(
    db: AsyncDatabase[Document],
) -> None:
    """Before issue 13 a delete left the slot entry: start-up takes such firings out once."""
    store = SchedulerStore(db)
    await store.ensure_indexes()
    due = datetime(2026, 11, 27, 8, tzinfo=UTC)
    world = World(due - timedelta(hours=1), store, SlotStore(db))
    await world.send(
        *(
            CreateSchedule(
                command_id=uuid4(), tenant_id="acme", schedule_id=schedule_id, spec=DAILY_SPEC
            )
            for schedule_id in ("kept", "deleted")
        )
    )
    # As an older scheduler deleted it: marked, same version, its firing left in the slots.
    await db[SCHEDULES].update_one(
        {"_id": "acme/deleted"}, {"$set": {"deleted": True, "next_run_at": None}}
    )
    assert await world.first.calendar.forget_deleted() == 1
    assert await world.first.calendar.forget_deleted() == 0
    await world.tick_at(due + timedelta(seconds=2))
    assert world.fired_ids() == [fired_run_id(ScheduleRef("acme", "kept"), due)]


async def test_a_slot_holds_each_spec_once_and_reads_slots_written_before(
    db: AsyncDatabase[Document],
) -> None:
    """Since issue 14 a slot keeps its specs apart, each once; an older slot holds one per entry."""
    slots = SlotStore(db)
    due = datetime(2026, 11, 27, 8, tzinfo=UTC)
    shard = shard_of("new-1")
    ids = [i for i in (f"new-{n}" for n in range(200)) if shard_of(i) == shard][:3]
    other = DAILY_SPEC.model_copy(update={"name": "Other"})
    fresh = [
        Pending(schedule_id, "acme", 1, spec, due)
        for schedule_id, spec in zip(ids, (DAILY_SPEC, DAILY_SPEC, other), strict=True)
    ]
    await slots.put(shard, fresh)
    stored = await db[SLOTS].find_one({"_id": slot_id(due, shard)})
    assert stored is not None
    assert len(json.loads(stored["specs"])) == 2, "each distinct spec once"

    # As a scheduler before issue 14 wrote it: the spec inside the entry, no `specs`.
    old = {
        entry_key("old-1"): {
            "schedule_id": "old-1",
            "tenant_id": "acme",
            "version": 3,
            "spec": DAILY_SPEC.model_dump(mode="json"),
            "due": due.isoformat(),
        }
    }
    await db[SLOTS].replace_one(
        {"_id": slot_id(due, shard)},
        {"minute": due, "shard": shard, "entries": json.dumps(old)},
    )
    await slots.put(shard, fresh[:1])
    read = {p.schedule_id: p for p in await slots.read(due, shard)}
    assert read.keys() == {"old-1", ids[0]}
    # Before issue 18 an entry's schedule id was its schedule's document id.
    assert (read["old-1"].slot_key, read[ids[0]].slot_key) == ("old-1", f"acme/{ids[0]}")
    assert (read["old-1"].version, read["old-1"].spec) == (3, DAILY_SPEC)
    assert (read[ids[0]].spec, read[ids[0]].due) == (DAILY_SPEC, due)


async def test_a_schedule_stored_before_ids_were_scoped_by_tenant_keeps_working(
    db: AsyncDatabase[Document],
) -> None:
    """Before issue 18 a schedule's document id, and its slot entry's, was its bare id.

    Such a schedule is found by tenant and id, changed in place (its firing stays in
    its shard), and fires once, under a run id that names its tenant. Another tenant
    may take the same id meanwhile.
    """
    store, slots = SchedulerStore(db), SlotStore(db)
    due = datetime(2026, 11, 27, 8, tzinfo=UTC)
    world = World(due - timedelta(hours=1), store, slots)
    # As an older scheduler stored it: the bare id, no `schedule_id`, its entry by the bare id.
    old_shard = shard_of("legacy")
    await db[SCHEDULES].insert_one(
        {
            "_id": "legacy",
            "tenant_id": "acme",
            "spec": DAILY_SPEC.model_dump(mode="json"),
            "version": 1,
            "next_run_at": due,
            "deleted": False,
            "slot_version": 1,
            "slot_spec": DAILY_SPEC.model_dump(mode="json"),
        }
    )
    entry = {
        "schedule_id": "legacy",
        "tenant_id": "acme",
        "version": 1,
        "spec": DAILY_SPEC.model_dump(mode="json"),
        "due": due.isoformat(),
    }
    await db[SLOTS].insert_one(
        {
            "_id": slot_id(due, old_shard),
            "minute": due,
            "shard": old_shard,
            "entries": json.dumps({entry_key("legacy"): entry}),
        }
    )
    await slots.set_minutes(old_shard, [due])
    # The new scheduler starts on the old database: its stores look for such schedules
    # themselves (the command handler's store never runs `ensure_indexes`).

    renamed = DAILY_SPEC.model_copy(update={"name": "Renamed"})
    await world.send(
        UpdateSchedule(
            command_id=uuid4(),
            tenant_id="acme",
            schedule_id="legacy",
            changes=ScheduleChanges(name="Renamed"),
            expected_version=1,
        ),
        CreateSchedule(command_id=uuid4(), tenant_id="globex", schedule_id="legacy", spec=renamed),
    )
    # The tenant's own id is taken by its bare-id schedule, though `acme/legacy` is free.
    await world.send(
        CreateSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="legacy", spec=renamed)
    )
    (*_, reply) = world.bodies.published
    assert json.loads(reply[2])["type"] == "CommandRejected"
    stored = await db[SCHEDULES].find_one({"_id": "legacy"})
    assert stored is not None
    assert (stored["version"], stored["spec"]["name"]) == (2, "Renamed")
    assert await db[SCHEDULES].find_one({"_id": "acme/legacy"}) is None
    assert (await slots.read(due, old_shard))[0].spec == renamed, "replaced in its own shard"

    await world.tick_at(due + timedelta(seconds=2))
    assert world.fired_ids() == sorted(
        fired_run_id(ScheduleRef(tenant, "legacy"), due) for tenant in ("acme", "globex")
    )
    assert await db[MIGRATIONS].find_one({"_id": BARE_IDS_GONE}) is None, "one is left"


async def test_a_database_without_schedules_from_before_issue_18_costs_one_read_per_create(
    db: AsyncDatabase[Document],
) -> None:
    """Bare-id schedules are looked for once per process, at start-up; none: one read an id.

    The command handler's store shares the service's answer: looking for itself, at its
    first create, it once kept that create waiting for a whole herd.
    """
    await SchedulerStore(db).import_many([ScheduleState("s-1", "acme", DAILY_SPEC, 1, None)])
    bare_ids = BareIds()
    await SchedulerStore(db, bare_ids).ensure_indexes()  # the service's start-up
    commands = SchedulerStore(db, bare_ids)

    def finds() -> float:
        return mongo_commands_sent("find")

    before = finds()
    assert await commands.read(ScheduleRef("acme", "new-1")) is None
    assert (await commands.read(ScheduleRef("acme", "s-1"))) is not None
    assert finds() - before == 2, "one read an id"

    alone = SchedulerStore(db)  # a store of its own (the CLI's) looks at its first miss
    before = finds()
    assert await alone.read(ScheduleRef("acme", "new-2")) is None
    assert await alone.read(ScheduleRef("acme", "new-3")) is None
    assert finds() - before == 3


async def test_a_database_found_without_bare_ids_is_never_read_whole_for_them_again(
    db: AsyncDatabase[Document],
) -> None:
    """The look reads all of `schedules` on FerretDB: the first that finds none writes the
    fact down, and later start-ups read that document instead."""
    await SchedulerStore(db).ensure_indexes()
    assert await db[MIGRATIONS].find_one({"_id": BARE_IDS_GONE}) is not None
    # No scheduler writes a bare id now; one put there by hand shows the look skipped.
    await db[SCHEDULES].insert_one({"_id": "legacy", "tenant_id": "acme"})
    later = BareIds()
    await SchedulerStore(db, later).ensure_indexes()
    assert later.present is False, "the fact was read, not the schedules"

    await db[MIGRATIONS].delete_many({})
    looked = BareIds()
    await SchedulerStore(db, looked).ensure_indexes()
    assert looked.present is True
    assert await db[MIGRATIONS].find_one({"_id": BARE_IDS_GONE}) is None
