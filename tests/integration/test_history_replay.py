"""The history rebuilt from `delivery.status` equals the one the scheduler keeps live."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from herald.services.scheduler.firing import run_details
from herald.shared.contract.messages import (
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
    RunStatus,
    utcnow,
)
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.contract.topics import Topics
from herald.shared.history import replay
from herald.shared.history import store as history_store
from herald.shared.runtime.kafka import client_options, publish_many
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.service import build_runtime
from herald.shared.runtime.settings import Settings
from tests.helpers import ServiceProcess, wait_until

pytestmark = pytest.mark.integration

SPEC = ScheduleSpec.model_validate(
    {
        "name": "Brief",
        "report": {"id": "campaign_summary"},
        "frequency": "daily",
        "recipients": ["a@example.com", "b@example.com"],
    }
)


def _status(
    run_id: str,
    tenant_id: str,
    t0: datetime,
    status: RunStatus,
    attempt: int,
    seconds: int,
    **more: object,
) -> DeliveryStatus:
    return DeliveryStatus.model_validate(
        {
            "tenant_id": tenant_id,
            "schedule_id": run_id.split("@")[0],
            "run_id": run_id,
            "attempt": attempt,
            "status": status,
            "stage": "mailer",
            "scheduled_for": t0,
            "occurred_at": t0 + timedelta(seconds=seconds),
            **more,
        }
    )


def _lives(runs: int) -> list[DeliveryStatus]:
    """Runs that are delivered, retried then delivered, failed, or skipped."""
    # Events from now on, and retries due in minutes: a run's retry or stuck-run timer
    # must not ring while its shuffled events arrive, or the scheduler fires it again
    # and the history holds an event this test did not publish.
    t0 = datetime.now(UTC).replace(microsecond=0)
    accepted_a = RecipientResult(address="a@example.com", outcome=RecipientOutcome.ACCEPTED)
    accepted_b = RecipientResult(address="b@example.com", outcome=RecipientOutcome.ACCEPTED)
    refused_b = RecipientResult(
        address="b@example.com", outcome=RecipientOutcome.REFUSED_TRANSIENT, smtp_code=451
    )
    events: list[DeliveryStatus] = []
    for n in range(runs):
        run_id = f"s{n % 4}@r{n}"
        tenant = "acme" if n % 3 else "globex"
        details = run_details(run_id, SPEC, "UTC", t0)
        kind = n % 4
        if kind == 3:
            events.append(_status(run_id, tenant, t0, RunStatus.SKIPPED, 1, 0, reason="missed"))
            continue
        events += [
            _status(run_id, tenant, t0, RunStatus.DUE, 1, 0, run=details),
            _status(run_id, tenant, t0, RunStatus.RENDERED, 1, 2, artifact_id=f"{run_id}/csv"),
        ]
        if kind == 0:
            events.append(
                _status(run_id, tenant, t0, RunStatus.DELIVERED, 1, 3, recipients=[accepted_a])
            )
        elif kind == 1:
            retry_at = t0 + timedelta(minutes=5)
            again = details.model_copy(update={"attempt": 2})
            events += [
                _status(
                    run_id,
                    tenant,
                    t0,
                    RunStatus.PENDING_RETRY,
                    1,
                    3,
                    recipients=[accepted_a, refused_b],
                    next_attempt_at=retry_at,
                ),
                _status(run_id, tenant, t0, RunStatus.DUE, 2, 60, run=again),
                _status(run_id, tenant, t0, RunStatus.DELIVERED, 2, 63, recipients=[accepted_b]),
            ]
        else:
            events.append(
                _status(run_id, tenant, t0, RunStatus.FAILED, 1, 3, reason="550 no such user")
            )
    return events


async def test_replaying_the_log_rebuilds_the_live_history(
    topics_ready: Settings, db: AsyncDatabase[Document], log_dir: Path
) -> None:
    settings = topics_ready
    events = _lives(40)
    shuffled = events + random.Random(5).sample(events, 20)  # redeliveries too
    random.Random(6).shuffle(shuffled)
    scheduler = ServiceProcess("scheduler", settings, log_dir)
    await scheduler.wait_started()
    runtime = build_runtime("probe", settings)
    await runtime.broker.start()
    try:
        await publish_many(runtime.broker, runtime.topics, shuffled)
        live = db[history_store.RUNS]

        async def projected() -> bool:
            stored = [doc async for doc in live.find({}, {"events.event_id": 1})]
            return sum(len(doc["events"]) for doc in stored) == len(events)

        await wait_until(projected, 60, "the scheduler to project every event")
    finally:
        await runtime.broker.stop()
        scheduler.stop()

    rebuilt = db["runs_rebuilt"]
    done = await replay.rebuild(settings, rebuilt)
    assert done.applied == len(shuffled)
    assert done.created == 40
    assert done.rejected == []
    live_docs = {doc["_id"]: doc async for doc in db[history_store.RUNS].find({}, {"rev": 0})}
    rebuilt_docs = {doc["_id"]: doc async for doc in rebuilt.find({}, {"rev": 0})}
    assert len(live_docs) == 40
    assert rebuilt_docs == live_docs
    statuses = sorted(doc["status"] for doc in live_docs.values())
    assert statuses.count("delivered") == 20
    assert statuses.count("failed") == 10
    assert statuses.count("skipped") == 10

    only_globex = db["runs_globex"]
    await replay.rebuild(settings, only_globex, tenant_id="globex")
    assert {doc["tenant_id"] async for doc in only_globex.find({})} == {"globex"}


def _delivered_run(run_id: str, due_at: datetime, rendered_after_s: int) -> list[DeliveryStatus]:
    """A run's due, rendered and delivered events, its `rendered` that long after its due."""
    details = run_details(run_id, SPEC, "UTC", due_at)
    accepted = [RecipientResult(address="a@example.com", outcome=RecipientOutcome.ACCEPTED)]
    return [
        _status(run_id, "acme", due_at, RunStatus.DUE, 1, 0, run=details),
        _status(
            run_id, "acme", due_at, RunStatus.RENDERED, 1, rendered_after_s, artifact_id="a/csv"
        ),
        _status(run_id, "acme", due_at, RunStatus.DELIVERED, 1, 1, recipients=accepted),
    ]


async def test_a_verify_since_compares_every_run_that_began_after_it(
    topics_ready: Settings, db: AsyncDatabase[Document]
) -> None:
    """Also a run whose `rendered` a renderer dated by the storing of the render it shared,
    minutes before the run was due (found by an audit: such a run was left out, and
    `herald replay --verify --since` said "checked 0 runs ... no difference"); the log
    keeps those events for good."""
    settings = topics_ready
    earlier = _delivered_run("s0@earlier", utcnow() - timedelta(minutes=5), 0)
    runtime = build_runtime("probe", settings)
    await runtime.broker.start()
    try:
        await publish_many(runtime.broker, runtime.topics, earlier)
        await asyncio.sleep(0.01)  # apart from `since` in the broker's milliseconds
        since = utcnow()
        await asyncio.sleep(0.01)
        due_at = utcnow()
        later = [
            *_delivered_run("s1@shared-back-dated", due_at, -12 * 60),
            *_delivered_run("s2@shared", due_at, 0),
            *_delivered_run("s3@own", due_at, 1),
        ]
        await publish_many(runtime.broker, runtime.topics, later)
    finally:
        await runtime.broker.stop()
    live, replayed = db[history_store.RUNS], db["runs_since"]
    await history_store.project_runs(live, [*earlier, *later])
    rebuilt = await replay.rebuild(settings, replayed, since=since)
    assert (rebuilt.applied, rebuilt.created) == (len(later), 3)
    found = await replay.compare(live, replayed, since=since, replayed_runs=rebuilt.created)
    assert (found.compared, found.differences) == (3, [])
    # The run that began earlier is left out: the replay saw none of its events.
    assert await replayed.find_one({"_id": "s0@earlier"}) is None


async def test_a_record_that_is_no_event_is_named_by_its_partition_and_offset(
    topics_ready: Settings, db: AsyncDatabase[Document]
) -> None:
    """An auditor must find it: the rebuild used to count such records and name none."""
    settings = topics_ready
    producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all")
    await producer.start()
    try:
        topic = Topics(settings.kafka.topic_prefix).delivery_status
        sent = await producer.send_and_wait(topic, b"garbage{", key=b"s9")
    finally:
        await producer.stop()
    rebuilt = await replay.rebuild(settings, db["runs_junk"])
    (junk,) = rebuilt.rejected
    assert (junk.partition, junk.offset, junk.raw) == (sent.partition, sent.offset, b"garbage{")
    assert junk.where().startswith(f"partition {sent.partition} offset {sent.offset}: ")


class _Finds(CommandListener):
    """The `find` commands a client sends: (collection, filter, sort)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Document, Document | None]] = []

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name == "find":
            command = event.command
            self.sent.append((command["find"], command.get("filter", {}), command.get("sort")))

    def succeeded(self, event: CommandSucceededEvent) -> None:
        """Recorded when started."""

    def failed(self, event: CommandFailedEvent) -> None:
        """Recorded when started."""


async def test_the_comparison_finds_every_difference_without_a_sorted_read(
    settings: Settings, db: AsyncDatabase[Document]
) -> None:
    """FerretDB 1.x sorts in its own memory (only `$natural` order reaches PostgreSQL): a
    comparison that read `runs` in `_id` order held the whole history in the server
    before its first answer (670 MB more for 1,000 runs of 43 events)."""
    finds = _Finds()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        settings.mongo.url.get_secret_value(),
        tz_aware=True,
        uuidRepresentation="standard",
        event_listeners=[finds],
    )
    watched = client[settings.mongo.database]
    live, replayed = watched[history_store.RUNS], watched["runs_replayed"]
    events = _lives(40)
    made = await history_store.project_runs(replayed, events)
    await history_store.project_runs(live, events)
    try:
        clean = await replay.compare(live, replayed, replayed_runs=len(made.created))
        assert (clean.compared, clean.differences) == (40, [])
        # With the replay's count known and every twin found, no replayed run is left to
        # look for: the replayed collection is only read by `_id`.
        assert [f for f in finds.sent if f[0] == replayed.name and "_id" not in f[1]] == []

        await live.update_one({"_id": "s0@r0"}, {"$set": {"status": "failed"}})
        await live.delete_one({"_id": "s1@r1"})
        invented = await db[history_store.RUNS].find_one({"_id": "s2@r2"})
        assert invented is not None
        await live.insert_one(invented | {"_id": "s2@invented"})
        for replayed_runs in (len(made.created), None):
            found = await replay.compare(live, replayed, replayed_runs=replayed_runs)
            assert found.compared == 41
            assert [(d.run_id, d.field) for d in found.differences] == [
                ("s0@r0", "status"),
                ("s1@r1", None),
                ("s2@invented", None),
            ], replayed_runs
            assert found.differences[1].live is replay.ABSENT
            assert found.differences[2].replayed is replay.ABSENT
        # Live runs that began before `since` are left out; the replayed run the live
        # history lacks is still one.
        since = max(event.occurred_at for event in events) + timedelta(seconds=1)
        late = await replay.compare(live, replayed, since=since, replayed_runs=40)
        assert [(d.run_id, d.field) for d in late.differences] == [("s1@r1", None)]
        assert late.compared == 1
        assert finds.sent, "the listener saw no find"
        assert [sort for *_, sort in finds.sent if sort] == []
    finally:
        await client.close()
