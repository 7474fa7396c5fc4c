"""The runs projection on the real server: idempotent, order-tolerant, concurrent-safe."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import uuid4

import pytest
from pymongo import AsyncMongoClient, InsertOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from herald.shared.contract.messages import (
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
    RunStatus,
)
from herald.shared.history import fold as history
from herald.shared.history import store as history_store
from herald.shared.history.fold import fold
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 27, 8, tzinfo=UTC)


def _events(run_id: str) -> list[DeliveryStatus]:
    common = {"tenant_id": "acme", "schedule_id": "s1", "run_id": run_id, "scheduled_for": T0}
    return [
        DeliveryStatus(
            **common, attempt=1, status=RunStatus.DUE, stage="scheduler", occurred_at=T0
        ),
        DeliveryStatus(
            **common,
            attempt=1,
            status=RunStatus.RENDERED,
            stage="renderer",
            artifact_id=f"{run_id}/csv",
            occurred_at=T0 + timedelta(seconds=2),
        ),
        DeliveryStatus(
            **common,
            attempt=1,
            status=RunStatus.PENDING_RETRY,
            stage="mailer",
            next_attempt_at=T0 + timedelta(minutes=1),
            occurred_at=T0 + timedelta(seconds=3),
            recipients=[
                RecipientResult(
                    address="a@example.com", outcome=RecipientOutcome.ACCEPTED, smtp_code=250
                ),
                RecipientResult(
                    address="b@example.com",
                    outcome=RecipientOutcome.REFUSED_TRANSIENT,
                    smtp_code=451,
                ),
            ],
        ),
        DeliveryStatus(
            **common,
            attempt=2,
            status=RunStatus.DUE,
            stage="scheduler",
            occurred_at=T0 + timedelta(minutes=1),
        ),
        DeliveryStatus(
            **common,
            attempt=2,
            status=RunStatus.DELIVERED,
            stage="mailer",
            occurred_at=T0 + timedelta(minutes=1, seconds=3),
            recipients=[
                RecipientResult(
                    address="b@example.com", outcome=RecipientOutcome.ACCEPTED, smtp_code=250
                ),
            ],
        ),
    ]


async def test_shuffled_and_repeated_events_give_the_same_document(
    db: AsyncDatabase[Document],
) -> None:
    live, replayed = db[history_store.RUNS], db["runs_replayed"]
    in_order = _events("s1@a")
    for event in in_order:
        await history_store.project(live, event)
    shuffled = in_order * 2
    random.Random(3).shuffle(shuffled)
    for event in shuffled:
        await history_store.project(replayed, event)

    expected = await live.find_one({"_id": "s1@a"}, {"rev": 0})
    assert expected is not None
    assert expected["status"] == "delivered"
    assert expected["attempt"] == 2
    assert await replayed.find_one({"_id": "s1@a"}, {"rev": 0}) == expected
    # What only repeats the events is not stored, and a read folds it again.
    assert history.DERIVED_ONLY.isdisjoint(expected)
    record = await history_store.get_run(live, "acme", "s1@a")
    assert record == fold(in_order)
    assert [r.outcome for r in record.recipients] == [RecipientOutcome.ACCEPTED] * 2


async def test_the_same_events_projected_concurrently_are_kept_once(
    db: AsyncDatabase[Document],
) -> None:
    """A rebalance can hand an event to a second consumer while the first still writes it."""
    runs = db[history_store.RUNS]
    events = _events("s1@c")
    for event in events:
        await asyncio.gather(*(history_store.project(runs, event) for _ in range(3)))
    stored = await runs.find_one({"_id": "s1@c"})
    assert stored is not None
    assert len(stored["events"]) == len(events)
    assert stored["status"] == "delivered"


async def _is_ferretdb(db: AsyncDatabase[Document]) -> bool:
    return "ferretdbVersion" in await db.command("buildInfo")


async def test_concurrent_projectors_of_different_events_lose_none(
    db: AsyncDatabase[Document], request: pytest.FixtureRequest
) -> None:
    """Needs an atomic conditional update, which MongoDB has and FerretDB 1.x has not.

    FerretDB 1.x runs `update` as a read, a filter in Go and an unconditional
    write, so two writers of one document both match `rev`. Herald relies on
    one writer per run (a run's events share a partition); this test shows
    where only MongoDB goes further.
    """
    if await _is_ferretdb(db):
        request.applymarker(
            pytest.mark.xfail(reason="FerretDB 1.x has no atomic conditional update")
        )
    runs = db[history_store.RUNS]
    events = _events("s1@e")
    await asyncio.gather(*(history_store.project(runs, e) for e in events * 3))
    stored = await runs.find_one({"_id": "s1@e"})
    assert stored is not None
    assert len(stored["events"]) == len(events)


async def test_history_is_per_tenant(db: AsyncDatabase[Document]) -> None:
    runs = db[history_store.RUNS]
    for event in _events("s1@d"):
        await history_store.project(runs, event)
    assert await history_store.get_run(runs, "other", "s1@d") is None
    assert await history_store.query_runs(runs, "other") == []
    mine = await history_store.query_runs(runs, "acme", status=RunStatus.DELIVERED)
    assert [r.run_id for r in mine] == ["s1@d"]


class _Commands(CommandListener):
    """Counts the commands a client sends, by name."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()

    def started(self, event: CommandStartedEvent) -> None:
        self.sent[event.command_name] += 1

    def succeeded(self, event: CommandSucceededEvent) -> None:
        """Counted when started."""

    def failed(self, event: CommandFailedEvent) -> None:
        """Counted when started."""


async def test_a_replace_on_a_stale_rev_in_a_bulk_misses_alone(
    db: AsyncDatabase[Document],
) -> None:
    """Each replace's filter is checked on its own (on FerretDB too), and a taken id is lost."""
    runs = db[history_store.RUNS]
    await runs.insert_many([{"_id": "a", "rev": 1}, {"_id": "b", "rev": 1}, {"_id": "c"}])
    fates = await history_store.write(
        runs,
        [
            ReplaceOne({"_id": "a", "rev": 1}, {"rev": 2}),
            ReplaceOne({"_id": "b", "rev": 0}, {"rev": 1}),
            InsertOne({"_id": "c", "rev": 1}),
            InsertOne({"_id": "d", "rev": 1}),
        ],
    )
    assert fates == [False, False, False, True], "which replace missed is unknown: read again"
    assert {doc["_id"]: doc.get("rev") async for doc in runs.find({})} == {
        "a": 2,
        "b": 1,
        "c": None,
        "d": 1,
    }


async def test_a_concurrent_change_is_detected_and_the_run_folded_again(
    db: AsyncDatabase[Document],
) -> None:
    """Another writer lands between the batch's read and its write: no event is lost."""
    runs = db[history_store.RUNS]
    life, other = _events("s1@f"), _events("s1@g")
    await history_store.project_runs(runs, [life[0], other[0]])

    class Raced:
        """The runs collection, with a concurrent projector before the first bulk write."""

        raced = False

        async def find_one(self, *args: Any, **kwargs: Any) -> Any:
            return await runs.find_one(*args, **kwargs)

        async def bulk_write(self, writes: list[history_store.Write], ordered: bool) -> Any:
            if not self.raced:
                self.raced = True
                await history_store.project_run(runs, [life[1]])
            return await runs.bulk_write(writes, ordered=ordered)

    projected = await history_store.project_runs(cast(Any, Raced()), [life[2], other[1]])
    stored = {doc["_id"]: doc async for doc in runs.find({})}
    assert len(stored["s1@f"]["events"]) == 3
    assert stored["s1@f"]["rev"] == 3, "the raced write lost its condition and was made again"
    assert len(stored["s1@g"]["events"]) == 2
    assert projected.outcomes == {"s1@f": fold(life[:3]), "s1@g": fold(other[:2])}
    # The racer's event is the racer's: this batch stored only its own two.
    assert sorted(e.event_id for e in projected.fresh) == sorted(
        e.event_id for e in (life[2], other[1])
    )


def _counted_client(settings: Settings, commands: _Commands) -> AsyncMongoClient[Document]:
    """A client of its own, so that `commands` counts this test's commands alone."""
    return AsyncMongoClient(
        settings.mongo.url.get_secret_value(),
        tz_aware=True,
        uuidRepresentation="standard",
        event_listeners=[commands],
    )


async def test_a_batch_of_2000_runs_is_a_read_each_and_bulk_writes(
    db: AsyncDatabase[Document], settings: Settings
) -> None:
    commands = _Commands()
    client = _counted_client(settings, commands)
    runs = client[db.name][history_store.RUNS]
    lives = [_events(f"s1@{n:04d}") for n in range(2000)]
    try:
        first = [life[0] for life in lives]
        projected = await history_store.project_runs(runs, first + first)
        outcomes = projected.outcomes
        assert all(isinstance(o, history_store.history.RunRecord) for o in outcomes.values())
        assert len(outcomes) == 2000
        assert projected.fresh == first, "each event stored once, though sent twice"
        # A read per run (`_id` equality is what FerretDB pushes down), one insert.
        assert (commands.sent["find"], commands.sent["insert"]) == (2000, 1)

        commands.sent.clear()
        second = [e for life in lives for e in life[1:3]]
        projected = await history_store.project_runs(runs, second)
        assert projected.outcomes == {life[0].run_id: fold(life[:3]) for life in lives}
        assert commands.sent["find"] == 2000
        assert commands.sent["update"] == -(-2000 // history_store.REPLACES_PER_COMMAND)
        assert commands.sent.keys() <= {"find", "getMore", "update"}
    finally:
        await client.close()
    statuses = Counter([doc["status"] async for doc in db[history_store.RUNS].find({})])
    assert statuses == {"pending_retry": 2000}
    assert {doc["rev"] async for doc in db[history_store.RUNS].find({})} == {2}


async def test_a_writer_with_a_record_cache_skips_the_reads_and_survives_a_stale_one(
    db: AsyncDatabase[Document], settings: Settings
) -> None:
    """The projection's cache: a batch that begins runs and batches of runs it wrote read
    nothing; a record another writer changed meanwhile is read and folded again."""
    commands = _Commands()
    client = _counted_client(settings, commands)
    runs = client[db.name][history_store.RUNS]
    known = history_store.RecordCache(1024 * 1024)
    lives = [
        [e.model_copy(update={"correlation_id": uuid4()}) for e in _events(f"s1@c{n}")]
        for n in range(20)
    ]
    try:
        projected = await history_store.project_runs(runs, [life[0] for life in lives], known)
        assert projected.outcomes == {life[0].run_id: fold(life[:1]) for life in lives}
        assert commands.sent.keys() == {"insert"}, "a run's first firing is inserted unread"

        # Another writer (a replay, a replica before a rebalance) moves one run on.
        await history_store.project_run(db[history_store.RUNS], [lives[0][1]])
        commands.sent.clear()
        second = [e for life in lives for e in life[1:3]]
        projected = await history_store.project_runs(runs, second, known)
        assert projected.outcomes == {life[0].run_id: fold(life[:3]) for life in lives}
        # Only the stale run and those sent in its command (a bulk reply does not say
        # which replace missed) are read again.
        assert 1 <= commands.sent["find"] <= history_store.REPLACES_PER_COMMAND

        # A first firing delivered again finds its run stored: read, and nothing changes.
        commands.sent.clear()
        known.clear()
        again = await history_store.project_runs(runs, [lives[1][0]], known)
        assert again.outcomes == {lives[1][0].run_id: fold(lives[1][:3])}
        assert again.fresh == [], "nothing new reached the history"
    finally:
        await client.close()
    stored = {doc["_id"]: doc async for doc in db[history_store.RUNS].find({})}
    assert {run_id: len(doc["events"]) for run_id, doc in stored.items()} == {
        life[0].run_id: 3 for life in lives
    }
    assert stored["s1@c0"]["rev"] == 3
    assert stored["s1@c1"]["rev"] == 2
