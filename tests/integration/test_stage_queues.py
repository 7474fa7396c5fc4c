"""The stuck-run timer's question, put to real Kafka: has the next stage read a schedule's
partition to its end? (`services/scheduler/queues.py`)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from herald.services.scheduler.queues import KafkaStageQueues
from herald.shared.contract.messages import RunStatus
from herald.shared.contract.topics import Topics
from herald.shared.runtime.kafka import client_options
from herald.shared.runtime.settings import Settings
from tests.helpers import commit_as, ends_of

pytestmark = pytest.mark.integration


def _partition(schedule_id: str, partitions: int) -> int:
    every = list(range(partitions))
    found: int = DefaultPartitioner()(schedule_id.encode(), every, every)
    return found


def _on_other_partitions(partitions: int) -> tuple[str, str]:
    """Two schedule ids whose messages go to different partitions."""
    first = "s-queued"
    other = next(
        f"s-{n}"
        for n in range(100)
        if _partition(f"s-{n}", partitions) != _partition(first, partitions)
    )
    return first, other


@pytest.fixture
async def queues(topics_ready: Settings) -> AsyncIterator[KafkaStageQueues]:
    made = KafkaStageQueues(topics_ready, fresh_for_s=0)
    await made.start()
    yield made
    await made.stop()


async def test_a_schedule_s_partition_is_held_until_its_stage_commits_past_the_end(
    topics_ready: Settings, queues: KafkaStageQueues
) -> None:
    settings = topics_ready
    topics = Topics(settings.kafka.topic_prefix)
    queued, idle = _on_other_partitions(settings.kafka.partitions)
    tp = TopicPartition(topics.report_due, _partition(queued, settings.kafka.partitions))
    producer = AIOKafkaProducer(**client_options(settings.kafka), enable_idempotence=True)
    await producer.start()
    try:
        for _ in range(2):
            # On the key's partition, as the producers put it once they know the topic's
            # partitions (a producer that saw the topic being made may not know them all).
            await producer.send_and_wait(
                tp.topic, b"{}", key=queued.encode(), partition=tp.partition
            )
    finally:
        await producer.stop()

    # The renderers never committed: they start at the beginning, so both wait.
    assert await queues.holds(RunStatus.DUE, queued)
    assert not await queues.holds(RunStatus.DUE, idle), "nothing waits on its partition"
    assert not await queues.holds(RunStatus.RENDERED, queued), "the mailers' topic is empty"
    assert not await queues.holds(RunStatus.PENDING_RETRY, queued), "no stage queue for it"

    end = (await ends_of(settings, tp.topic))[tp]
    await commit_as(settings, "renderer", {tp: end - 1})
    assert await queues.holds(RunStatus.DUE, queued), "the last one is still to be read"
    await commit_as(settings, "mailer", {tp: end})
    assert await queues.holds(RunStatus.DUE, queued), "another stage's group does not count"
    await commit_as(settings, "renderer", {tp: end})
    assert not await queues.holds(RunStatus.DUE, queued)


async def test_one_reading_answers_for_its_freshness(topics_ready: Settings) -> None:
    settings = topics_ready
    topics = Topics(settings.kafka.topic_prefix)
    queues = KafkaStageQueues(settings, fresh_for_s=3600)
    await queues.start()
    producer = AIOKafkaProducer(**client_options(settings.kafka), enable_idempotence=True)
    await producer.start()
    try:
        assert not await queues.holds(RunStatus.RENDERED, "s-1")
        partition = _partition("s-1", settings.kafka.partitions)
        await producer.send_and_wait(topics.report_rendered, b"{}", key=b"s-1", partition=partition)
        assert not await queues.holds(RunStatus.RENDERED, "s-1"), "read an hour ago"
    finally:
        await producer.stop()
        await queues.stop()
    fresh = KafkaStageQueues(settings, fresh_for_s=0)
    await fresh.start()
    try:
        assert await fresh.holds(RunStatus.RENDERED, "s-1")
    finally:
        await fresh.stop()


async def test_when_kafka_cannot_be_asked_the_run_counts_as_read(topics_ready: Settings) -> None:
    """Fired again, as before the question was asked: the mailer's ledger sends nobody twice."""
    unstarted = KafkaStageQueues(topics_ready, fresh_for_s=0)
    assert not await unstarted.holds(RunStatus.DUE, "s-1")
