"""The scheduler's batch subscriber on FastStream's in-memory broker, over in-memory ports.

Replies and dead letters go out through the broker, as in production.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from uuid import uuid4

from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from herald.services.scheduler import handlers
from herald.services.scheduler.calendar import CommandsFirst
from herald.services.scheduler.command_handling import CommandHandler
from herald.services.scheduler.projection import Projection
from herald.shared.contract.messages import CreateSchedule, DeliveryStatus, RunStatus
from herald.shared.contract.topics import Topics
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runtime.kafka import ORIGIN_HEADER, TRICKLE_MIN_BYTES, TRICKLE_WAIT_MS
from tests.fakes.scheduler import (
    MemoryCalendar,
    MemoryRunHistory,
    MemorySchedules,
    MemoryTenants,
    MemoryTimers,
)
from tests.samples import DAILY_SPEC

TOPICS = Topics("wiring")


def _wired(broker: KafkaBroker, schedules: MemorySchedules, history: MemoryRunHistory) -> None:
    handler = CommandHandler(
        schedules,
        MemoryCalendar(),
        handlers.BrokerBodies(broker),
        TOPICS,
        "UTC",
        RecipientPolicy(),
        MemoryTenants(),
    )
    projection = Projection(history, MemoryTimers(), timedelta(minutes=15))
    quiet = asyncio.Event()
    quiet.set()
    first = CommandsFirst()
    statuses = handlers.StatusProjection(broker, TOPICS, projection, quiet, first)
    handlers.register(broker, TOPICS, "wiring", handler, statuses, first)


async def test_commands_and_statuses_reach_their_use_cases_and_poison_the_dlq() -> None:
    broker = KafkaBroker()
    schedules, history = MemorySchedules(), MemoryRunHistory()
    _wired(broker, schedules, history)
    dead: list[str] = []
    replies: list[str] = []

    @broker.subscriber(TOPICS.schedule_events)
    async def on_reply(message: KafkaMessage) -> None:
        replies.append(json.loads(message.body)["type"])

    @broker.subscriber(TOPICS.dlq)
    async def on_dead(message: KafkaMessage) -> None:
        dead.append(message.headers[ORIGIN_HEADER].split("/")[0])

    command = CreateSchedule(
        command_id=uuid4(), tenant_id="acme", schedule_id="s-1", spec=DAILY_SPEC
    )
    status = DeliveryStatus(
        tenant_id="acme",
        schedule_id="s-1",
        run_id="s-1@1",
        attempt=1,
        status=RunStatus.DUE,
        stage="scheduler",
    )
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(
            command.model_dump_json().encode(), TOPICS.commands, key=command.key()
        )
        await test_broker.publish(b"not json", TOPICS.commands)
        await test_broker.publish(status.model_dump_json().encode(), TOPICS.delivery_status)
        await test_broker.publish(json.dumps({"run_id": "r"}).encode(), TOPICS.delivery_status)

    assert replies == ["ScheduleChanged", "CommandAccepted"]
    assert [c for c, _ in schedules.saves] == [str(command.command_id)]
    assert dead == [TOPICS.commands, TOPICS.delivery_status]
    assert list(history.records) == ["s-1@1"]


def test_statuses_are_fetched_a_few_at_a_time_and_commands_as_they_come() -> None:
    """Statuses trickle in while renders are slow: the broker waits a little to hand over
    several (one projection round and one commit for them all). A command is answered
    at once."""
    broker = KafkaBroker()
    _wired(broker, MemorySchedules(), MemoryRunHistory())
    fetch = {
        topic: subscriber._connection_args  # the options FastStream gives aiokafka
        for subscriber in broker.subscribers
        for topic in subscriber.topic_names
    }
    assert fetch[TOPICS.delivery_status]["fetch_min_bytes"] == TRICKLE_MIN_BYTES
    assert fetch[TOPICS.delivery_status]["fetch_max_wait_ms"] == TRICKLE_WAIT_MS
    assert fetch[TOPICS.commands]["fetch_min_bytes"] == 1
