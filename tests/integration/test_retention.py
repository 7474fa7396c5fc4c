"""Bounded storage on the real server (FerretDB here): what expired goes, what is live never does.

FerretDB 1.24 has no TTL indexes, so every collection here is cleaned by its
service's periodic clean-up (`shared/runtime/retention.py`), run one pass at
a time with a clock moved forward instead of waiting for days. Each test
writes through the stores the services use, so the fields documents expire
by are the ones production writes. `herald storage` runs as a process
against the test's database.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.services.mailer.cleanup import mailer_cleanup
from herald.services.mailer.ports import Claim
from herald.services.mailer.store import RECEIPT, SENDS, TAKEOVERS, Ledger, send_id
from herald.services.renderer.cleanup import artifact_keep, renderer_cleanup
from herald.services.renderer.shares import SHARES, ShareStore
from herald.services.scheduler.cleanup import scheduler_cleanup
from herald.services.scheduler.ports import Output, Recorded
from herald.services.scheduler.retries import Timer, TimerKind
from herald.services.scheduler.store import COMMANDS, SchedulerStore
from herald.services.scheduler.timers import TIMERS, TimerStore, bucket_of
from herald.shared.contract.messages import (
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
    RunStatus,
)
from herald.shared.history import store as history_store
from herald.shared.runtime.artifacts import BRAND_BUCKET, ArtifactStore
from herald.shared.runtime.artifacts import BUCKET as ARTIFACTS
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.retention import Cleanup, DayBuckets
from herald.shared.runtime.settings import MongoSettings, Settings
from tests.fakes.mailer import Clock
from tests.helpers import run_cli
from tests.samples import run_details

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)
NOW = datetime.now(UTC)


def _at(settings: Settings, **retention: object) -> Settings:
    return settings.model_copy(
        update={"retention": settings.retention.model_copy(update=retention)}
    )


async def _ids(db: AsyncDatabase[Document], collection: str) -> set[str]:
    return {str(doc["_id"]) async for doc in db[collection].find({}, {"_id": 1})}


async def _pass(cleanup: Cleanup) -> int:
    removed, _ = await cleanup.run_once()
    return removed


def _swept(cleanup: Cleanup) -> None:
    """On FerretDB the clean-up sweeps: no TTL index took over."""
    for sweep in cleanup.sweeps:
        assert not getattr(sweep, "by_ttl", False), sweep.name


# --- the scheduler: runs, commands, timers -------------------------------------------


async def _run(db: AsyncDatabase[Document], run_id: str, at: datetime, *final: RunStatus) -> None:
    """A run fired at `at`; then, each a minute later, `final` (or a retry pending)."""
    common = {"tenant_id": "acme", "schedule_id": "s1", "run_id": run_id, "attempt": 1}
    details = run_details(run_id=run_id, scheduled_for=at)
    events = [
        DeliveryStatus(
            **common, status=RunStatus.DUE, stage="scheduler", run=details, occurred_at=at
        )
    ]
    for n, status in enumerate(final or (RunStatus.PENDING_RETRY,), start=1):
        events.append(
            DeliveryStatus(
                **common,
                status=status,
                stage="mailer",
                occurred_at=at + n * timedelta(minutes=1),
                next_attempt_at=at + DAY if status is RunStatus.PENDING_RETRY else None,
                reason="451 later" if status is RunStatus.PENDING_RETRY else None,
            )
        )
    await history_store.project_run(db[history_store.RUNS], events)


async def test_finished_runs_expire_and_runs_in_flight_never_do(
    settings: Settings, db: AsyncDatabase[Document]
) -> None:
    keep = 400
    old = NOW - (keep + 5) * DAY
    await _run(db, "s1@delivered-old", old, RunStatus.DELIVERED)
    await _run(db, "s1@failed-old", old, RunStatus.FAILED)
    await _run(db, "s1@skipped-old", old, RunStatus.SKIPPED)
    await _run(db, "s1@pending-old", old)  # a retry pending since long ago: still live
    await _run(db, "s1@due-old", old, RunStatus.RENDERED)  # in flight since long ago
    await _run(db, "s1@delivered-recent", NOW - (keep - 5) * DAY, RunStatus.DELIVERED)
    # Written before the retention fields existed: final and old, but not provably so here.
    await db[history_store.RUNS].insert_one(
        {"_id": "s1@legacy", "tenant_id": "acme", "status": "delivered", "updated_at": old}
    )
    stored = await db[history_store.RUNS].find_one({"_id": "s1@delivered-old"})
    assert stored is not None
    assert stored["finished_day"] == (old + timedelta(minutes=1)).date().isoformat()
    pending = await db[history_store.RUNS].find_one({"_id": "s1@pending-old"})
    assert pending is not None
    assert "finished_at" not in pending
    # The record readers see is the same as before: the retention fields are not in it.
    record = await history_store.get_run(db[history_store.RUNS], "acme", "s1@delivered-old")
    assert record is not None
    assert record.status is RunStatus.DELIVERED

    cleanup = scheduler_cleanup(db, _at(settings, runs_days=keep), Clock(NOW))
    await cleanup.prepare()
    _swept(cleanup)
    assert await _pass(cleanup) == 3

    assert await _ids(db, history_store.RUNS) == {
        "s1@pending-old",
        "s1@due-old",
        "s1@delivered-recent",
        "s1@legacy",
    }


async def test_commands_expire_after_their_retention(
    settings: Settings, db: AsyncDatabase[Document]
) -> None:
    store = SchedulerStore(db)
    output = Output("herald.schedule.events", "{}")
    await store.record_many([(f"c{n}", Recorded("acme", [output])) for n in range(3)])
    await db[COMMANDS].insert_one({"_id": "legacy", "tenant_id": "acme", "outputs": []})
    assert await store.recorded("c0") is not None

    at = Clock(NOW + 29 * DAY)
    cleanup = scheduler_cleanup(db, _at(settings, commands_days=30), at)
    await cleanup.prepare()
    _swept(cleanup)
    assert await _pass(cleanup) == 0
    at.now = NOW + 32 * DAY
    assert await _pass(cleanup) == 3
    assert await _ids(db, COMMANDS) == {"legacy"}


async def test_timers_left_behind_the_cursor_go_once_their_run_is_final(
    settings: Settings, db: AsyncDatabase[Document]
) -> None:
    """A timer is removed when it rings; the clean-up only takes what a lost disarm left."""
    timers = TimerStore(db)
    await timers.ensure_indexes()
    long_ago = NOW - 3 * DAY
    await _run(db, "s1@final", long_ago, RunStatus.DELIVERED)
    await _run(db, "s1@waiting", long_ago)  # attempt 1, pending retry
    await _run(db, "s1@moved-on", long_ago)
    await _run(db, "s1@recent", long_ago, RunStatus.DELIVERED)
    await history_store.project(
        db[history_store.RUNS],
        DeliveryStatus(
            tenant_id="acme",
            schedule_id="s1",
            run_id="s1@moved-on",
            attempt=2,
            status=RunStatus.DUE,
            stage="scheduler",
            run=run_details(run_id="s1@moved-on", scheduled_for=long_ago, attempt=2),
        ),
    )

    def timer(run_id: str, due: datetime) -> Timer:
        return Timer(run_id, "acme", "s1", 1, TimerKind.RETRY, due)

    filed_at = long_ago - DAY  # no bucket claimed yet: each goes where it is due
    await timers.arm_all(
        [
            timer("s1@final", long_ago),
            timer("s1@waiting", long_ago),
            timer("s1@moved-on", long_ago),
            timer("s1@gone", long_ago),  # its run's record is no more
            timer("s1@recent", NOW - timedelta(minutes=5)),  # passed, but not by an hour yet
            timer("s1@ahead", NOW + DAY),  # not rung yet
        ],
        filed_at,
    )
    await timers.set_cursor(bucket_of(NOW))
    cleanup = scheduler_cleanup(db, settings, Clock(NOW))
    await cleanup.prepare()
    await _pass(cleanup)

    left = {doc["run_id"] async for doc in db[TIMERS].find({})}
    assert left == {"s1@waiting", "s1@recent", "s1@ahead"}


# --- the mailer: sends, send_takeovers -----------------------------------------------


def _accepted(address: str) -> RecipientResult:
    return RecipientResult(address=address, outcome=RecipientOutcome.ACCEPTED, smtp_code=250)


async def test_ledger_entries_expire_after_their_acceptance_or_claim(
    settings: Settings, db: AsyncDatabase[Document]
) -> None:
    """Receipts from their acceptance, claims from the claim (or its takeover), finished or
    not: no retry comes that late. An entry written before either had a day field stays."""
    lease = timedelta(seconds=70)
    clock = Clock(NOW - 40 * DAY)
    ledger = Ledger(db, lease, clock=clock)
    old_run, new_run = "s1@old", "s1@new"
    for address in ("a@example.com", "b@example.com"):
        assert await ledger.claim(old_run, "acme", address) is Claim.TAKEN
        await ledger.confirm(old_run, _accepted(address))
    # A claim whose mailer stopped, taken over after its lease by another; neither replied.
    assert await ledger.claim(old_run, "acme", "stuck@example.com") is Claim.TAKEN
    clock.now += 2 * lease
    assert await Ledger(db, lease, clock=clock).claim(old_run, "acme", "stuck@example.com") is (
        Claim.TAKEN_OVER
    )
    # Claimed long ago, accepted within the retention (a run retried for days).
    assert await ledger.claim(new_run, "acme", "slow@example.com") is Claim.TAKEN
    clock.now = NOW - DAY
    assert await ledger.claim(new_run, "acme", "a@example.com") is Claim.TAKEN
    await ledger.confirm(new_run, _accepted("a@example.com"))
    await ledger.confirm(new_run, _accepted("slow@example.com"))
    await db[SENDS].insert_one(
        {"_id": send_id("s1@legacy", "x@example.com"), "run_id": "s1@legacy", "state": "accepted"}
    )
    assert len(await _ids(db, TAKEOVERS)) == 1

    cleanup = mailer_cleanup(db, _at(settings, ledger_days=30), Clock(NOW))
    await cleanup.prepare()
    _swept(cleanup)
    # Two receipts and four claims of the old run's day, one takeover marker.
    assert await _pass(cleanup) == 7

    assert await _ids(db, SENDS) == {
        send_id(new_run, "a@example.com"),
        send_id(new_run, "a@example.com") + RECEIPT,
        send_id(new_run, "slow@example.com") + RECEIPT,
        send_id("s1@legacy", "x@example.com"),
    }
    assert await _ids(db, TAKEOVERS) == set()
    assert await ledger.acceptances(new_run, ["a@example.com", "slow@example.com"]) == {
        "a@example.com": _accepted("a@example.com"),
        "slow@example.com": _accepted("slow@example.com"),
    }


# --- the renderer: render_shares, artifacts ------------------------------------------


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_share_records_expire_past_twice_the_share_ttl(
    settings: Settings, db: AsyncDatabase[Document]
) -> None:
    artifacts = ArtifactStore(db)
    clock = Clock(NOW - 3 * DAY)
    shares = ShareStore(db, artifacts, settings.renderer.share_ttl_s, clock=clock)
    assert await shares.record("old", "acme", "s1@a", "s1@a/csv")
    clock.now = NOW - timedelta(minutes=10)
    assert await shares.record("new", "acme", "s1@b", "s1@b/csv")

    cleanup = renderer_cleanup(db, settings, Clock(NOW))
    await cleanup.prepare()
    _swept(cleanup)
    await _pass(cleanup)
    assert await _ids(db, SHARES) == {"new"}


async def test_artifacts_outlive_every_run_that_can_use_them_then_go_with_their_chunks(
    settings: Settings, db: AsyncDatabase[Document]
) -> None:
    artifacts = ArtifactStore(db)
    await artifacts.ensure_indexes()
    await artifacts.put("s1@a/csv", "a.csv", "text/csv", _chunks(b"x" * 3_000_000), {})
    await artifacts.put("s1@a/full.csv", "a.csv", "text/csv", _chunks(b"y" * 10), {})
    logos = ArtifactStore(db, BRAND_BUCKET)
    await logos.put("logo-1", "logo.png", "image/png", _chunks(b"png"), {})
    legacy_files = db[f"{ARTIFACTS}.files"]
    await legacy_files.insert_one(
        {"_id": "legacy/csv", "length": 0, "chunkSize": 1, "filename": "l.csv", "uploadDate": NOW}
    )
    keep = artifact_keep(settings)
    # The bound covers every use: a run rendered now retried until its deadline (and a
    # stuck last attempt), runs sharing it within the share TTL, then the links' days.
    assert keep >= timedelta(
        seconds=settings.renderer.share_ttl_s + settings.longest_run_s,
        days=settings.retention.artifacts_days,
    )

    clock = Clock(NOW + keep - DAY)  # a link in the last email sent is a day from expiry
    cleanup = renderer_cleanup(db, settings, clock)
    await cleanup.prepare()
    _swept(cleanup)
    assert await _pass(cleanup) == 0
    assert await artifacts.read("s1@a/csv") == b"x" * 3_000_000

    clock.now = NOW + keep + 2 * DAY
    assert await _pass(cleanup) == 2
    assert await artifacts.find("s1@a/csv") is None
    assert await db[f"{ARTIFACTS}.chunks"].count_documents({}) == 0
    assert await _ids(db, f"{ARTIFACTS}.files") == {"legacy/csv"}
    assert await logos.read("logo-1") == b"png"  # the tenants' logos are not artifacts


# --- the sweep itself ----------------------------------------------------------------


async def test_a_pass_removes_at_most_its_batch_and_asks_for_another(
    db: AsyncDatabase[Document],
) -> None:
    collection = db["expiring"]
    old = NOW - 10 * DAY
    await collection.insert_many(
        [
            {"_id": n, "at": old, "day": (old + n * timedelta(hours=7)).date().isoformat()}
            for n in range(7)
        ]
    )
    await collection.insert_one({"_id": "fresh", "at": NOW, "day": NOW.date().isoformat()})
    sweep = DayBuckets(collection, "at", "day", timedelta(days=2), lookback_days=30)
    await sweep.prepare()
    assert not sweep.by_ttl

    assert await sweep.sweep(NOW, 3) == (3, True)
    assert await sweep.sweep(NOW, 3) == (3, True)
    assert await sweep.sweep(NOW, 3) == (1, False)
    assert await sweep.sweep(NOW, 3) == (0, False)
    assert await _ids(db, "expiring") == {"fresh"}


# --- herald storage ------------------------------------------------------------------


async def test_herald_storage_prints_each_collection_as_json_and_as_a_table(
    settings: Settings, db: AsyncDatabase[Document]
) -> None:
    await _run(db, "s1@one", NOW, RunStatus.DELIVERED)
    await _run(db, "s1@two", NOW)
    ledger = Ledger(db, timedelta(seconds=70))
    await ledger.claim("s1@one", "acme", "a@example.com")
    await ArtifactStore(db).put("s1@one/csv", "a.csv", "text/csv", _chunks(b"z" * 100), {})

    shown = await run_cli(settings, "storage", "--json")
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.output)
    assert found["database"] == settings.mongo.database
    by_name = {c["collection"]: c for c in found["collections"]}
    assert by_name["runs"]["documents"] == 2
    assert by_name["sends"]["documents"] == 1
    assert by_name["artifacts.files"]["documents"] == 1
    assert by_name["artifacts.chunks"]["documents"] == 1
    assert by_name["runs"]["retention"].startswith("400 days")
    for size in by_name.values():
        assert size["data_bytes"] is None or size["data_bytes"] >= 0
    assert found["totals"]["documents"] == sum(c["documents"] for c in by_name.values())

    table = await run_cli(settings, "storage")
    assert table.exit_code == 0, table.output
    assert "runs" in table.output
    assert "artifacts.chunks" in table.output
    assert "total" in table.output


async def test_herald_storage_names_the_database_it_cannot_reach(settings: Settings) -> None:
    away = settings.model_copy(
        update={
            "mongo": MongoSettings(
                url="mongodb://127.0.0.1:9/", database="x", server_selection_timeout_ms=500
            )
        }
    )
    shown = await run_cli(away, "storage")
    assert shown.exit_code == 2, shown.output
    assert "127.0.0.1:9" in shown.output


async def test_a_sweep_finds_its_day_through_an_index_on_ferretdb(
    settings: Settings, db: AsyncDatabase[Document]
) -> None:
    """A day's lookup must not read the whole collection: that is the point of the day field."""
    if "ferretdbVersion" not in await db.command("buildInfo"):
        pytest.skip("MongoDB removes them by its TTL index")
    cleanup = scheduler_cleanup(db, settings)
    await cleanup.prepare()  # created before the documents, as services do
    days = [(NOW - n * DAY).date().isoformat() for n in range(30)]
    await db[history_store.RUNS].insert_many(
        [
            {
                "_id": f"s{n}@r",
                "finished_day": days[n % 30],
                "status": "delivered",
                "pad": "x" * 400,
            }
            for n in range(3000)
        ]
    )
    explained = await db.command(
        "explain", {"find": history_store.RUNS, "filter": {"finished_day": days[3]}}
    )
    plan = json.dumps(explained["queryPlanner"]["Plan"])
    assert "Seq Scan" not in plan
    assert "Index Scan" in plan
