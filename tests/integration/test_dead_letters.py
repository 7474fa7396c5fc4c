"""Bad messages go to the DLQ with the error in headers; the partition moves on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from herald.shared.contract.messages import DeliveryStatus, RunStatus
from herald.shared.contract.topics import Topics
from herald.shared.runtime.kafka import (
    ERROR_HEADER,
    ERROR_TYPE_HEADER,
    ORIGIN_HEADER,
    client_options,
    ensure_topics,
    group_id,
    make_broker,
)
from herald.shared.runtime.settings import Settings
from tests.helpers import read_topic, wait_until

pytestmark = pytest.mark.integration


async def test_unparsable_and_invalid_messages_are_dead_lettered_and_the_next_one_handled(
    settings: Settings,
) -> None:
    settings = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"partitions": 1})}
    )
    await ensure_topics(settings)
    topics = Topics(settings.kafka.topic_prefix)
    handled: list[DeliveryStatus] = []
    broker = make_broker(settings, "probe")

    @broker.subscriber(
        topics.delivery_status, group_id=group_id(settings, "probe"), auto_offset_reset="earliest"
    )
    async def on_status(event: DeliveryStatus) -> None:
        handled.append(event)

    valid = DeliveryStatus(
        tenant_id="acme",
        schedule_id="s1",
        run_id="s1@2026-11-27T08:00:00+00:00",
        attempt=1,
        status=RunStatus.DUE,
        stage="scheduler",
        scheduled_for=datetime(2026, 11, 27, 8, tzinfo=UTC),
    )
    producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all")
    await producer.start()
    await producer.send_and_wait(topics.delivery_status, b"{not json", key=b"s1")
    await producer.send_and_wait(
        topics.delivery_status, b'{"type": "DeliveryStatus", "tenant_id": "acme"}', key=b"s1"
    )
    await producer.send_and_wait(
        topics.delivery_status, valid.model_dump_json().encode(), key=b"s1"
    )
    await producer.stop()

    await broker.start()
    try:

        async def done() -> bool:
            return bool(handled)

        await wait_until(done, 60, "the valid message to be handled")
        await asyncio.sleep(0.5)
    finally:
        await broker.stop()

    assert handled == [valid]
    dead = await read_topic(settings, topics.dlq)
    assert [r.value for r in dead] == [
        b"{not json",
        b'{"type": "DeliveryStatus", "tenant_id": "acme"}',
    ]
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers}
        assert record.key == b"s1"
        assert headers[ERROR_TYPE_HEADER] == "ValidationError"
        assert headers[ORIGIN_HEADER].startswith(f"{topics.delivery_status}/0@")
    missing = {k: v.decode() for k, v in dead[1].headers}[ERROR_HEADER]
    assert "run_id" in missing
    assert "Field required" in missing
