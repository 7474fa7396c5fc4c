"""The scheduler's Kafka side: batch subscribers for the command handler and the projection."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from herald.services.scheduler.calendar import COMMAND_LEASE_WAIT_S, CommandsFirst
from herald.services.scheduler.command_handling import CommandHandler
from herald.services.scheduler.projection import Projection, Unprojectable
from herald.shared.contract.messages import DeliveryStatus
from herald.shared.contract.tolerance import TOLERANT
from herald.shared.contract.topics import Topics
from herald.shared.runtime import tracing
from herald.shared.runtime.kafka import (
    TRANSIENT_ERRORS,
    TRICKLE_MIN_BYTES,
    TRICKLE_WAIT_MS,
    Record,
    dead_letter,
    publish_bodies,
    records_of,
    undecoded,
)
from herald.shared.runtime.logs import bound, ids_of

if TYPE_CHECKING:
    from faststream.kafka.subscriber.usecase import DefaultSubscriber as KafkaSubscriber

log = logging.getLogger("herald.scheduler")


class BrokerBodies:
    """The `Bodies` port on the service's broker: replies go out as the bytes recorded.

    With tracing on, a `ReportDue` among them (a RunNow) starts its run's trace, and
    the run's other bodies go out in it (`tracing.fired_bodies`).
    """

    def __init__(self, broker: KafkaBroker, topics: Topics | None = None) -> None:
        self._broker = broker
        self._topics = topics

    async def publish_bodies(self, bodies: Sequence[tuple[str, str, str]]) -> None:
        traces = None
        if tracing.enabled() and self._topics is not None:
            traces = tracing.fired_bodies(bodies, self._topics.report_due)
        await publish_bodies(self._broker, bodies, traces)


#: Records one poll hands the subscriber at most; a batch's status events are projected together.
BATCH_RECORDS = 1000
#: How long a poll waits for records when none are there.
BATCH_WAIT_MS = 200
#: How long the group waits for a consumer to give its partitions up: the batch in hand
#: (`CommandTurns`: a command may wait `COMMAND_LEASE_WAIT_S` for a shard; `StatusCommits`:
#: the projection's writes). aiokafka's default, the session timeout (10 s), dropped a
#: replica still writing from the group and handed its partitions on at once.
REBALANCE_TIMEOUT_MS = int((COMMAND_LEASE_WAIT_S + 60) * 1000)


def commit_offsets(
    handled: Mapping[TopicPartition, int], held: Iterable[Record]
) -> dict[TopicPartition, int]:
    """Per partition, the offset to commit: past every record handled, but not past the
    earliest one whose run the projection still holds."""
    lowest: dict[tuple[str, int], int] = {}
    for record in held:
        where = (record.topic, record.partition)
        if record.offset < lowest.get(where, record.offset + 1):
            lowest[where] = record.offset
    return {
        partition: min(offset, lowest.get((partition.topic, partition.partition), offset))
        for partition, offset in handled.items()
    }


class CommandTurns(ConsumerRebalanceListener):  # type: ignore[misc]
    """Gives a partition of `schedule.commands` up only between batches.

    A schedule's document has one writer, its partition's consumer: `save` writes
    it, then the sync marks it (`mark_synced`). In a rebalance the old owner went on
    with the batch in hand while the new owner read the same partition from the last
    commit, and so two replicas wrote one document. MongoDB applies each update to
    the document as it is; FerretDB 1.x reads it, changes it in Go and writes it all
    back, so the old owner's mark could put back the version the new owner had just
    replaced with an accepted change (on FerretDB 1.24, 110 of 276 acknowledged
    updates of one field were undone by a concurrent `$set` of another). Here the
    revocation waits for the batch in hand: the group is rebalanced, and the
    partition's new owner starts, once that batch is handled. A crashed owner writes
    nothing more; a batch whose commit the rebalance refuses is answered again from
    the outbox.
    """

    def __init__(self) -> None:
        #: Held while a batch is handled.
        self.lock = asyncio.Lock()

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        async with self.lock:
            return

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        return


class StatusCommits(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commits `delivery.status` by hand (`commit_offsets`), and forgets the runs held from
    partitions this replica loses: their new owner reads them from the committed offset.

    Commits come once a second (`StatusProjection.write_held`), not after every batch:
    each looks at every event held, and a herd brings hundreds of batches a minute. A
    crash reads that second again, which changes nothing (events are a set).
    `lock` keeps a commit, a rebalance and the projection's changes to what it holds apart.
    """

    def __init__(self, projection: Projection[Record]) -> None:
        self._projection = projection
        self._handled: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self.consumer: AIOKafkaConsumer | None = None
        self.lock = asyncio.Lock()
        #: Counts rebalances: a batch that saw one while it waited counts as not handled.
        self.generation = 0

    def handled(self, records: Sequence[Record]) -> None:
        for record in records:
            partition = TopicPartition(record.topic, record.partition)
            self._handled[partition] = max(self._handled.get(partition, 0), record.offset + 1)

    async def commit(self) -> None:
        """Under `lock`. FastStream's in-memory test broker has no offsets to commit."""
        if not isinstance(self.consumer, AIOKafkaConsumer):
            return
        assigned = self.consumer.assignment()
        offsets = commit_offsets(self._handled, self._projection.held_origins())
        changed = {
            partition: offset
            for partition, offset in offsets.items()
            if partition in assigned and self._committed.get(partition) != offset
        }
        if not changed:
            return
        try:
            await self.consumer.commit(changed)
        except (CommitFailedError, IllegalStateError) as exc:  # a rebalance came first
            log.warning("status offsets not committed (%s): their new owner reads them again", exc)
            return
        self._committed |= changed

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        gone = set(revoked)
        async with self.lock:
            self.generation += 1
            self._projection.forget(lambda r: TopicPartition(r.topic, r.partition) in gone)
            self._forget(gone)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        """An assigned partition is read from its committed offset: what this replica
        handled of it before counts for nothing."""
        async with self.lock:
            self.generation += 1
            self._forget(set(assigned))

    def _forget(self, partitions: set[TopicPartition]) -> None:
        for partition in partitions:
            self._handled.pop(partition, None)
            self._committed.pop(partition, None)


class StatusProjection:
    """The projection's side of `delivery.status`: batches in, held runs written in time."""

    def __init__(
        self,
        broker: KafkaBroker,
        topics: Topics,
        projection: Projection[Record],
        quiet: asyncio.Event,
        commands_first: CommandsFirst,
    ) -> None:
        self._broker = broker
        self._dlq = topics.dlq
        self._projection = projection
        self._quiet = quiet
        self._commands_first = commands_first
        self.commits = StatusCommits(projection)

    async def on_batch(self, message: KafkaMessage) -> None:
        """On an outage the batch is read again (events are a set: nothing changes twice)."""
        records = records_of(message)
        generation = self.commits.generation
        try:
            events: list[tuple[Record, DeliveryStatus]] = []
            for record in records:
                try:
                    value = record.value or b""
                    event = DeliveryStatus.model_validate_json(value, context=TOLERANT)
                except ValidationError as exc:
                    await self._poisoned(record, exc)
                    continue
                events.append((record, event))
            await self._turn()
            async with self.commits.lock:
                if generation != self.commits.generation:
                    # A rebalance came while the batch waited: its partitions may be another
                    # replica's now, which reads them from the commit and writes their runs.
                    # Written here too, two writers of one run would undo each other's
                    # changes on FerretDB. What is still this replica's is read again.
                    return
                await self._dead_letters(await self._projection.apply(events))
                self.commits.consumer = message.consumer
                self.commits.handled(records)
        except BaseException:
            await message.nack()
            raise

    async def write_held(self, everything: bool = False) -> None:
        """Write the runs held long enough (all with `everything`), then commit what was
        handled short of what is still held."""
        if self._projection.held and not everything:
            await self._turn()
        async with self.commits.lock:
            await self._dead_letters(await self._projection.flush(everything))
            await self.commits.commit()

    async def _turn(self) -> None:
        """The projection yields to a herd being fired, and to commands."""
        await self._quiet.wait()
        await self._commands_first.before_projection()

    async def _dead_letters(self, failed: Sequence[Unprojectable[Record]]) -> None:
        for each in failed:
            for record in each.origins:
                await self._poisoned(record, each.error)

    async def _poisoned(self, record: Record, exc: Exception) -> None:
        await dead_letter(self._broker, self._dlq, record, exc)


def register(
    broker: KafkaBroker,
    topics: Topics,
    group_id: str,
    handler: CommandHandler,
    statuses: StatusProjection,
    commands_first: CommandsFirst,
) -> None:
    """Commands and statuses have a consumer each, in the one group: the projection
    waits while a herd fires, and commands must not wait with it."""
    register_commands(broker, topics, group_id, handler, commands_first)
    register_statuses(broker, topics, group_id, statuses)


def register_statuses(
    broker: KafkaBroker, topics: Topics, group_id: str, statuses: StatusProjection
) -> None:
    """`delivery.status` into the projection, committed by hand (`StatusCommits`)."""

    @_subscriber(broker, group_id)(
        topics.delivery_status,
        ack_policy=AckPolicy.MANUAL,
        listener=statuses.commits,
        fetch_min_bytes=TRICKLE_MIN_BYTES,
        fetch_max_wait_ms=TRICKLE_WAIT_MS,
    )
    async def on_status_batch(message: KafkaMessage) -> None:
        await statuses.on_batch(message)


def register_commands(
    broker: KafkaBroker,
    topics: Topics,
    group_id: str,
    handler: CommandHandler,
    commands_first: CommandsFirst,
) -> None:
    """Each schedule's commands in order, schedules side by side (`handle_batch`); a
    partition changes hands between batches only (`CommandTurns`)."""
    turns = CommandTurns()

    async def poisoned(record: Record, exc: Exception) -> None:
        await dead_letter(broker, topics.dlq, record, exc)

    async def on_commands(records: Sequence[Record]) -> None:
        try:
            async with turns.lock, commands_first.handling_commands():
                errors = await handler.handle_batch(
                    [(record.key, record.value or b"") for record in records]
                )
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            errors = [exc] * len(records)
        for record, error in zip(records, errors, strict=True):
            if error is not None:
                with bound(ids_of(record.value)):
                    await poisoned(record, error)

    # A batch of commands is committed when all of it is handled; an outage reads it
    # all again, which the handler shrugs off (commands are answered again).
    @_subscriber(broker, group_id)(topics.commands, listener=turns)
    async def on_command_batch(message: KafkaMessage) -> None:
        await on_commands(records_of(message))


def _subscriber(broker: KafkaBroker, group_id: str) -> functools.partial[KafkaSubscriber]:
    """A batch subscriber of the scheduler's group, reading from the earliest record, whose
    partitions change hands once the batch in hand is over (`REBALANCE_TIMEOUT_MS`)."""
    return functools.partial(
        broker.subscriber,
        group_id=group_id,
        auto_offset_reset="earliest",
        batch=True,
        max_records=BATCH_RECORDS,
        batch_timeout_ms=BATCH_WAIT_MS,
        decoder=undecoded,
        rebalance_timeout_ms=REBALANCE_TIMEOUT_MS,
    )
