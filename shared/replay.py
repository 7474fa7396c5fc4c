"""Rebuilding the delivery history from the audit log (`delivery.status`).

Reads the topic from its start (or from a timestamp) without a consumer
group, so it never moves anyone's offsets, and applies every event with the
same projection the scheduler runs live (`shared.history`). Rebuilding into an
empty collection gives the live documents; comparing the two finds tampering
or a projection that went wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError
from pymongo.asynchronous.collection import AsyncCollection

from shared import history_store
from shared.kafka import client_options
from shared.messages import DeliveryStatus
from shared.mongo import Document
from shared.settings import Settings
from shared.topics import Topics


async def read_records(
    settings: Settings, topic: str, since: datetime | None = None
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of a topic, from its start or `since`, up to its end when the read began."""
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(settings.kafka),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partitions = sorted(await _assigned_partitions(consumer, topic))
        ends = await consumer.end_offsets(partitions)
        if since is None:
            await consumer.seek_to_beginning(*partitions)
        else:
            starts = await consumer.offsets_for_times(
                {tp: int(since.timestamp() * 1000) for tp in partitions}
            )
            for tp in partitions:
                found = starts.get(tp)
                consumer.seek(tp, found.offset if found else ends[tp])
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=5000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield record
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()


async def read_events(
    settings: Settings, since: datetime | None = None
) -> AsyncIterator[DeliveryStatus | tuple[bytes, str]]:
    """Every event on `delivery.status`; (raw bytes, error) for a record that is not one."""
    topic = Topics(settings.kafka.topic_prefix).delivery_status
    async for record in read_records(settings, topic, since):
        try:
            yield DeliveryStatus.model_validate_json(record.value)
        except ValidationError as exc:
            yield (record.value, str(exc))


async def _assigned_partitions(consumer: AIOKafkaConsumer, topic: str) -> set[TopicPartition]:
    """Without a group, the consumer takes every partition once it has the topic's metadata."""
    for _ in range(100):
        if assigned := consumer.assignment():
            return set(assigned)
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} not found")


async def rebuild(
    settings: Settings,
    into: AsyncCollection[Document],
    *,
    since: datetime | None = None,
    tenant_id: str | None = None,
    progress: Callable[[int], Any] | None = None,
) -> tuple[int, list[tuple[bytes, str]]]:
    """Project the log into `into`; returns (events applied, records that were not events)."""
    applied = 0
    rejected: list[tuple[bytes, str]] = []
    async for item in read_events(settings, since):
        if isinstance(item, tuple):
            rejected.append(item)
        elif tenant_id is None or item.tenant_id == tenant_id:
            await history_store.project(into, item)
            applied += 1
        if progress is not None:
            progress(1)
    return applied, rejected
