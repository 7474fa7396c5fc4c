"""Whether the next stage has read a schedule's partition to its end, as Kafka itself tells.

The stuck-run timer asks before firing a run again (`ringing.py`). A run sits
in `due` past the limit either because the renderer that took its message
died with it, or because its message still waits behind a backlog: 10,000
unshared renders take longer than the 15 minutes, and firing 2,354 of them
again only lengthened the queue they were in. Kafka knows which: the stage's
consumer group commits an offset only past what it finished (`kafka.py`),
and a partition has an end. A group behind the end of the partition the
schedule's messages go to (its key, as the producers partition it) has yet to
read the run's message, or is still working on it.

One look per stage serves every timer rung for `fresh_for`: a pass rings
thousands. When Kafka cannot be asked, the answer is "read": the run is fired
again, as before, and the mailer's ledger keeps anyone from a second email.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from herald.shared.contract.messages import RunStatus
from herald.shared.contract.topics import Topics
from herald.shared.runtime.kafka import TRANSIENT_ERRORS, client_options, group_id
from herald.shared.runtime.settings import Settings

log = logging.getLogger("herald.scheduler.queues")

#: How long one reading of a stage's offsets answers for.
FRESH_FOR_S = 5.0


@dataclass(frozen=True, slots=True)
class _Stage:
    topic: str
    group: str


@dataclass(frozen=True, slots=True)
class _Reading:
    at: float
    #: The topic's partitions, in order, as the producers pick among them.
    partitions: tuple[int, ...]
    #: The partitions the group has not read to their end.
    behind: frozenset[int]


class KafkaStageQueues:
    """`ports.StageQueues` on the committed offsets of the renderers' and mailers' groups."""

    def __init__(self, settings: Settings, fresh_for_s: float = FRESH_FOR_S) -> None:
        topics = Topics(settings.kafka.topic_prefix)
        self._stages = {
            RunStatus.DUE: _Stage(topics.report_due, group_id(settings, "renderer")),
            RunStatus.RENDERED: _Stage(topics.report_rendered, group_id(settings, "mailer")),
        }
        self._options = client_options(settings.kafka)
        self._fresh_for_s = fresh_for_s
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._readings: dict[RunStatus, _Reading] = {}
        self._reading = asyncio.Lock()

    async def start(self) -> None:
        """Called again after an outage at start: what did start is closed first."""
        await self.stop()
        admin = AIOKafkaAdminClient(**self._options)
        consumer = AIOKafkaConsumer(**self._options, enable_auto_commit=False)
        try:
            await admin.start()
            await consumer.start()
        except BaseException:
            await admin.close()
            await consumer.stop()
            raise
        self._admin, self._consumer = admin, consumer

    async def stop(self) -> None:
        if self._admin is not None:
            await self._admin.close()
        if self._consumer is not None:
            await self._consumer.stop()
        self._admin = self._consumer = None

    async def holds(self, status: RunStatus, schedule_id: str) -> bool:
        stage = self._stages.get(status)
        if stage is None:
            return False
        try:
            reading = await self._read(status, stage)
        except TRANSIENT_ERRORS as exc:
            log.warning(
                "cannot tell whether %s has read %s (%r): a stuck run is fired again",
                stage.group,
                stage.topic,
                exc,
            )
            return False
        if not reading.partitions:
            return False
        key = schedule_id.encode()
        partition = DefaultPartitioner()(key, list(reading.partitions), list(reading.partitions))
        return partition in reading.behind

    async def _read(self, status: RunStatus, stage: _Stage) -> _Reading:
        async with self._reading:  # the timers of a pass ring at once: one reads, all use it
            known = self._readings.get(status)
            if known is not None and time.monotonic() - known.at < self._fresh_for_s:
                return known
            reading = await self._offsets(stage)
            self._readings[status] = reading
            return reading

    async def _offsets(self, stage: _Stage) -> _Reading:
        if self._admin is None or self._consumer is None:
            raise ConnectionError("the stage queues are not started")
        described = await self._admin.describe_topics([stage.topic])
        partitions = tuple(sorted(p["partition"] for t in described for p in t["partitions"]))
        tps = [TopicPartition(stage.topic, p) for p in partitions]
        if not tps:
            return _Reading(time.monotonic(), (), frozenset())
        ends = await self._consumer.end_offsets(tps)
        starts = await self._consumer.beginning_offsets(tps)
        committed = await self._admin.list_consumer_group_offsets(stage.group, partitions=tps)
        behind = set()
        for tp in tps:
            done = committed.get(tp)
            # No offset yet: the group starts at the partition's beginning.
            read_to = done.offset if done is not None and done.offset >= 0 else starts[tp]
            if read_to < ends[tp]:
                behind.add(tp.partition)
        return _Reading(time.monotonic(), partitions, frozenset(behind))
