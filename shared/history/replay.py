"""Rebuilding the delivery history from the audit log (`delivery.status`), and checking it.

Reads the topic from its start (or from a timestamp) without a consumer
group, so it never moves anyone's offsets, and applies every event with the
same projection the scheduler runs live (`shared.history`). Rebuilding into an
empty collection gives the live documents; comparing the two finds tampering
or a projection that went wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any
from uuid import uuid4

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError, UnknownTopicOrPartitionError
from pydantic import ValidationError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from herald.shared.contract.messages import DeliveryStatus, RunStatus
from herald.shared.contract.tolerance import TOLERANT
from herald.shared.contract.topics import Topics
from herald.shared.history import fold as history
from herald.shared.history import store as history_store
from herald.shared.runtime.kafka import client_options
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings

#: Events read before they are applied together: memory stays bounded.
_BATCH = 5000

Progress = Callable[[int], Any]


class KafkaUnavailable(Exception):
    """The topic cannot be read; the message names the address or topic tried."""


async def read_records(
    settings: Settings,
    topic: str,
    since: datetime | None = None,
    on_total: Progress | None = None,
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of a topic, from its start or `since`, up to its end when the read began.

    `on_total` learns how many records that is before the first one is read.
    """
    consumer = AIOKafkaConsumer(
        **client_options(settings.kafka),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        await consumer.start()
        # Asked first: subscribed to a topic that is not there, the consumer waited and
        # logged a warning on every metadata refresh (40 s and 400 lines, then the error).
        present = topic in await consumer.topics()
    except KafkaError as exc:
        await consumer.stop()
        if isinstance(exc, UnknownTopicOrPartitionError):
            raise KafkaUnavailable(_no_topic(topic, settings)) from exc
        raise KafkaUnavailable(
            f"cannot reach Kafka at {settings.kafka.bootstrap_servers}: {exc}"
        ) from exc
    if not present:
        await consumer.stop()
        raise KafkaUnavailable(_no_topic(topic, settings))
    consumer.subscribe([topic])
    try:
        partitions = sorted(await _assigned_partitions(consumer, topic, settings))
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
        positions = {tp: await consumer.position(tp) for tp in partitions}
        if on_total is not None:
            on_total(sum(ends[tp] - positions[tp] for tp in partitions))
        remaining = {tp for tp in partitions if positions[tp] < ends[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=5000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield record
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()


@dataclass(frozen=True, slots=True)
class NotAnEvent:
    """A record of the log that is not a delivery event: where it is, so an auditor can
    read it (`kafka-console-consumer --partition P --offset O`), and why it was refused."""

    partition: int
    offset: int
    error: str
    raw: bytes

    def where(self) -> str:
        reason = self.error.splitlines()[0] if self.error else "unreadable"
        return f"partition {self.partition} offset {self.offset}: {reason}"


async def read_events(
    settings: Settings, since: datetime | None = None, on_total: Progress | None = None
) -> AsyncIterator[DeliveryStatus | NotAnEvent]:
    """Every event on `delivery.status`, and each record that is not one."""
    topic = Topics(settings.kafka.topic_prefix).delivery_status
    async for record in read_records(settings, topic, since, on_total):
        try:
            yield DeliveryStatus.model_validate_json(record.value, context=TOLERANT)
        except ValidationError as exc:
            yield NotAnEvent(record.partition, record.offset, str(exc), record.value)


async def _assigned_partitions(
    consumer: AIOKafkaConsumer, topic: str, settings: Settings
) -> set[TopicPartition]:
    """Without a group, the consumer takes every partition once it has the topic's metadata."""
    for _ in range(100):
        if assigned := consumer.assignment():
            return set(assigned)
        await asyncio.sleep(0.1)
    raise KafkaUnavailable(_no_topic(topic, settings))


def _no_topic(topic: str, settings: Settings) -> str:
    return (
        f"topic {topic} not found on Kafka at {settings.kafka.bootstrap_servers}: "
        "wrong HERALD_KAFKA__TOPIC_PREFIX, or topics not created yet (herald topics create)?"
    )


@dataclass(slots=True)
class Rebuilt:
    """What a rebuild did: events applied, runs it inserted (all of them, into an empty
    collection), and the records that were not events."""

    applied: int = 0
    created: int = 0
    rejected: list[NotAnEvent] = dataclass_field(default_factory=list)


async def rebuild(
    settings: Settings,
    into: AsyncCollection[Document],
    *,
    since: datetime | None = None,
    tenant_id: str | None = None,
    progress: Progress | None = None,
    on_total: Progress | None = None,
) -> Rebuilt:
    """Project the log into `into`: the events applied, the runs made, the records that
    were not events.

    `progress` is called with 1 for every record read. Events are gathered in
    batches and applied a batch at a time, as the scheduler applies them live
    (`history_store.project_runs`: one read of the batch's runs and one bulk
    write). A batch is done before the next begins, so one run's events never
    race each other. Events that contradict their run stop the rebuild.
    """
    done = Rebuilt()
    batch: list[DeliveryStatus] = []

    async def flush() -> None:
        projected = await history_store.project_runs(into, batch)
        outcomes = projected.outcomes.values()
        failures = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        if failures:
            raise ExceptionGroup("runs that could not be rebuilt", failures)
        done.created += len(projected.created)
        if progress is not None:
            progress(len(batch))
        batch.clear()

    async for item in read_events(settings, since, on_total):
        if isinstance(item, NotAnEvent):
            done.rejected.append(item)
        elif tenant_id is None or item.tenant_id == tenant_id:
            batch.append(item)
            done.applied += 1
            if len(batch) >= _BATCH:
                await flush()
            continue
        if progress is not None:
            progress(1)
    await flush()
    return done


class _Absent:
    """What one side of a comparison lacks: a run, a field or a list item."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()


@dataclass(frozen=True, slots=True)
class Difference:
    """One way the live history differs from the replayed one.

    `field` is a dotted path (`events.2.status`); None when the run is on one
    side only, the whole document on that side and ABSENT on the other.
    """

    run_id: str
    field: str | None
    live: Any
    replayed: Any


@dataclass(slots=True)
class Comparison:
    compared: int = 0
    differences: list[Difference] = dataclass_field(default_factory=list)


def field_differences(live: Any, replayed: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every leaf where two documents differ, as (dotted path, live value, replayed value)."""
    if isinstance(live, dict) and isinstance(replayed, dict):
        for key in [*live, *(k for k in replayed if k not in live)]:
            inner = f"{path}.{key}" if path else str(key)
            yield from field_differences(live.get(key, ABSENT), replayed.get(key, ABSENT), inner)
    elif isinstance(live, list) and isinstance(replayed, list):
        for i in range(max(len(live), len(replayed))):
            yield from field_differences(
                live[i] if i < len(live) else ABSENT,
                replayed[i] if i < len(replayed) else ABSENT,
                f"{path}.{i}",
            )
    elif live != replayed:
        yield path, live, replayed


async def compare(
    live: AsyncCollection[Document],
    replayed: AsyncCollection[Document],
    *,
    tenant_id: str | None = None,
    since: datetime | None = None,
    expired_before: datetime | None = None,
    replayed_runs: int | None = None,
    progress: Progress | None = None,
) -> Comparison:
    """Both collections run by run, without `rev` (a count of writes, not history).

    With `since`, live runs that began before it (`began_at`) are left out: the
    replay saw only their later events. With `expired_before`, a run the replay finished
    before it and the live history lacks is left out too: retention removed it
    (`HERALD_RETENTION__RUNS_DAYS`). The retention fields are not compared
    (runs written before they existed lack them), nor the fields only older
    documents store (`DERIVED_ONLY`: they repeat the events, which are compared).

    Neither collection is read sorted: FerretDB 1.x sorts in its own memory
    (only `$natural` order reaches PostgreSQL), so a read of `runs` in `_id`
    order held the whole history there before its first answer (FerretDB grew
    by 670 MB for 1,000 runs of 43 events). The live runs are read as they
    come and each one's replayed twin looked up by `_id`, LOOKUPS at once; the
    replayed runs the live history lacks are then looked for among the
    replayed ids, unless as many twins were found as the replay made runs
    (`replayed_runs`, when the caller knows it). What grows with the history
    is the live runs' ids, kept by the client. `progress` is called with 1 for
    every live run read.
    """
    query: Document = {} if tenant_id is None else {"tenant_id": tenant_id}
    result = Comparison()
    live_ids: set[str] = set()
    twins = 0
    cursor = live.find(query, {"rev": 0})
    while chunk := await cursor.to_list(LOOKUPS):
        found = await asyncio.gather(
            *(replayed.find_one({"_id": doc["_id"]}, {"rev": 0}) for doc in chunk)
        )
        for ours, theirs in zip(chunk, found, strict=True):
            live_ids.add(ours["_id"])
            twins += theirs is not None
            if progress is not None:
                progress(1)
            if since is None or began_at(ours) >= since:
                _compare_run(result, ours["_id"], ours, theirs)
    if twins != replayed_runs:
        async for doc in replayed.find({}, {"_id": 1, history_store.FINISHED_AT: 1}):
            if doc["_id"] not in live_ids and not _expired(doc, expired_before):
                theirs = await replayed.find_one({"_id": doc["_id"]}, {"rev": 0})
                _compare_run(result, doc["_id"], None, theirs)
    result.differences.sort(key=lambda difference: difference.run_id)  # stable: fields keep order
    return result


#: Replayed runs `compare` looks up at once.
LOOKUPS = 16


def began_at(doc: Document) -> datetime:
    """When a stored run began: its earliest event other than a `rendered` one.

    A `rendered` event answers its run's `due`, so never begins a run; and until
    a render was dated by the run's own due too, a run served an older render
    had its `rendered` dated by that render's storing, minutes before the run's
    due. The log keeps those events for good, and by them a run that began after
    `since` was left out. Every other event is dated when it is made, before it
    is published, so a run that began at or after `since` has all its events in
    a replay from `since`.
    """
    events: list[Document] = doc["events"]
    began: datetime = min(
        (e["occurred_at"] for e in events if e["status"] != RunStatus.RENDERED),
        default=doc["first_event_at"],
    )
    return began


def _compare_run(
    result: Comparison, run_id: str, ours: Document | None, theirs: Document | None
) -> None:
    for doc in (ours, theirs):
        if doc is not None:
            for name in _NOT_COMPARED:
                doc.pop(name, None)
    result.compared += 1
    if ours is None or theirs is None:
        result.differences.append(Difference(run_id, None, ours or ABSENT, theirs or ABSENT))
    else:
        result.differences += [
            Difference(run_id, path, a, b) for path, a, b in field_differences(ours, theirs)
        ]


#: Fields `compare` leaves out (see there).
_NOT_COMPARED = (history_store.FINISHED_AT, history_store.FINISHED_DAY, *history.DERIVED_ONLY)


def _expired(doc: Document, before: datetime | None) -> bool:
    finished = doc.get(history_store.FINISHED_AT)
    return before is not None and isinstance(finished, datetime) and finished < before


def scratch_collection(db: AsyncDatabase[Document]) -> AsyncCollection[Document]:
    """A collection of its own for one verification, dropped by the caller afterwards."""
    return db[f"{history_store.RUNS}_verify_{uuid4().hex[:12]}"]
