"""The command handler on in-memory ports: replies, effects, repeats, crashes and races."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from herald.services.scheduler.command_handling import CommandHandler
from herald.services.scheduler.commands import ScheduleState
from herald.services.scheduler.ports import Recorded, Stored, StoredTenant
from herald.services.scheduler.slots import shard_of
from herald.services.scheduler.tenant_commands import TenantState
from herald.shared.contract.identity import ScheduleRef, manual_run_id
from herald.shared.contract.messages import (
    Command,
    CreateSchedule,
    DeleteSchedule,
    DisableSchedule,
    EnableSchedule,
    RunNow,
    UpdateSchedule,
)
from herald.shared.contract.schedule_spec import ScheduleChanges
from herald.shared.contract.topics import Topics
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runtime.kafka import PoisonMessage
from tests.fakes.scheduler import (
    Crash,
    MemoryCalendar,
    MemorySchedules,
    MemoryTenants,
    RecordingBodies,
    keyed,
)
from tests.samples import DAILY_SPEC

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
TOPICS = Topics("t")


@dataclass
class World:
    schedules: MemorySchedules = field(default_factory=MemorySchedules)
    calendar: MemoryCalendar = field(default_factory=MemoryCalendar)
    bodies: RecordingBodies = field(default_factory=RecordingBodies)
    tenants: MemoryTenants = field(default_factory=MemoryTenants)
    domains: list[str] = field(default_factory=lambda: ["example.com"])

    @property
    def handler(self) -> CommandHandler:
        return CommandHandler(
            self.schedules,
            self.calendar,
            self.bodies,
            TOPICS,
            "UTC",
            RecipientPolicy.of(self.domains, {}),
            self.tenants,
            clock=lambda: NOW,
        )

    async def send(self, command: Command | bytes) -> list[tuple[str, str, str]]:
        """What handling the command published."""
        before = len(self.bodies.published)
        raw = command if isinstance(command, bytes) else command.model_dump_json().encode()
        await self.handler.handle(*keyed(raw))
        return self.bodies.published[before:]


def types(published: list[tuple[str, str, str]]) -> list[str]:
    return [json.loads(body)["type"] for _, _, body in published]


def reply(published: list[tuple[str, str, str]]) -> dict[str, Any]:
    """The last message, the reply, parsed."""
    topic, _, body = published[-1]
    assert topic == TOPICS.schedule_events
    parsed: dict[str, Any] = json.loads(body)
    return parsed


async def bump(schedules: MemorySchedules, schedule_id: str) -> None:
    """Another command's write to the schedule: its next version."""
    current = await schedules.load(schedule_id, "acme")
    assert current is not None
    await schedules.save(
        current,
        replace(current, version=current.version + 1),
        stored_id=f"acme/{schedule_id}",
        tenant_id="acme",
        command_id=str(uuid4()),
        outputs=[],
    )


def create(schedule_id: str = "s-1", tenant_id: str = "acme") -> CreateSchedule:
    return CreateSchedule(
        command_id=uuid4(), tenant_id=tenant_id, schedule_id=schedule_id, spec=DAILY_SPEC
    )


@pytest.fixture
def world() -> World:
    return World()


async def test_a_create_is_written_synced_and_answered_after_its_change(world: World) -> None:
    command = create()
    published = await world.send(command)

    assert types(published) == ["ScheduleChanged", "CommandAccepted"]
    assert {(topic, key) for topic, key, _ in published} == {(TOPICS.schedule_events, "s-1")}
    changed = json.loads(published[0][2])
    assert (changed["change"], changed["version"]) == ("created", 1)
    assert changed["correlation_id"] == str(command.command_id)
    assert (reply(published)["version"], reply(published)["command_type"]) == (1, "CreateSchedule")
    assert world.calendar.synced == ["acme/s-1"]
    assert [c for c, _ in world.schedules.saves] == [str(command.command_id)]
    assert str(command.command_id) in world.schedules.commands


@pytest.mark.parametrize(
    ("command", "change", "version", "enabled"),
    [
        (
            UpdateSchedule(
                command_id=uuid4(),
                tenant_id="acme",
                schedule_id="s-1",
                changes=ScheduleChanges(name="Renamed"),
                expected_version=1,
            ),
            "updated",
            2,
            True,
        ),
        (
            DisableSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="s-1"),
            "disabled",
            2,
            False,
        ),
        (
            EnableSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="s-1"),
            "enabled",
            2,
            True,
        ),
    ],
)
async def test_a_change_to_a_schedule_bumps_its_version_and_says_so(
    world: World, command: Command, change: str, version: int, enabled: bool
) -> None:
    await world.send(create())
    published = await world.send(command)

    assert types(published) == ["ScheduleChanged", "CommandAccepted"]
    changed = json.loads(published[0][2])
    assert (changed["change"], changed["version"]) == (change, version)
    assert changed["spec"]["enabled"] is enabled
    assert reply(published)["version"] == version
    stored = await world.schedules.load("s-1", "acme")
    assert stored is not None
    assert (stored.version, stored.spec.enabled) == (version, enabled)
    assert world.calendar.synced == ["acme/s-1", "acme/s-1"]


async def test_a_delete_leaves_the_id_taken_and_the_schedule_gone(world: World) -> None:
    await world.send(create())
    published = await world.send(
        DeleteSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="s-1")
    )

    assert types(published) == ["ScheduleChanged", "CommandAccepted"]
    changed = json.loads(published[0][2])
    assert (changed["change"], changed["version"], changed["spec"]) == ("deleted", 0, None)
    assert await world.schedules.load("s-1", "acme") is None
    again = await world.send(create())
    assert types(again) == ["CommandRejected"]
    assert reply(again)["errors"][0]["code"] == "exists"


async def test_run_now_fires_a_manual_run_without_changing_the_schedule(world: World) -> None:
    await world.send(create())
    command = RunNow(command_id=uuid4(), tenant_id="acme", schedule_id="s-1")
    published = await world.send(command)

    assert types(published) == ["ReportDue", "DeliveryStatus", "CommandAccepted"]
    assert [topic for topic, _, _ in published] == [
        TOPICS.report_due,
        TOPICS.delivery_status,
        TOPICS.schedule_events,
    ]
    run_id = manual_run_id(ScheduleRef("acme", "s-1"), command.command_id)
    assert json.loads(published[0][2])["run"]["run_id"] == run_id
    assert reply(published)["run_id"] == run_id
    assert len(world.schedules.saves) == 1, "only the create wrote the schedule"
    assert str(command.command_id) in world.schedules.commands


async def test_a_repeated_command_is_answered_again_byte_for_byte_without_a_write(
    world: World,
) -> None:
    command = create()
    first = await world.send(command)
    again = await world.send(command)

    assert again == first
    assert len(world.schedules.saves) == 1
    assert world.calendar.synced == ["acme/s-1", "acme/s-1"], "a crash may have cut the sync short"


async def test_a_command_id_of_another_tenant_is_rejected_as_taken(world: World) -> None:
    command = create()
    await world.send(command)
    await world.send(create(tenant_id="globex"))
    intruder = RunNow(command_id=command.command_id, tenant_id="globex", schedule_id="s-1")
    published = await world.send(intruder)

    assert types(published) == ["CommandRejected"]
    assert reply(published)["tenant_id"] == "globex"
    assert reply(published)["errors"][0]["code"] == "duplicate"
    assert len(world.schedules.saves) == 2


async def test_a_command_id_reused_on_another_schedule_is_refused_as_taken(
    world: World,
) -> None:
    """A repeat carries its own schedule id: another schedule's is a reused id. Answered
    as for s-1, the sender of s-2's command read that it had run."""
    await world.send(create("s-1"))
    await world.send(create("s-2"))
    command = RunNow(command_id=uuid4(), tenant_id="acme", schedule_id="s-1")
    await world.send(command)
    reused = DisableSchedule(tenant_id="acme", schedule_id="s-2", command_id=command.command_id)
    published = await world.send(reused)

    assert types(published) == ["CommandRejected"]
    assert {key for _, key, _ in published} == {"s-2"}
    assert (reply(published)["schedule_id"], reply(published)["command_type"]) == (
        "s-2",
        "DisableSchedule",
    )
    assert reply(published)["errors"][0]["code"] == "duplicate"
    stored = await world.schedules.load("s-2", "acme")
    assert stored is not None
    assert stored.spec.enabled, "the refused command was not applied"


async def test_a_create_on_a_free_id_is_never_a_repeat(world: World) -> None:
    """An accepted create leaves its schedule for good: no schedule, no earlier create.
    The command id is not looked up, and a reused one does not stop the create."""
    command = create()
    await world.send(command)
    reused = create("s-2").model_copy(update={"command_id": command.command_id})
    published = await world.send(reused)

    assert types(published) == ["ScheduleChanged", "CommandAccepted"]
    assert reply(published)["schedule_id"] == "s-2"
    assert await world.schedules.load("s-2", "acme") is not None


async def test_a_crash_before_the_publish_is_finished_on_redelivery(world: World) -> None:
    command = create()
    world.bodies.fail_next = Crash()
    with pytest.raises(Crash):
        await world.send(command)
    assert world.bodies.published == []

    published = await world.send(command)
    assert types(published) == ["ScheduleChanged", "CommandAccepted"]
    assert len(world.schedules.saves) == 1
    assert await world.send(command) == published


async def test_a_crash_before_the_command_is_recorded_is_answered_from_the_outbox(
    world: World,
) -> None:
    command = create()
    world.schedules.fail_next_record = Crash()
    with pytest.raises(Crash):
        await world.send(command)
    assert world.bodies.published == [], "no reply before its record"
    # The slots were synced beside the record; read again, they are synced again (idempotent).

    published = await world.send(command)
    assert types(published) == ["ScheduleChanged", "CommandAccepted"]
    assert len(world.schedules.saves) == 1
    assert world.calendar.synced[-1] == "acme/s-1"
    assert str(command.command_id) in world.schedules.commands


async def test_an_invalid_command_is_rejected_and_judged_anew_each_time(world: World) -> None:
    raw = create().model_dump(mode="json")
    raw["spec"]["recipients"] = ["not an address"]
    body = json.dumps(raw).encode()
    published = await world.send(body)
    again = await world.send(body)

    assert types(published) == types(again) == ["CommandRejected"]
    assert reply(published)["errors"][0]["field"].startswith("spec.recipients")
    assert world.schedules.saves == []
    assert world.schedules.commands == {}
    assert world.calendar.synced == []


async def test_a_refused_command_writes_nothing(world: World) -> None:
    published = await world.send(
        EnableSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="nope")
    )
    elsewhere = DAILY_SPEC.model_copy(update={"recipients": ["a@elsewhere.org"]})
    refused = await world.send(create().model_copy(update={"spec": elsewhere}))

    assert reply(published)["errors"][0]["code"] == "not_found"
    assert reply(refused)["errors"][0]["code"] == "recipient_not_allowed"
    assert world.schedules.saves == []
    assert world.schedules.commands == {}
    assert world.schedules.rows == {}


async def test_bytes_without_an_envelope_are_poison(world: World) -> None:
    with pytest.raises(PoisonMessage):
        await world.send(b'{"type": "CreateSchedule"}')
    assert world.bodies.published == []


async def test_a_concurrent_change_is_read_again_and_the_command_applied_on_top(
    world: World,
) -> None:
    await world.send(create())
    world.schedules.races.append(lambda: bump(world.schedules, "s-1"))
    published = await world.send(
        DisableSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="s-1")
    )

    assert types(published) == ["ScheduleChanged", "CommandAccepted"]
    assert json.loads(published[0][2])["version"] == reply(published)["version"] == 3
    assert len(world.schedules.saves) == 3, "create, the other writer's, the disable"


async def test_a_create_racing_another_create_of_the_id_is_rejected(world: World) -> None:
    theirs = ScheduleState("s-1", "acme", DAILY_SPEC.model_copy(update={"name": "Theirs"}), 1, None)
    world.schedules.races.append(
        lambda: world.schedules.save(
            None, theirs, stored_id="acme/s-1", tenant_id="acme", command_id="c", outputs=[]
        )
    )
    published = await world.send(create())

    assert types(published) == ["CommandRejected"]
    assert reply(published)["errors"][0]["code"] == "exists"
    assert world.schedules.commands == {}
    assert await world.schedules.load("s-1", "acme") == theirs


async def test_two_tenants_may_use_one_schedule_id_without_learning_of_each_other(
    world: World,
) -> None:
    ours = await world.send(create())
    theirs = await world.send(create(tenant_id="globex"))

    assert types(ours) == types(theirs) == ["ScheduleChanged", "CommandAccepted"]
    assert await world.schedules.load("s-1", "acme") is not None
    assert await world.schedules.load("s-1", "globex") is not None
    ran = reply(await world.send(RunNow(command_id=uuid4(), tenant_id="globex", schedule_id="s-1")))
    assert ran["run_id"].startswith("globex/s-1@manual-")


async def test_a_schedule_that_keeps_changing_fails_the_command_unanswered(
    world: World,
) -> None:
    await world.send(create())
    world.schedules.races += [lambda: bump(world.schedules, "s-1")] * 20
    with pytest.raises(RuntimeError, match="keeps changing"):
        await world.send(EnableSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="s-1"))
    assert types(world.bodies.published) == ["ScheduleChanged", "CommandAccepted"], "the create's"
    assert world.schedules.races == []


class SlowSchedules(MemorySchedules):
    """Schedules whose reads and writes take a while, counting how many are under way at once."""

    def __init__(self) -> None:
        super().__init__()
        self.busy = 0
        self.most_busy = 0

    async def _slowly(self) -> None:
        self.busy += 1
        self.most_busy = max(self.most_busy, self.busy)
        await asyncio.sleep(0.01)
        self.busy -= 1

    async def read(self, ref: ScheduleRef) -> Stored | None:
        await self._slowly()
        return await super().read(ref)

    async def save(self, *args: Any, **kwargs: Any) -> None:
        await self._slowly()
        await super().save(*args, **kwargs)


async def test_a_batch_handles_schedules_side_by_side_each_in_its_order() -> None:
    world = World(schedules=SlowSchedules())
    batch: list[Command | bytes] = [
        create("s-1"),
        create("s-2"),
        b"not json",
        UpdateSchedule(
            command_id=uuid4(),
            tenant_id="acme",
            schedule_id="s-1",
            changes=ScheduleChanges(name="Renamed"),
            expected_version=1,
        ),
        DisableSchedule(
            command_id=uuid4(), tenant_id="acme", schedule_id="s-2", expected_version=1
        ),
        create("s-3"),
    ]
    raws = [c if isinstance(c, bytes) else c.model_dump_json().encode() for c in batch]

    errors = await world.handler.handle_batch([keyed(r) for r in raws])

    assert [type(e) for e in errors] == [type(None)] * 2 + [PoisonMessage] + [type(None)] * 3
    # Each schedule's commands in order: the update and the disable saw the creates.
    replies = [json.loads(b) for _, _, b in world.bodies.published]
    answers = [(r["schedule_id"], r["type"], r.get("version")) for r in replies]
    assert answers == [
        ("s-1", "ScheduleChanged", 1),
        ("s-1", "CommandAccepted", 1),
        ("s-2", "ScheduleChanged", 1),
        ("s-2", "CommandAccepted", 1),
        ("s-1", "ScheduleChanged", 2),
        ("s-1", "CommandAccepted", 2),
        ("s-2", "ScheduleChanged", 2),
        ("s-2", "CommandAccepted", 2),
        ("s-3", "ScheduleChanged", 1),
        ("s-3", "CommandAccepted", 1),
    ], "published in the batch's order"
    assert isinstance(world.schedules, SlowSchedules)
    assert world.schedules.most_busy == 3, "the three schedules side by side"
    assert world.calendar.calls == [[f"acme/{i}" for i in ("s-1", "s-2", "s-1", "s-2", "s-3")]], (
        "one sync for all"
    )


async def test_a_batch_answers_a_repeat_again_next_to_new_commands(world: World) -> None:
    first = create("s-1")
    await world.send(first)
    before = list(world.bodies.published)
    raws = [c.model_dump_json().encode() for c in (first, create("s-2"))]

    assert await world.handler.handle_batch([keyed(r) for r in raws]) == [None, None]
    again, new = world.bodies.published[2:4], world.bodies.published[4:]
    assert again == before, "byte for byte"
    assert types(new) == ["ScheduleChanged", "CommandAccepted"]
    assert world.calendar.calls[-1] == ["acme/s-1", "acme/s-2"]


async def test_a_transient_failure_fails_the_batch_which_is_answered_when_read_again(
    world: World,
) -> None:
    raws = [create(i).model_dump_json().encode() for i in ("s-1", "s-2")]
    world.schedules.fail_next_record = ConnectionError("database gone")

    with pytest.raises(ConnectionError):
        await world.handler.handle_batch([keyed(r) for r in raws])
    assert world.bodies.published == [], "nothing answered from a failed batch"

    assert await world.handler.handle_batch([keyed(r) for r in raws]) == [None, None]
    assert [reply([p])["type"] for p in world.bodies.published] == [
        "ScheduleChanged",
        "CommandAccepted",
    ] * 2
    assert sorted(world.calendar.calls[-1]) == ["acme/s-1", "acme/s-2"]


class CountingSchedules(MemorySchedules):
    """Schedules counting the reads a command costs."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    async def read(self, ref: ScheduleRef) -> Stored | None:
        self.reads.append(f"schedule {ref.schedule_id}")
        return await super().read(ref)

    async def recorded(self, command_id: str) -> Recorded | None:
        self.reads.append("command")
        return await super().recorded(command_id)


async def test_a_command_reads_its_schedule_once_and_the_batch_records_in_one_write() -> None:
    """A create on a free id reads nothing; others look their id up once."""
    world = World(schedules=CountingSchedules())
    raws = [create(f"s-{n}").model_dump_json().encode() for n in range(3)]
    assert await world.handler.handle_batch([keyed(r) for r in raws]) == [None] * 3
    assert world.schedules.reads == []
    assert len(world.schedules.commands) == 3

    # A repeat meets its own schedule, whose outbox tells it: no lookup by command id.
    world.schedules.reads.clear()
    assert await world.handler.handle_batch([keyed(raws[0])]) == [None]
    assert world.schedules.reads == ["schedule s-0"]

    world.schedules.reads.clear()
    run_now = (
        RunNow(command_id=uuid4(), tenant_id="acme", schedule_id="s-0").model_dump_json().encode()
    )
    assert await world.handler.handle_batch([keyed(run_now)]) == [None]
    assert world.schedules.reads == ["schedule s-0", "command"]


async def test_the_calendar_is_told_which_schedules_the_batch_saved(world: World) -> None:
    """It reads those back a shard at a time (by the batch's id); a repeat and a
    rejection saved nothing, so it reads their schedules by id."""
    first = create("s-0").model_dump_json().encode()
    assert await world.handler.handle_batch([keyed(first)]) == [None]
    stale = UpdateSchedule(
        command_id=uuid4(),
        tenant_id="acme",
        schedule_id="s-0",
        changes=ScheduleChanges(name="Renamed"),
        expected_version=7,
    )
    batch = [first, create("s-1").model_dump_json().encode(), stale.model_dump_json().encode()]
    assert await world.handler.handle_batch([keyed(r) for r in batch]) == [None] * 3
    assert types(world.bodies.published[-1:]) == ["CommandRejected"]
    assert set(world.calendar.calls[-1]) == {"acme/s-0", "acme/s-1"}
    earlier, written = world.calendar.written
    assert written is not None
    assert written.stored_ids == {"acme/s-1"}
    assert earlier is not None
    assert earlier.batch != written.batch, "an id each batch"
    assert world.schedules.rows["acme/s-1"].written_by == (written.batch, shard_of("acme/s-1"))


async def test_a_repeated_create_is_answered_as_before_though_it_would_be_refused_now(
    world: World,
) -> None:
    """A create is written without reading its schedule; refused now (the allow-list
    changed since), it still reads it first, and answers a repeat as it was answered."""
    command = create()
    first = await world.send(command)
    assert types(first) == ["ScheduleChanged", "CommandAccepted"]
    world.domains = ["example.org"]
    assert await world.send(command) == first
    assert types(await world.send(create("s-2"))) == ["CommandRejected"], "a new one is refused"


async def test_a_repeat_inside_one_batch_is_answered_as_the_first(world: World) -> None:
    await world.send(create())
    command = (
        RunNow(command_id=uuid4(), tenant_id="acme", schedule_id="s-1").model_dump_json().encode()
    )
    before = len(world.bodies.published)

    assert await world.handler.handle_batch([keyed(command), keyed(command)]) == [None, None]
    published = world.bodies.published[before:]
    assert types(published) == ["ReportDue", "DeliveryStatus", "CommandAccepted"] * 2
    assert published[:3] == published[3:], "one run, answered twice byte for byte"


async def test_a_batch_reads_each_tenants_settings_once(world: World) -> None:
    """A herd of creates for one tenant: its settings (default zone, allowed volume) are
    read once for the batch, not once a command."""
    world.tenants.rows["acme"] = StoredTenant(
        TenantState("acme", 1, default_timezone="Asia/Tokyo"), {}
    )
    commands = [create(f"s-{n}") for n in range(6)] + [create("s-1", tenant_id="globex")]
    raws = [c.model_dump_json().encode() for c in commands]

    assert await world.handler.handle_batch([keyed(r) for r in raws]) == [None] * len(raws)
    assert dict(world.tenants.reads) == {"acme": 1, "globex": 1}
    zones = {
        (ref.tenant_id, ref.schedule_id): stored.state.spec.timezone
        for ref in (ScheduleRef("acme", "s-5"), ScheduleRef("globex", "s-1"))
        if (stored := await world.schedules.read(ref)) is not None
    }
    assert zones == {("acme", "s-5"): "Asia/Tokyo", ("globex", "s-1"): None}

    await world.handler.handle_batch([keyed(create("s-9").model_dump_json().encode())])
    assert world.tenants.reads["acme"] == 2, "the next batch reads them anew"
