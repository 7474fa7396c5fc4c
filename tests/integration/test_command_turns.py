"""A partition of `schedule.commands` changes hands between batches, never during one.

Two scheduler replicas' command consumers (`handlers.register_commands`) on the
real broker: the first holds a batch while the second joins the group. The
second must not handle a command before the first's batch is over, or the two
would write one schedule's document at once, which FerretDB 1.x does not
serialize (`handlers.CommandTurns`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaProducer

from herald.services.scheduler.calendar import CommandsFirst
from herald.services.scheduler.command_handling import CommandHandler
from herald.services.scheduler.handlers import register_commands
from herald.shared.contract.topics import Topics
from herald.shared.runtime.kafka import client_options, group_id, make_broker
from herald.shared.runtime.settings import Settings
from tests.helpers import wait_until

pytestmark = pytest.mark.integration

#: How long the first replica holds its batch after the second has joined: more than a
#: rebalance takes when nothing holds it up (a few seconds: heartbeats, the join).
HOLD_S = 12.0


class Replica:
    """The part of `CommandHandler` the consumer calls: notes when each batch starts and
    ends, and the first one waits for `release`."""

    def __init__(self, name: str, log: list[tuple[float, str, str]]) -> None:
        self.name = name
        self.log = log
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        self.batches = 0

    async def handle_batch(self, commands: Sequence[tuple[bytes | None, bytes]]) -> list[Any]:
        self.batches += 1
        self.log.append((time.monotonic(), self.name, "start"))
        if self.batches == 1 and self.name == "old":
            self.holding.set()
            await self.release.wait()
        self.log.append((time.monotonic(), self.name, "end"))
        return [None] * len(commands)


async def _send_to_every_partition(settings: Settings, topic: str, tag: str) -> None:
    producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all")
    await producer.start()
    try:
        for partition in range(settings.kafka.partitions):
            await producer.send_and_wait(topic, f"{tag}-{partition}".encode(), partition=partition)
    finally:
        await producer.stop()


async def test_a_joining_replica_handles_commands_only_after_the_batch_in_hand(
    topics_ready: Settings,
) -> None:
    settings = topics_ready
    topics = Topics(settings.kafka.topic_prefix)
    group = group_id(settings, "scheduler")
    log: list[tuple[float, str, str]] = []
    old, new = Replica("old", log), Replica("new", log)
    brokers = []
    for replica in (old, new):
        broker = make_broker(settings, "scheduler")
        handler = cast(CommandHandler, replica)
        register_commands(broker, topics, group, handler, CommandsFirst())
        brokers.append(broker)
    await _send_to_every_partition(settings, topics.commands, "first")
    await brokers[0].start()
    try:
        await asyncio.wait_for(old.holding.wait(), 60)
        # Its start returns once it has joined, which the batch in hand holds up.
        joining = asyncio.create_task(brokers[1].start())
        await asyncio.sleep(HOLD_S)
        released_at = time.monotonic()
        old.release.set()
        await asyncio.wait_for(joining, 60)
        # Records the new replica's partitions surely hold, whatever was committed.
        await _send_to_every_partition(settings, topics.commands, "second")

        async def new_handled() -> bool:
            return new.batches > 0

        await wait_until(new_handled, 90, "the joining replica to handle a batch")
    finally:
        old.release.set()
        for broker in brokers:
            await broker.stop()

    first_new = min(at for at, name, what in log if name == "new" and what == "start")
    assert first_new > released_at, (
        f"the joining replica handled commands {released_at - first_new:.1f} s before the "
        f"batch in hand was over: {log}"
    )
