"""A consumed batch handled many records at once, each key's records in order.

The mailer and the renderer wait on the network (SMTP, MongoDB, the PDF
workers) far longer than they compute, so one process works on a bounded
number of records at once. FastStream's `max_workers` would do that only
with offsets committed before the work (at most once), so Herald uses a
batch subscriber instead: the batch's offsets are committed when its handler
returns, after every record in it is handled. A crash therefore reads the
whole batch again (each handler is idempotent), and no offset is ever
committed past a record still in flight.

Records of one key (one schedule) run one after another in the order read;
different keys run side by side, at most `limit` at a time. A record that
hits an outage of Kafka or MongoDB is retried in place, so its neighbours
are not handled twice; one that can never be handled goes to `poisoned`
(the DLQ) and the batch moves on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from herald.shared.runtime import tracing
from herald.shared.runtime.kafka import (
    RETRY_PAUSE_S,
    TRANSIENT_ERRORS,
    TRICKLE_MIN_BYTES,
    TRICKLE_WAIT_MS,
    Record,
    dead_letter,
    handling_again,
    records_of,
    undecoded,
)
from herald.shared.runtime.logs import bound, ids_of
from herald.shared.runtime.metrics import IN_FLIGHT


class Keyed(Protocol):
    @property
    def key(self) -> bytes | None: ...


K = TypeVar("K", bound=Keyed)


def lanes(records: Iterable[K]) -> list[list[K]]:
    """The records by key, each key's in the order read; a keyless record is a lane of its own."""
    by_key: dict[bytes, list[K]] = {}
    alone: list[list[K]] = []
    for record in records:
        if record.key is None:
            alone.append([record])
        else:
            by_key.setdefault(record.key, []).append(record)
    return [*by_key.values(), *alone]


@dataclass(frozen=True, slots=True)
class BatchRunner:
    """Runs `handle` over a batch's records; see the module docstring for the guarantees."""

    #: Handles one record's bytes; raises for a record that can never be handled.
    handle: Callable[[bytes], Awaitable[None]]
    #: Takes a record `handle` refused for good (to the DLQ).
    poisoned: Callable[[Record, Exception], Awaitable[None]]
    #: Records in flight at most.
    limit: int
    #: The service handling them, as its transient failures are counted.
    service: str
    pause_s: float = RETRY_PAUSE_S

    async def run(self, records: Sequence[Record]) -> None:
        slots = asyncio.Semaphore(self.limit)

        async def lane(queue: list[Record]) -> None:
            for record in queue:
                async with slots:
                    await self._one(record)

        try:
            async with asyncio.TaskGroup() as group:
                for queue in lanes(records):
                    group.create_task(lane(queue))
        except BaseExceptionGroup as failed:
            # The others were cancelled: the batch is read again whole, so the
            # subscriber's middleware sees the error itself, not a group.
            raise failed.exceptions[0] from failed

    async def _one(self, record: Record) -> None:
        ids = ids_of(record.value)
        # Tracing on: handled in the trace its headers carry, a span of its own per record
        # (FastStream's middleware gives the batch a trace of its own).
        with (
            bound(ids),
            IN_FLIGHT.track_inprogress(),
            tracing.consuming(record.topic, record.headers, ids) as span,
        ):
            while True:
                try:
                    await self.handle(record.value or b"")
                    return
                except TRANSIENT_ERRORS as exc:
                    handling_again(self.service, record.topic, exc)
                    span.record_exception(exc)
                    await asyncio.sleep(self.pause_s)
                except Exception as exc:
                    tracing.failed(span, exc)
                    await self.poisoned(record, exc)
                    return


#: How long a poll waits for more records before a smaller batch is handed over.
BATCH_WAIT_MS = 100
#: Records read per batch for each one allowed in flight: the batch's tail keeps the lanes busy.
RECORDS_PER_SLOT = 4


def subscribe_concurrently(
    broker: KafkaBroker,
    topic: str,
    *,
    service: str,
    group_id: str,
    dlq: str,
    limit: int,
    handle: Callable[[bytes], Awaitable[None]],
) -> None:
    """Subscribe `handle` to `topic`, `limit` records in flight per process."""

    async def poisoned(record: Record, exc: Exception) -> None:
        await dead_letter(broker, dlq, record, exc)

    runner = BatchRunner(handle, poisoned, limit, service)

    @broker.subscriber(
        topic,
        group_id=group_id,
        auto_offset_reset="earliest",
        batch=True,
        max_records=limit * RECORDS_PER_SLOT,
        batch_timeout_ms=BATCH_WAIT_MS,
        decoder=undecoded,
        fetch_min_bytes=TRICKLE_MIN_BYTES,
        fetch_max_wait_ms=TRICKLE_WAIT_MS,
    )
    async def on_batch(message: KafkaMessage) -> None:
        await runner.run(records_of(message))
