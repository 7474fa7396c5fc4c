"""A scheduler's partitions change hands between batches: two replicas never write one document.

Two scheduler replicas' consumers on the real broker, the second joining the
group while the first has a batch in hand. FerretDB 1.x does not serialize
two writers of one document (each update rewrites it whole), so:
- commands (`handlers.register_commands`): the joining replica handles no
  command before the first's batch is over (`handlers.CommandTurns`);
- statuses (`handlers.register_statuses`): a batch that waited through the
  rebalance (the projection yields to a herd) is not projected by the replica
  that no longer owns all of it (`StatusProjection.on_batch`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, cast

import pytest
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker

from herald.services.scheduler.calendar import CommandsFirst
from herald.services.scheduler.command_handling import CommandHandler
from herald.services.scheduler.handlers import (
    StatusProjection,
    register_commands,
    register_statuses,
)
from herald.services.scheduler.projection import Projection, Unprojectable
from herald.shared.contract.messages import DeliveryStatus, RunStatus
from herald.shared.contract.topics import Topics
from herald.shared.runtime.kafka import Record, client_options, group_id, make_broker
from herald.shared.runtime.settings import Settings
from tests.helpers import wait_until

pytestmark = pytest.mark.integration

#: How long the first replica holds its batch after the second has joined: more than a
#: rebalance takes when nothing holds it up (a few seconds: heartbeats, the join), and
#: more than the session timeout (10 s), aiokafka's rebalance timeout unless one is set.
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


#: Registers a replica's subscribers on its broker, in the scheduler's group.
Wiring = Callable[[KafkaBroker, str], None]


def _replicas(settings: Settings, wirings: Sequence[Wiring]) -> list[KafkaBroker]:
    """One scheduler broker per replica, each wired by its own `Wiring`, not started."""
    group = group_id(settings, "scheduler")
    brokers = []
    for wire in wirings:
        broker = make_broker(settings, "scheduler")
        wire(broker, group)
        brokers.append(broker)
    return brokers


async def _send_to_every_partition(
    settings: Settings, topic: str, body: Callable[[int], bytes]
) -> None:
    producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all")
    await producer.start()
    try:
        for partition in range(settings.kafka.partitions):
            await producer.send_and_wait(topic, body(partition), partition=partition)
    finally:
        await producer.stop()


async def test_a_joining_replica_handles_commands_only_after_the_batch_in_hand(
    topics_ready: Settings,
) -> None:
    settings = topics_ready
    topics = Topics(settings.kafka.topic_prefix)
    log: list[tuple[float, str, str]] = []
    old, new = Replica("old", log), Replica("new", log)

    def commands(replica: Replica) -> Wiring:
        handler = cast(CommandHandler, replica)
        return lambda broker, group: register_commands(
            broker, topics, group, handler, CommandsFirst()
        )

    brokers = _replicas(settings, [commands(old), commands(new)])
    await _send_to_every_partition(settings, topics.commands, lambda n: f"first-{n}".encode())
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
        await _send_to_every_partition(settings, topics.commands, lambda n: f"second-{n}".encode())

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


class Herd(asyncio.Event):
    """The projection's `quiet`, unset while a herd fires: notes when a batch waits on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waited_on = asyncio.Event()

    async def wait(self) -> Literal[True]:
        self.waited_on.set()
        return await super().wait()


class Projected:
    """The part of `Projection` the status consumer calls: which records it was given."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    async def apply(
        self, events: Sequence[tuple[Record, DeliveryStatus]]
    ) -> list[Unprojectable[Record]]:
        self.records += [record for record, _ in events]
        return []

    async def flush(self, everything: bool = False) -> list[Unprojectable[Record]]:
        return []

    def held_origins(self) -> Iterator[Record]:
        return iter(())

    def forget(self, gone: Callable[[Record], bool]) -> None:
        return None


def _status(partition: int) -> bytes:
    return (
        DeliveryStatus(
            tenant_id="acme",
            schedule_id=f"s{partition}",
            run_id=f"s{partition}@2026-11-27T08:00:00+00:00",
            attempt=1,
            status=RunStatus.DUE,
            stage="scheduler",
            scheduled_for=datetime(2026, 11, 27, 8, tzinfo=UTC),
        )
        .model_dump_json()
        .encode()
    )


async def test_a_status_batch_that_waited_through_a_rebalance_is_left_to_the_new_owner(
    topics_ready: Settings,
) -> None:
    settings = topics_ready
    topics = Topics(settings.kafka.topic_prefix)
    herd, calm = Herd(), asyncio.Event()
    calm.set()
    old, new = Projected(), Projected()

    def statuses(projected: Projected, quiet: asyncio.Event) -> Wiring:
        projection = cast(Projection[Record], projected)
        return lambda broker, group: register_statuses(
            broker,
            topics,
            group,
            StatusProjection(broker, topics, projection, quiet, CommandsFirst()),
        )

    brokers = _replicas(settings, [statuses(old, herd), statuses(new, calm)])
    await _send_to_every_partition(settings, topics.delivery_status, _status)
    await brokers[0].start()
    try:
        await asyncio.wait_for(herd.waited_on.wait(), 60)  # its batch waits for the herd
        joining = asyncio.create_task(brokers[1].start())

        async def new_projected() -> bool:
            return bool(new.records)

        await wait_until(new_projected, 90, "the joining replica to project its partitions")
        herd.set()  # the herd is over: the first replica's batch goes on
        await asyncio.wait_for(joining, 60)
        await asyncio.sleep(5)  # time to project what it would, and to read its own again
    finally:
        herd.set()
        for broker in brokers:
            await broker.stop()

    both = {r.partition for r in old.records} & {r.partition for r in new.records}
    assert not both, f"partitions {sorted(both)} were projected by both replicas"
