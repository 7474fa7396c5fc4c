"""The scheduler's Kafka side: batch subscribers for the command handler and the projection."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from herald.services.scheduler.calendar import CommandsFirst
from herald.services.scheduler.command_handling import CommandHandler
from herald.services.scheduler.projection import Projection
from herald.shared.contract.messages import DeliveryStatus
from herald.shared.contract.tolerance import TOLERANT
from herald.shared.contract.topics import Topics
from herald.shared.runtime import tracing
from herald.shared.runtime.kafka import (
    TRANSIENT_ERRORS,
    Record,
    dead_letter,
    publish_bodies,
    records_of,
    undecoded,
)
from herald.shared.runtime.logs import bound, ids_of


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


def register(
    broker: KafkaBroker,
    topics: Topics,
    group_id: str,
    handler: CommandHandler,
    projection: Projection,
    quiet: asyncio.Event,
    commands_first: CommandsFirst,
) -> None:
    """`quiet` is set while the ticker is not firing: the projection yields to a herd,
    and a herd and the projection to commands (`commands_first`)."""

    async def poisoned(record: Record, exc: Exception) -> None:
        await dead_letter(broker, topics.dlq, record, exc)

    async def on_commands(records: Sequence[Record]) -> None:
        """Each schedule's in order, schedules side by side (see `CommandHandler.handle_batch`)."""
        try:
            async with commands_first.handling_commands():
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

    async def on_statuses(records: Sequence[Record]) -> None:
        events: list[tuple[Record, DeliveryStatus]] = []
        for record in records:
            try:
                events.append(
                    (
                        record,
                        DeliveryStatus.model_validate_json(record.value or b"", context=TOLERANT),
                    )
                )
            except ValidationError as exc:
                await poisoned(record, exc)
        await quiet.wait()
        await commands_first.before_projection()
        for failed in await projection.apply(events):
            for record in failed.origins:
                await poisoned(record, failed.error)

    # Commands and statuses have a consumer each, in the one group: the projection
    # waits while a herd fires, and commands must not wait with it. Each batch is
    # committed when all of it is handled; an outage reads it all again, which
    # every handler shrugs off (commands are answered again, events are a set).
    subscriber = functools.partial(
        broker.subscriber,
        group_id=group_id,
        auto_offset_reset="earliest",
        batch=True,
        max_records=BATCH_RECORDS,
        batch_timeout_ms=BATCH_WAIT_MS,
        decoder=undecoded,
    )

    @subscriber(topics.commands)
    async def on_command_batch(message: KafkaMessage) -> None:
        await on_commands(records_of(message))

    @subscriber(topics.delivery_status)
    async def on_status_batch(message: KafkaMessage) -> None:
        await on_statuses(records_of(message))
