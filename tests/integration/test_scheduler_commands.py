"""Schedule commands against the scheduler as a process, on real Kafka and FerretDB."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer
from pymongo.asynchronous.database import AsyncDatabase

from herald.client.commands import CommandRejectedError, HeraldClient
from herald.services.scheduler.commands import MAX_FIELD_ERRORS
from herald.shared.contract.messages import (
    Command,
    CommandAccepted,
    CreateSchedule,
    DeleteSchedule,
    DisableSchedule,
    EnableSchedule,
    RunNow,
    ScheduleChanged,
    UpdateSchedule,
)
from herald.shared.contract.schedule_spec import ScheduleChanges, ScheduleSpec
from herald.shared.contract.topics import Topics
from herald.shared.runtime.kafka import ERROR_TYPE_HEADER, client_options
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.helpers import read_topic, wait_until

pytestmark = pytest.mark.integration

SPEC: dict[str, Any] = {
    "name": "Weekly Scorecard",
    "report": {"id": "agent_performance"},
    "frequency": "weekly",
    "weekday": 0,
    "time_of_day": "08:00",
    "timezone": "Europe/Berlin",
    "recipients": ["lead@example.com"],
    "format": "pdf",
}


def _create(tenant: str = "acme", **changes: Any) -> CreateSchedule:
    return CreateSchedule(
        command_id=uuid4(),
        tenant_id=tenant,
        schedule_id=f"s-{uuid4().hex[:10]}",
        spec=ScheduleSpec.model_validate(SPEC | changes),
    )


async def _rejected(herald: HeraldClient, command: Command | dict[str, Any]) -> dict[str, str]:
    """Send (a dict unvalidated, as a foreign client may), expect a rejection; reasons by field."""
    sending = herald.send_document(command) if isinstance(command, dict) else herald.send(command)
    with pytest.raises(CommandRejectedError) as caught:
        await sending
    return {e.field: e.message for e in caught.value.errors}


async def test_create_is_accepted_with_version_and_next_firing_and_announced(
    herald: HeraldClient, scheduler: Settings
) -> None:
    command = _create()
    accepted = await herald.send(command)
    assert accepted.correlation_id == command.command_id
    assert accepted.version == 1
    assert accepted.next_run_at is not None
    assert accepted.next_run_at.weekday() == 0  # 08:00 Berlin on a Monday
    events = await read_topic(scheduler, Topics(scheduler.kafka.topic_prefix).schedule_events)
    changes = [
        ScheduleChanged.model_validate_json(r.value)
        for r in events
        if json.loads(r.value)["type"] == "ScheduleChanged"
        and json.loads(r.value)["schedule_id"] == command.schedule_id
    ]
    assert len(changes) == 1
    assert changes[0].spec == command.spec
    assert changes[0].version == 1


@pytest.mark.parametrize(
    ("spec_changes", "field", "fragment"),
    [
        ({"report": {"id": "sales_magic"}}, "spec.report", "unknown report type"),
        (
            {
                "frequency": "custom",
                "weekday": None,
                "cron": "99 * * * *",
                "window": {"kind": "previous_day"},
            },
            "spec.cron",
            "invalid cron",
        ),
        ({"timezone": "Mars/Olympus_Mons"}, "spec.timezone", "unknown IANA time zone"),
        (
            {"recipients": ["ok@example.com", "not an address"]},
            "spec.recipients.1",
            "invalid email address",
        ),
        ({"recipients": []}, "spec.recipients", "at least 1"),
        ({"time_of_day": 800}, "spec.time_of_day", "as text, HH:MM"),
        ({"time_of_day": "02:30Z"}, "spec.time_of_day", "without a UTC offset"),
        ({"time_of_day": "08:00:45"}, "spec.time_of_day", "to the minute"),
        ({"weekday": "2"}, "spec.weekday", "valid integer"),
    ],
)
async def test_invalid_schedules_are_rejected_per_field_and_not_stored(
    herald: HeraldClient,
    sdb: AsyncDatabase[Document],
    spec_changes: dict[str, Any],
    field: str,
    fragment: str,
) -> None:
    schedule_id = f"s-{uuid4().hex[:10]}"
    recorded_before = await sdb["commands"].count_documents({})
    reasons = await _rejected(
        herald,
        {
            "type": "CreateSchedule",
            "tenant_id": "acme",
            "schedule_id": schedule_id,
            "spec": SPEC | spec_changes,
        },
    )
    assert fragment in reasons[field], reasons
    assert await sdb["schedules"].find_one({"_id": f"acme/{schedule_id}"}) is None
    assert await sdb["commands"].count_documents({}) == recorded_before, "a rejection was stored"


async def test_unknown_schedule_version_conflict_and_taken_id_are_rejected(
    herald: HeraldClient,
) -> None:
    assert (
        "not found"
        in (
            await _rejected(
                herald, RunNow(command_id=uuid4(), tenant_id="acme", schedule_id="nope")
            )
        )["schedule_id"]
    )
    created = _create()
    await herald.send(created)
    conflict = UpdateSchedule(
        command_id=uuid4(),
        tenant_id="acme",
        schedule_id=created.schedule_id,
        changes=ScheduleChanges(name="Renamed"),
        expected_version=7,
    )
    assert "version conflict" in (await _rejected(herald, conflict))["expected_version"]
    again = CreateSchedule(
        command_id=uuid4(), tenant_id="acme", schedule_id=created.schedule_id, spec=created.spec
    )
    assert "exists" in (await _rejected(herald, again))["schedule_id"]


async def test_update_enable_disable_delete(herald: HeraldClient) -> None:
    created = _create()
    await herald.send(created)
    sid = created.schedule_id
    updated = await herald.send(
        UpdateSchedule(
            command_id=uuid4(),
            tenant_id="acme",
            schedule_id=sid,
            changes=ScheduleChanges(time_of_day="09:30"),  # type: ignore[arg-type]
            expected_version=1,
        )
    )
    assert updated.version == 2
    assert updated.next_run_at is not None
    assert (updated.next_run_at.hour, updated.next_run_at.minute) in ((8, 30), (7, 30))
    disabled = await herald.send(
        DisableSchedule(command_id=uuid4(), tenant_id="acme", schedule_id=sid)
    )
    assert (disabled.version, disabled.next_run_at) == (3, None)
    enabled = await herald.send(
        EnableSchedule(command_id=uuid4(), tenant_id="acme", schedule_id=sid, expected_version=3)
    )
    assert enabled.version == 4
    assert enabled.next_run_at is not None
    bad = UpdateSchedule(
        command_id=uuid4(),
        tenant_id="acme",
        schedule_id=sid,
        changes=ScheduleChanges(frequency="daily"),  # type: ignore[arg-type]
        expected_version=4,
    )
    assert "weekday is only for weekly" in (await _rejected(herald, bad))["changes"]
    await herald.send(DeleteSchedule(command_id=uuid4(), tenant_id="acme", schedule_id=sid))
    assert (
        "not found"
        in (await _rejected(herald, RunNow(command_id=uuid4(), tenant_id="acme", schedule_id=sid)))[
            "schedule_id"
        ]
    )


async def test_another_tenants_schedule_is_not_found_and_untouched(
    herald: HeraldClient, sdb: AsyncDatabase[Document]
) -> None:
    created = _create(tenant="acme")
    await herald.send(created)
    sid = created.schedule_id
    for command in (
        RunNow(command_id=uuid4(), tenant_id="globex", schedule_id=sid),
        DisableSchedule(command_id=uuid4(), tenant_id="globex", schedule_id=sid),
        DeleteSchedule(command_id=uuid4(), tenant_id="globex", schedule_id=sid),
        UpdateSchedule(
            command_id=uuid4(),
            tenant_id="globex",
            schedule_id=sid,
            changes=ScheduleChanges(recipients=["thief@example.com"]),
            expected_version=1,
        ),
    ):
        assert "not found" in (await _rejected(herald, command))["schedule_id"]
    stored = await sdb["schedules"].find_one({"_id": f"acme/{sid}"})
    assert await sdb["schedules"].find_one({"_id": f"globex/{sid}"}) is None
    assert stored is not None
    assert (stored["tenant_id"], stored["version"], stored["deleted"]) == ("acme", 1, False)
    assert stored["spec"]["recipients"] == ["lead@example.com"]


async def test_a_repeated_command_id_gets_the_same_reply_and_changes_nothing(
    herald: HeraldClient, sdb: AsyncDatabase[Document]
) -> None:
    created = _create()
    await herald.send(created)
    update = UpdateSchedule(
        command_id=uuid4(),
        tenant_id="acme",
        schedule_id=created.schedule_id,
        changes=ScheduleChanges(name="Once"),
        expected_version=1,
    )
    first = await herald.send(update)
    second = await herald.send(update)
    assert first == second
    assert isinstance(first, CommandAccepted)
    stored = await sdb["schedules"].find_one({"_id": f"acme/{created.schedule_id}"})
    assert stored is not None
    assert stored["version"] == 2


async def test_garbage_goes_to_the_dlq_and_the_scheduler_keeps_answering(
    herald: HeraldClient, scheduler: Settings, sdb: AsyncDatabase[Document]
) -> None:
    topics = Topics(scheduler.kafka.topic_prefix)
    before = await sdb["schedules"].count_documents({})
    producer = AIOKafkaProducer(**client_options(scheduler.kafka), acks="all")
    await producer.start()
    await producer.send_and_wait(topics.commands, b"\x00not json", key=b"junk")
    await producer.send_and_wait(topics.commands, b'{"type": "CreateSchedule"}', key=b"junk")
    await producer.stop()
    accepted = await herald.send(_create())
    assert accepted.version == 1

    async def dead_lettered() -> list[Any]:
        records = await read_topic(scheduler, topics.dlq)
        return [r for r in records if r.key == b"junk"] if len(records) >= 2 else []

    junk = await wait_until(dead_lettered, 30, "both bad commands in the DLQ")
    assert sorted(r.value for r in junk) == sorted([b"\x00not json", b'{"type": "CreateSchedule"}'])
    assert all(dict(r.headers)[ERROR_TYPE_HEADER] == b"PoisonMessage" for r in junk)
    assert await sdb["schedules"].count_documents({}) == before + 1


async def test_a_command_of_30000_unknown_fields_is_answered_and_the_next_one_too(
    herald: HeraldClient,
) -> None:
    """Listing every error made a 2.6 MB rejection, which Kafka refused: the partition
    retried it for good, and no command behind it was answered."""
    schedule_id = f"s-{uuid4().hex[:10]}"
    spec = SPEC | {f"x{n}": n for n in range(30_000)}
    create = {"type": "CreateSchedule", "tenant_id": "acme", "schedule_id": schedule_id}
    with pytest.raises(CommandRejectedError) as caught:
        await herald.send_document(create | {"spec": spec})
    errors = caught.value.errors
    assert len(errors) == MAX_FIELD_ERRORS
    assert (errors[-1].field, errors[-1].code) == ("command", "too_many_errors")
    accepted = await herald.send_document(create | {"spec": SPEC})  # same key, same partition
    assert accepted.version == 1
