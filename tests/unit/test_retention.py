"""Retention without a server: the TTL-or-sweep decision, the days a sweep may empty, the settings.

The sweep itself runs on FerretDB in tests/integration/test_retention.py;
here a fake collection answers `create_index` as MongoDB does (accepts a
TTL index, or reports one of another retention) or as FerretDB 1.24 does
(code 238, "not implemented").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from pydantic import ValidationError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import AutoReconnect, OperationFailure

from herald.services.mailer.cleanup import mailer_cleanup
from herald.services.renderer.cleanup import artifact_keep, renderer_cleanup, share_keep
from herald.services.scheduler.cleanup import scheduler_cleanup
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.retention import (
    INDEX_OPTIONS_CONFLICT,
    NOT_IMPLEMENTED,
    Cleanup,
    DayBuckets,
    day_key,
    ensure_ttl,
    expiry_fields,
)
from herald.shared.runtime.settings import Settings


class FakeDatabase:
    def __init__(self) -> None:
        self.commands: list[tuple[Any, ...]] = []

    async def command(self, *args: Any, **kwargs: Any) -> Document:
        self.commands.append((*args, kwargs))
        return {"ok": 1}


class FakeCollection:
    """`create_index` as a server answers it; no documents (nothing is ever read)."""

    def __init__(self, refuse_ttl: int | None = None) -> None:
        self.name = "things"
        self.database = FakeDatabase()
        self.refuse_ttl = refuse_ttl
        self.indexes: list[tuple[Any, dict[str, Any]]] = []
        self.finds = 0

    async def create_index(self, keys: Any, **options: Any) -> str:
        if "expireAfterSeconds" in options and self.refuse_ttl is not None:
            raise OperationFailure("no TTL here", code=self.refuse_ttl)
        self.indexes.append((keys, options))
        return str(keys)

    def find(self, *args: Any, **kwargs: Any) -> Any:
        self.finds += 1
        raise AssertionError("a collection under a TTL index is never swept")


def _collection(fake: FakeCollection) -> AsyncCollection[Document]:
    return cast(AsyncCollection[Document], fake)


async def test_a_server_with_ttl_indexes_gets_one_and_nothing_is_swept() -> None:
    fake = FakeCollection()
    buckets = DayBuckets(_collection(fake), "at", "day", timedelta(days=30))
    await buckets.prepare()
    assert buckets.by_ttl
    assert fake.indexes == [("at", {"expireAfterSeconds": 30 * 86400})]
    assert await buckets.sweep(datetime.now(UTC), 100) == (0, False)
    assert fake.finds == 0


async def test_ferretdb_refusing_ttl_indexes_gets_the_day_index_and_a_sweep() -> None:
    fake = FakeCollection(refuse_ttl=NOT_IMPLEMENTED)
    assert not await ensure_ttl(_collection(fake), "at", timedelta(days=30))
    buckets = DayBuckets(_collection(fake), "at", "day", timedelta(days=30))
    await buckets.prepare()
    assert not buckets.by_ttl
    assert fake.indexes == [("day", {})]


async def test_a_ttl_index_of_another_retention_is_changed_to_this_one() -> None:
    fake = FakeCollection(refuse_ttl=INDEX_OPTIONS_CONFLICT)
    assert await ensure_ttl(_collection(fake), "finished_at", timedelta(days=400))
    assert fake.database.commands == [
        (
            "collMod",
            "things",
            {"index": {"keyPattern": {"finished_at": 1}, "expireAfterSeconds": 400 * 86400}},
        )
    ]


async def test_any_other_refusal_is_an_error() -> None:
    fake = FakeCollection(refuse_ttl=13)  # Unauthorized
    with pytest.raises(OperationFailure):
        await ensure_ttl(_collection(fake), "at", timedelta(days=1))


async def test_a_collection_that_must_always_be_swept_never_asks_for_ttl() -> None:
    fake = FakeCollection()
    buckets = DayBuckets(_collection(fake), "at", "day", timedelta(days=1), ttl=False)
    await buckets.prepare()
    assert not buckets.by_ttl
    assert fake.indexes == [("day", {})]


def test_a_day_is_swept_only_once_all_of_it_is_older_than_the_retention() -> None:
    buckets = DayBuckets(_collection(FakeCollection()), "at", "day", timedelta(days=30))
    now = datetime(2026, 12, 31, 10, tzinfo=UTC)
    # 30 days before is 1 December, 10:00: 1 December is not all older yet, 30 November is.
    assert buckets.last_due_day(now).isoformat() == "2026-11-30"
    assert expiry_fields("at", "day", datetime(2026, 11, 30, 23, 59, tzinfo=UTC))["day"] == (
        "2026-11-30"
    )
    assert day_key(datetime(2026, 12, 1, 0, 30, tzinfo=UTC)) == "2026-12-01"


class Failing:
    name = "broken"

    async def prepare(self) -> None:
        pass

    async def sweep(self, now: datetime, budget: int) -> tuple[int, bool]:
        raise AutoReconnect("database away")


class Counting:
    name = "fine"

    def __init__(self) -> None:
        self.budgets: list[int] = []

    async def prepare(self) -> None:
        pass

    async def sweep(self, now: datetime, budget: int) -> tuple[int, bool]:
        self.budgets.append(budget)
        return budget, True


async def test_a_failing_collection_does_not_stop_the_others() -> None:
    counting = Counting()
    cleanup = Cleanup("test", [Failing(), counting], every_s=3600, batch=50)
    assert await cleanup.run_once() == (50, True)
    assert counting.budgets == [50]


def test_each_service_cleans_only_its_own_collections() -> None:
    settings = Settings()

    class Db(dict[str, Any]):
        def __missing__(self, name: str) -> Any:
            fake = FakeCollection()
            fake.name = name
            return fake

    db = Db()
    owned = {
        "scheduler": {s.name for s in scheduler_cleanup(db, settings).sweeps},
        "renderer": {s.name for s in renderer_cleanup(db, settings).sweeps},
        "mailer": {s.name for s in mailer_cleanup(db, settings).sweeps},
    }
    assert owned == {
        "scheduler": {"runs", "commands", "timers", "brand_assets"},
        "renderer": {"render_shares", "artifacts"},
        "mailer": {"sends", "send_takeovers", "send_volume"},
    }


def test_retention_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_RETENTION__RUNS_DAYS", "90")
    monkeypatch.setenv("HERALD_RETENTION__SHARES_S", "600")
    monkeypatch.setenv("HERALD_RETENTION__EVERY_S", "60")
    monkeypatch.setenv("HERALD_RETENTION__LOGOS_DAYS", "7")
    settings = Settings()
    assert settings.retention.runs_days == 90
    assert settings.retention.logos_days == 7
    assert share_keep(settings) == timedelta(seconds=600)
    assert settings.retention.every_s == 60
    monkeypatch.delenv("HERALD_RETENTION__SHARES_S")
    assert share_keep(Settings()) == timedelta(hours=2)  # twice the share TTL


def test_the_ledger_must_outlive_every_retry_deadline() -> None:
    with pytest.raises(ValidationError, match="LEDGER_DAYS"):
        Settings(retention={"ledger_days": 2}, retry={"settings_problem_s": 3 * 86400})
    Settings(retention={"ledger_days": 4}, retry={"settings_problem_s": 3 * 86400})


def test_artifacts_are_kept_past_the_longest_run_that_may_use_them() -> None:
    settings = Settings()
    longest = timedelta(days=1, seconds=900)  # a day of retries, then a stuck last attempt
    assert artifact_keep(settings) == timedelta(hours=1) + longest + timedelta(days=30)
    later = Settings(retry={"settings_problem_s": 5 * 86400})
    assert artifact_keep(later) == timedelta(hours=1, days=35, seconds=900)
