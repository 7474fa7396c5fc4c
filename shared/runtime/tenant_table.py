"""Every tenant's latest settings in memory, read whole from the compacted `tenant.settings`.

Each process reads the topic from its beginning (no consumer group: every
replica needs every tenant) and then follows it. `start` returns once the
table has caught up with what the topic held when it began, so a mailer never
sends a tenant's mail on the defaults while that tenant's settings are still
unread. A record that does not parse is logged with its offset and skipped;
an older version after a newer one (two writers racing) never wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from herald.shared.contract.messages import TenantSettings
from herald.shared.contract.tolerance import TOLERANT
from herald.shared.runtime.kafka import Record, client_options
from herald.shared.runtime.settings import KafkaSettings

log = logging.getLogger("herald.tenants")


class TenantTable:
    """The `TenantDirectory` port on the compacted topic."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self._kafka = kafka
        self._topic = topic
        self._latest: dict[str, TenantSettings] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._follow: asyncio.Task[None] | None = None

    def settings(self, tenant_id: str) -> TenantSettings | None:
        return self._latest.get(tenant_id)

    def all(self) -> list[TenantSettings]:
        return sorted(self._latest.values(), key=lambda s: s.tenant_id)

    async def start(self, timeout_s: float = 60.0) -> None:
        """Read the topic up to its end as of now, then follow it in the background.

        Called again after an outage at start: a consumer that failed is closed.
        """
        # Subscribed without a group: every partition is this process's, from the earliest.
        consumer = AIOKafkaConsumer(
            self._topic,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **client_options(self._kafka),
        )
        try:
            await consumer.start()
            async with asyncio.timeout(timeout_s):
                while not consumer.assignment():  # once the metadata names the partitions
                    self._take(await consumer.getmany(timeout_ms=100))
                ends = await consumer.end_offsets(list(consumer.assignment()))
                for partition, end in ends.items():
                    while await consumer.position(partition) < end:
                        self._take(await consumer.getmany(timeout_ms=500))
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        log.info("tenant settings read: %d tenants", len(self._latest))
        self._follow = asyncio.create_task(self._follow_topic(consumer), name="tenant-settings")

    async def _follow_topic(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            self._take(await consumer.getmany(timeout_ms=1000))

    def _take(self, batches: dict[TopicPartition, list[Record]]) -> None:
        for records in batches.values():
            for record in records:
                self.add(record.value or b"", f"{record.partition}@{record.offset}")

    def add(self, raw: bytes, origin: str) -> None:
        """One record of the topic; `origin` names it in the log if it is unusable."""
        try:
            settings = TenantSettings.model_validate_json(raw, context=TOLERANT)
        except ValidationError as exc:
            log.error("tenant settings at %s unusable, skipped: %s", origin, exc)
            return
        known = self._latest.get(settings.tenant_id)
        if known is None or known.version <= settings.version:
            self._latest[settings.tenant_id] = settings

    async def stop(self) -> None:
        if self._follow is not None:
            self._follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follow
        if self._consumer is not None:
            await self._consumer.stop()
