"""Every record of a realistic run, on every topic, holds to docs/asyncapi.yaml.

The three services run as processes on topics of their own. A platform's day with
Herald: the tenant sets its default zone, creates a schedule, updates it, runs it now
(rendered, delivered), checks SMTP with a test email, disables, enables and deletes the
schedule, and sends one command twice; and the mistakes a platform makes: an update on a
stale version, a bad time zone, a command without command_id, one keyed by another
schedule, one that is not JSON.

Then every topic is read from its start with a plain consumer, and each record is judged
by the document alone: the payload by the schema of the message its `type` names, the
headers by that message's, the key by the documented key rule; a dead letter by the DLQ's
headers and the record it came from. The broken commands must break the schema (as the
scheduler refused them), everything else must match it; and the order and the replies the
document promises are checked on the same records.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, time
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.client.commands import CommandRejectedError
from herald.shared.contract.messages import (
    ChangeTenantSettings,
    CreateSchedule,
    DeleteSchedule,
    DisableSchedule,
    EnableSchedule,
    RunNow,
    SendTestEmail,
    UpdateSchedule,
)
from herald.shared.contract.schedule_spec import (
    Frequency,
    ReportFormat,
    ReportRef,
    ScheduleChanges,
    ScheduleSpec,
)
from herald.shared.contract.topics import ERROR_TYPE_HEADER, ORIGIN_HEADER, Topics
from herald.shared.runtime.kafka import Record, client_options
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests import asyncapi_document as doc
from tests.helpers import command_client, three_services, wait_until

pytestmark = pytest.mark.e2e

TENANT = "acme"
SCHEDULE = "contract-brief"
NOT_JSON = b"run the contract brief now, please"


async def _every_record(settings: Settings) -> list[Record]:
    """Every record on every Herald topic, from the start, read with no consumer group.

    `earliest` as well as the seek: a consumer left at `latest` can finish resetting to the
    end after the seek, and then reads nothing (CI saw it once).
    """
    topics = Topics(settings.kafka.topic_prefix).all()
    consumer = AIOKafkaConsumer(
        *topics,
        **client_options(settings.kafka),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:

        async def every_partition() -> list[TopicPartition]:
            """Without a group, the consumer takes every partition once it has the metadata."""
            assigned = sorted(consumer.assignment())
            return assigned if {tp.topic for tp in assigned} == set(topics) else []

        partitions = await wait_until(every_partition, 30, "every topic's partitions")
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Record] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                records += batch
        return records
    finally:
        await consumer.stop()


def _payload(record: Record) -> dict[str, Any]:
    try:
        payload = json.loads(record.value or b"")
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _headers(record: Record) -> dict[str, str]:
    return {
        key: (value or b"").decode("utf-8", "backslashreplace") for key, value in record.headers
    }


def _where(record: Record) -> str:
    return f"{record.topic}/{record.partition}@{record.offset}"


def _judged(record: Record, prefix: str, every: dict[str, Record]) -> list[str]:
    """What about `record` breaks the document (empty: nothing)."""
    channel = doc.channel_of(record.topic, prefix)
    names = doc.message_names(channel)
    name = names[0] if names == ["DeadLetter"] else str(_payload(record).get("type"))
    if name not in names:
        return [f"no message {name!r} on {channel['title']}: {record.value!r:.200}"]
    message = f"#/components/messages/{name}"
    found = doc.problems(f"{message}/headers", _headers(record))
    location = doc.key_location(name)
    if location is None:  # a dead letter: the original record's bytes and key
        origin = every.get(_headers(record).get(ORIGIN_HEADER, ""))
        if origin is None or (origin.key, origin.value or b"") != (record.key, record.value):
            found.append(f"not the record at {_headers(record).get(ORIGIN_HEADER)}")
        return found + doc.problems(f"{message}/payload", (record.value or b"").decode("latin-1"))
    payload = _payload(record)
    found += doc.problems(f"{message}/payload", payload)
    if record.key != str(payload.get(location)).encode():
        found.append(f"key {record.key!r} is not the payload's {location}")
    key = (record.key or b"").decode("utf-8", "backslashreplace")
    return found + doc.problems(f"{message}/bindings/kafka/key", key)


def _first(events: Sequence[Record], type_: str, field: str, value: str) -> Record:
    """The first event of a type with the field's value; any others must be its copies."""
    first, *again = [
        r for r in events if _payload(r)["type"] == type_ and _payload(r)[field] == value
    ]
    assert all(r.value == first.value for r in again), "a repeat answered otherwise"
    return first


@pytest.mark.timeout(480)
async def test_every_record_of_a_realistic_run_matches_the_asyncapi_document(
    topics_ready: Settings, db: AsyncDatabase[Document], recipient: str, log_dir: Path
) -> None:
    settings = topics_ready
    topics = Topics(settings.kafka.topic_prefix)
    await demo.seed(db, tenant_id=TENANT, calls=200, days=3, anchor=date.today())
    ours = {"tenant_id": TENANT, "schedule_id": SCHEDULE}
    spec = ScheduleSpec(
        name="Contract brief",
        report=ReportRef(id="campaign_summary"),
        frequency=Frequency.WEEKLY,
        weekday=0,
        recipients=[recipient],
        format=ReportFormat.CSV,
    )
    settings_id, create_id, update_id, bad_zone, wrong_key = (uuid4() for _ in range(5))
    without_id = RunNow(command_id=uuid4(), **ours).model_dump_json(exclude={"command_id"}).encode()
    async with three_services(settings, log_dir), command_client(settings, timeout_s=60) as herald:
        zone = ChangeTenantSettings(
            command_id=settings_id, tenant_id=TENANT, default_timezone="Europe/Berlin"
        )
        await herald.send(zone)
        create = CreateSchedule(command_id=create_id, spec=spec, **ours)
        await herald.send(create)
        await herald.send(create)  # a repeat: the same reply again
        changes = ScheduleChanges(name="Contract brief, earlier", time_of_day=time(7, 30))
        update = UpdateSchedule(command_id=update_id, changes=changes, expected_version=1, **ours)
        await herald.send(update)
        with pytest.raises(CommandRejectedError) as stale:
            await herald.send(update.model_copy(update={"command_id": uuid4()}))
        assert [e.code for e in stale.value.errors] == ["version_conflict"]
        ran = await herald.send(RunNow(command_id=uuid4(), **ours))
        tester = recipient.replace("@", ".check@")
        checked = await herald.send(
            SendTestEmail(
                command_id=uuid4(), tenant_id=TENANT, schedule_id="smtp", recipients=[tester]
            )
        )
        badly_zoned = CreateSchedule(
            command_id=bad_zone, tenant_id=TENANT, schedule_id="contract-zone", spec=spec
        ).model_dump(mode="json")
        badly_zoned["spec"]["timezone"] = "Europe/Atlantis"
        with pytest.raises(CommandRejectedError) as unknown_zone:
            await herald.send_document(badly_zoned)
        assert [e.field for e in unknown_zone.value.errors] == ["spec.timezone"]

        miskeyed = RunNow(command_id=wrong_key, **ours).model_dump_json().encode()
        producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all")
        await producer.start()
        try:
            for key, value in (
                (SCHEDULE, without_id),
                ("another-schedule", miskeyed),
                (SCHEDULE, NOT_JSON),
            ):
                await producer.send_and_wait(topics.commands, value, key=key.encode())
        finally:
            await producer.stop()

        async def delivered() -> bool:
            payloads = map(_payload, await _every_record(settings))
            done = {p.get("run_id") for p in payloads if p.get("status") == "delivered"}
            return {ran.run_id, checked.run_id} <= done

        async def answered() -> bool:
            payloads = map(_payload, await _every_record(settings))
            rejected = {p.get("command_id") for p in payloads if p.get("type") == "CommandRejected"}
            return {None, str(wrong_key)} <= rejected

        async def dead_lettered() -> bool:
            return any(r.topic == topics.dlq for r in await _every_record(settings))

        await wait_until(delivered, 180, "the run and the test email to be delivered")
        await wait_until(answered, 60, "replies to the command without id and the miskeyed one")
        await wait_until(dead_lettered, 60, "the command that is not JSON in the DLQ")
        await herald.send(DisableSchedule(command_id=uuid4(), expected_version=2, **ours))
        await herald.send(EnableSchedule(command_id=uuid4(), **ours))
        await herald.send(DeleteSchedule(command_id=uuid4(), expected_version=4, **ours))

    records = await _every_record(settings)
    assert len(records) > 20, "the final read of every topic came back (nearly) empty"
    every = {_where(r): r for r in records}
    broken_ids = {str(bad_zone), str(wrong_key)}
    failures = []
    for record in records:
        found = _judged(record, settings.kafka.topic_prefix, every)
        payload = _payload(record)
        meant = record.topic == topics.commands and (
            payload.get("command_id") in broken_ids or record.value in (NOT_JSON, without_id)
        )
        if meant and not found:
            failures.append(f"{_where(record)} matched the document but breaks it")
        elif found and not meant:
            failures.append(f"{_where(record)} {payload.get('type')}: {'; '.join(found)}")
    assert failures == [], "\n".join(failures)

    # Every message the document names was seen, and what the document says of them holds.
    seen = {_payload(r).get("type") for r in records} | {"DeadLetter"}
    assert set(doc.document()["components"]["messages"]) <= seen
    events = sorted(
        (r for r in records if r.topic == topics.schedule_events),
        key=lambda r: (r.partition, r.offset),
    )
    effects = [
        (create_id, "ScheduleChanged"),
        (update_id, "ScheduleChanged"),
        (settings_id, "TenantSettingsChanged"),
    ]
    for command_id, effect in effects:
        command = str(command_id)
        changed = _first(events, effect, "correlation_id", command)
        accepted = _first(events, "CommandAccepted", "command_id", command)
        assert changed.partition == accepted.partition
        assert changed.offset < accepted.offset, f"{effect} of {command} after its reply"
    rejections = [p for p in map(_payload, events) if p["type"] == "CommandRejected"]
    by_field = {str(p["errors"][0]["field"]): p for p in rejections}
    assert by_field["key"]["errors"][0]["code"] == "key_mismatch"
    # The command without command_id is answered, with null; the one not JSON is not.
    assert [p for p in rejections if p["command_id"] is None] == [by_field["command_id"]]
    dead = [r for r in records if r.topic == topics.dlq]
    assert [(r.value, r.key) for r in dead] == [(NOT_JSON, SCHEDULE.encode())], [
        _headers(r) for r in dead
    ]
    assert _headers(dead[0])[ERROR_TYPE_HEADER] == "PoisonMessage"
    assert _headers(dead[0])[ORIGIN_HEADER].startswith(f"{topics.commands}/")
