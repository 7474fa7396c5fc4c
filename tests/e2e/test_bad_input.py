"""Junk on every topic a service consumes, through real Kafka, into the three services as processes.

Each consumed topic (the scheduler's commands and delivery status, the
renderer's report.due, the mailer's report.rendered) gets `HERALD_FUZZ_CASES`
payloads from tests/fuzz.py (1,000 by default), sent with a raw aiokafka
producer: random bytes, broken and misshapen JSON, null values, absurd keys,
and headers that are not UTF-8 or null. Then: every service is still ready,
the DLQ holds exactly the payloads no subscriber can take, every command that
can be answered was answered (rejections name fields) and nothing was stored
for a rejected one, and a schedule created and run after the junk is still
delivered: no partition is stuck.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import strategies as st
from pydantic import BaseModel
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.services.scheduler import commands as scheduler_commands
from herald.services.scheduler.store import SCHEDULES
from herald.shared.contract.messages import (
    CommandAccepted,
    CommandRejected,
    CreateSchedule,
    DeliveryStatus,
    ReportDue,
    ReportRendered,
    RunNow,
    RunStatus,
)
from herald.shared.contract.schedule_spec import Frequency, ReportFormat, ReportRef, ScheduleSpec
from herald.shared.contract.topics import Topics
from herald.shared.history import store as history_store
from herald.shared.history.fold import RunRecord
from herald.shared.runtime.kafka import ORIGIN_HEADER, client_options
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.fuzz import COMMAND_FIELDS, commands, draw, encoded, junk_for, raw_payloads
from tests.helpers import (
    Mailpit,
    command_client,
    off_hours,
    ops_get,
    read_topic,
    three_services,
    wait_until,
)

pytestmark = pytest.mark.e2e

CASES = int(os.environ.get("HERALD_FUZZ_CASES", "1000"))
#: How long the services may take over the junk: 4 min per 1,000 cases a topic, ample here.
WAIT_S = 240 * max(1, CASES // 1000)
#: One valid command among this many junk payloads on the commands topic.
VALID_EVERY = 50

Header = tuple[str, bytes | None]
Reply = CommandAccepted | CommandRejected
#: Headers a producer may attach: plain, not UTF-8, null, none at all.
HEADERS: list[list[Header]] = [
    [("content-type", b"application/json")],
    [("content-type", b"\xff\xfe\xfa"), ("x-\xe9", b"\xc3\x28")],
    [("content-type", None), ("correlation_id", None)],
    [],
]
#: Keys: none, empty, not UTF-8, absurdly long.
KEYS: list[bytes | None] = [None, b"", b"\xff" * 64, b"k" * 10_000]


@dataclass(frozen=True, slots=True)
class Junk:
    topic: str
    value: bytes | None
    dead_letter: bool
    #: A well-keyed command's key; None: one of the odd `KEYS`.
    key: bytes | None = None


def _dead_letter_value(value: bytes | None) -> bytes:
    """What the DLQ holds for a payload: its bytes, a null value as empty ones."""
    return value or b""


def _topic_junk(model: type[BaseModel], topic: str) -> list[Junk]:
    """Payloads no subscriber of `model` can take, one in ten with a null value."""
    drawn = draw(junk_for(model), CASES)
    return [Junk(topic, None if i % 10 == 9 else raw, True) for i, raw in enumerate(drawn)]


def _command_payloads() -> list[bytes]:
    """Command-shaped documents of every type and garbled valid commands, half and half."""
    sample = CreateSchedule(  # fixed ids and time: the same payloads on every run
        tenant_id="acme",
        schedule_id="fuzz-1",
        command_id=UUID("7c1b8f6e-2f0a-4c1e-9d3e-0a1b2c3d4e5f"),
        event_id=UUID("0b5d5c1e-8f0a-4c1e-9d3e-0a1b2c3d4e5f"),
        occurred_at=datetime(2026, 11, 27, 8, tzinfo=UTC),
        spec=ScheduleSpec(
            name="Brief",
            report=ReportRef(id="campaign_summary"),
            frequency=Frequency.DAILY,
            recipients=["ops@example.com"],
        ),
    )
    documents = st.one_of(*[encoded(commands(t)) for t in COMMAND_FIELDS])
    garbled = raw_payloads(sample.model_dump_json().encode())
    return draw(documents, CASES - CASES // 2) + draw(garbled, CASES // 2)


async def _publish(settings: Settings, junk: list[Junk]) -> None:
    """Send every payload with a raw producer, cycling through odd headers and keys."""
    producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all", linger_ms=5)
    await producer.start()
    try:
        partitions = settings.kafka.partitions
        pending = [
            await producer.send(
                item.topic,
                item.value,
                # aiokafka refuses a record with neither key nor value.
                key=item.key or (KEYS[i % len(KEYS)] if item.value is not None else b"\x00"),
                headers=HEADERS[i % len(HEADERS)],  # null header values are valid Kafka
                partition=i % partitions,  # odd headers reach every partition
            )
            for i, item in enumerate(junk)
        ]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


@pytest.mark.timeout(300 + 2 * WAIT_S)
async def test_junk_on_every_consumed_topic_is_dead_lettered_or_answered_never_stuck(
    topics_ready: Settings,
    db: AsyncDatabase[Document],
    mailpit: Mailpit,
    recipient: str,
    log_dir: Path,
) -> None:
    settings = topics_ready
    topics = Topics(settings.kafka.topic_prefix)
    await demo.seed(db, tenant_id="acme", calls=200, days=3, anchor=date.today())

    junk: list[Junk] = []
    valid_ids: set[str] = set()
    answerable: dict[str, str] = {}  # command id -> schedule id
    anonymous = 0
    for i, raw in enumerate(_command_payloads()):
        if i % VALID_EVERY == 0:
            valid = CreateSchedule(
                command_id=uuid4(),
                tenant_id="acme",
                schedule_id=f"valid-{i}",
                spec=ScheduleSpec(
                    name=f"Valid {i}",
                    report=ReportRef(id="campaign_summary"),
                    frequency=Frequency.DAILY,
                    recipients=["ops@example.com"],
                ),
            )
            valid_ids.add(str(valid.command_id))
            answerable[str(valid.command_id)] = valid.schedule_id
            junk.append(Junk(topics.commands, valid.model_dump_json().encode(), False, valid.key()))
        value = None if i % 97 == 96 else raw
        parsed = scheduler_commands.parse(_dead_letter_value(value), None)
        if isinstance(parsed, scheduler_commands.Unanswerable):
            junk.append(Junk(topics.commands, value, True))
            continue
        if parsed.command_id is None:
            anonymous += 1  # answered with command_id null: its sender cannot match it
        else:
            # Under an odd key, a valid command too is rejected (`key_mismatch`).
            answerable[str(parsed.command_id)] = parsed.schedule_id
        junk.append(Junk(topics.commands, value, False))
    junk += _topic_junk(DeliveryStatus, topics.delivery_status)
    junk += _topic_junk(ReportDue, topics.report_due)
    junk += _topic_junk(ReportRendered, topics.report_rendered)
    expected = Counter(
        (item.topic, _dead_letter_value(item.value)) for item in junk if item.dead_letter
    )

    async with three_services(settings, log_dir) as services:
        await _publish(settings, junk)

        async def dead_lettered() -> Counter[tuple[str, bytes]] | None:
            records = await read_topic(settings, topics.dlq, timeout_s=30)
            found = Counter(
                (dict(r.headers)[ORIGIN_HEADER].decode().split("/")[0], r.value or b"")
                for r in records
            )
            return found if found.total() >= expected.total() else None

        dlq = await wait_until(
            dead_lettered, WAIT_S, f"{expected.total()} payloads in the DLQ", interval_s=3
        )

        async def replies() -> dict[str, list[Reply]]:
            """Every answer by command id: the fuzzing reuses ids, so one id may get several."""
            records = await read_topic(settings, topics.schedule_events, timeout_s=30)
            found: dict[str, list[Reply]] = defaultdict(list)
            for record in records:
                event = json.loads(record.value or b"{}")
                if event.get("type") == "CommandAccepted":
                    found[event["command_id"]].append(CommandAccepted.model_validate(event))
                elif event.get("type") == "CommandRejected":
                    # A command without a usable id is answered under a null one.
                    found[str(event["command_id"])].append(CommandRejected.model_validate(event))
            return found

        async def all_answered() -> dict[str, list[Reply]] | None:
            found = await replies()
            complete = set(answerable) <= set(found)
            return found if complete and len(found.get("None", [])) >= anonymous else None

        try:
            answered = await wait_until(all_answered, WAIT_S / 2, "every command answered", 3)
        except AssertionError:
            late = set(answerable) - set(await replies())
            raise AssertionError(f"unanswered: {[(c, answerable[c]) for c in late][:20]}") from None

        # Still alive and ready: no consumer died or lost its partitions on the junk.
        for service in services:
            assert service.process.poll() is None, service.log()[-3000:]
            status, body = await asyncio.to_thread(ops_get, service.ops_port, "/readyz")
            assert status == 200, (service.name, body)

        # Not stuck: a schedule created and run after the junk is delivered.
        spec = ScheduleSpec(
            name="After the junk",
            report=ReportRef(id="campaign_summary"),
            frequency=Frequency.DAILY,
            recipients=[recipient],
            format=ReportFormat.CSV,
        )
        async with command_client(settings, timeout_s=60) as herald:
            created = await herald.send(
                CreateSchedule(
                    command_id=uuid4(),
                    tenant_id="acme",
                    schedule_id="after-junk",
                    spec=off_hours(spec),
                )
            )
            assert isinstance(created, CommandAccepted)
            ran = await herald.send(
                RunNow(command_id=uuid4(), tenant_id="acme", schedule_id="after-junk")
            )
        run_id = ran.run_id
        assert run_id is not None

        async def delivered() -> RunRecord | None:
            record = await history_store.get_run(db[history_store.RUNS], "acme", run_id)
            return record if record and record.status is RunStatus.DELIVERED else None

        await wait_until(delivered, 90, f"run {run_id} to be delivered")
        assert len(mailpit.to(recipient)) == 1

    assert dlq == expected
    assert set(answered) - set(answerable) <= {"None"}
    assert len(answered.get("None", [])) == anonymous
    for command_id in valid_ids:
        assert [type(r) for r in answered[command_id]] == [CommandAccepted], answered[command_id]
    every = [reply for answers in answered.values() for reply in answers]
    # Stored only through an accepted command, whatever order the partitions were read in
    # (a schedule is its tenant's: the pairs are compared).
    rejected = {(r.tenant_id, r.schedule_id) for r in every if isinstance(r, CommandRejected)}
    accepted = {(r.tenant_id, r.schedule_id) for r in every if isinstance(r, CommandAccepted)}
    for reply in every:
        if isinstance(reply, CommandRejected):
            assert reply.errors, reply
            # Every reason names its field; an extra key may itself be named "".
            assert all(e.message for e in reply.errors), reply
            assert all(e.field or e.code == "extra_forbidden" for e in reply.errors), reply
    never = rejected - accepted
    found = db[SCHEDULES].find({"schedule_id": {"$in": sorted({s for _, s in never})}})
    assert [d["_id"] async for d in found if (d["tenant_id"], d["schedule_id"]) in never] == []
