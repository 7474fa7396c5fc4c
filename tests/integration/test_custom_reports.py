"""Saved custom reports on the real server: the store, and each query shape against memory.

The figures are checked by hand in memory (tests/unit/test_custom_report_figures.py).
Here the store keeps, versions and deletes definitions per tenant, and each
distinct read a custom report makes of the database (a registered grouping from
the roll-ups and from raw calls only, an ad-hoc grouping, days the window cuts,
filters pushed to the query, sessions summed per key) run by a schedule's
request on the hand-checked dataset (tests/report_dataset.py) must give exactly
the report computed from `MemoryCallData`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from typer.testing import CliRunner

from herald.cli.custom import custom_app
from herald.services.renderer.reports import custom_store as custom_report_store
from herald.services.renderer.reports.model import ReportRequest, ReportUnavailable
from herald.services.renderer.reports.mongo_source import MongoSource
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.report_dataset import (
    BERLIN,
    BY_CAMPAIGN,
    BY_CAMPAIGN_DAY,
    BY_HOUR,
    INBOUND_QUEUES,
    TEAM_TIME,
    TENANT,
    TOP_CONVERTERS,
    computed_custom,
    contents,
    custom_report,
    custom_request,
    local,
)

pytestmark = pytest.mark.integration
_NOON_TO_NOON = {"start": local(6, 11, 12), "end": local(6, 12, 12)}
_UTC_DAY = {
    "start": datetime(2025, 6, 10, tzinfo=UTC),
    "end": datetime(2025, 6, 11, tzinfo=UTC),
    "timezone": "UTC",
}
#: One report per query shape: (definition, its request's arguments).
SHAPES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # Registered groupings: roll-ups for whole days.
    "calls grouping": (BY_CAMPAIGN, {}),
    "calls grouping by day": (BY_CAMPAIGN_DAY, {}),
    "calls grouping by agent, sorted and limited": (TOP_CONVERTERS, {}),
    "hours grouping": (BY_HOUR, {}),
    # No registered grouping covers queue and direction: raw calls, every day.
    "ad-hoc grouping with a fixed filter": (INBOUND_QUEUES, {}),
    # Noon to noon: both days are grouped from their raw calls within the bounds.
    "days the window cuts": (BY_CAMPAIGN, _NOON_TO_NOON),
    "ad-hoc grouping of days the window cuts": (INBOUND_QUEUES, _NOON_TO_NOON),
    "a UTC day of Berlin data, by local day": (BY_CAMPAIGN_DAY, _UTC_DAY),
    # Filters: `$in` on raw calls, kept cells on roll-ups.
    "campaign filter": (BY_CAMPAIGN, {"campaigns": ("c1", "c3")}),
    "agent filter": (BY_CAMPAIGN, {"agents": ("a3",)}),
    "agent filter on an ad-hoc grouping": (INBOUND_QUEUES, {"agents": ("a4",)}),
    # Sessions: summed per key over whole local days; the agent filter applies.
    "sessions": (TEAM_TIME, {}),
    "sessions of one agent, days the window cuts": (
        TEAM_TIME,
        _NOON_TO_NOON | {"agents": ("a3",)},
    ),
}


@pytest.mark.parametrize(("definition", "arguments"), list(SHAPES.values()), ids=list(SHAPES))
async def test_the_database_answers_as_the_dataset_in_memory(
    source: MongoSource,
    definition: dict[str, Any],
    arguments: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    report = custom_report(definition)
    await custom_report_store.save(source.definitions, report)
    ask = custom_request(report, **arguments)
    with caplog.at_level(logging.WARNING, logger="herald.calldata"):
        found = await contents(await source.fetch(ask))
    # Every day has a ready roll-up: none is ever found unusable (nor looked up ad hoc).
    assert "roll-up" not in caplog.text
    assert found == await contents(await computed_custom(report, ask))
    assert found.tables[0][2], "the shape is checked on rows, not on an empty table"


def _request(report_id: str) -> ReportRequest:
    return custom_request(custom_report(BY_CAMPAIGN | {"report_id": report_id}))


async def test_a_missing_or_deleted_report_fails_for_good(db: AsyncDatabase[Document]) -> None:
    source = MongoSource(db, BERLIN)
    with pytest.raises(ReportUnavailable, match="'nope' does not exist for tenant 'acme'"):
        await source.fetch(_request("nope"))
    report = custom_report(BY_CAMPAIGN)
    assert await custom_report_store.save(source.definitions, report)
    assert await custom_report_store.delete(source.definitions, TENANT, report.report_id)
    with pytest.raises(ReportUnavailable, match=r"'by_campaign' does not exist .* \(deleted\?\)"):
        await source.fetch(_request(report.report_id))
    assert not await custom_report_store.delete(source.definitions, TENANT, report.report_id)


async def test_a_stored_definition_that_no_longer_validates(db: AsyncDatabase[Document]) -> None:
    source = MongoSource(db, BERLIN)
    report = custom_report(BY_CAMPAIGN)
    await custom_report_store.save(source.definitions, report)
    # As if the allow-list had lost a field since the definition was saved.
    stored = await source.definitions.find_one({"_id": f"{TENANT}/{report.report_id}"})
    assert stored is not None
    stored["metrics"][1]["field"] = "talk_minutes"
    await source.definitions.replace_one({"_id": stored["_id"]}, stored)
    with pytest.raises(ReportUnavailable, match=r"no longer validates \(metrics\.1\.field: "):
        await source.fetch(_request(report.report_id))


async def test_definitions_are_per_tenant_and_versioned_by_saving(
    db: AsyncDatabase[Document],
) -> None:
    collection = db[custom_report_store.CUSTOM_REPORTS]
    mine = custom_report(BY_CAMPAIGN)
    theirs = custom_report(BY_CAMPAIGN, "globex").model_copy(update={"title": "Theirs"})
    assert await custom_report_store.save(collection, mine)
    assert await custom_report_store.save(collection, theirs)
    (first,) = await custom_report_store.list_reports(collection, TENANT)
    await asyncio.sleep(0.01)  # the server keeps milliseconds
    assert not await custom_report_store.save(collection, mine.model_copy(update={"limit": 5}))
    assert await custom_report_store.get(collection, TENANT, "by_campaign") == mine.model_copy(
        update={"limit": 5}
    )
    (second,) = await custom_report_store.list_reports(collection, TENANT)
    assert (second.report_id, second.title, second.dataset) == (
        "by_campaign",
        "Calls by campaign",
        "calls",
    )
    assert first.updated_at is not None
    assert second.updated_at is not None
    assert second.updated_at > first.updated_at
    assert [r.title for r in await custom_report_store.list_reports(collection, "globex")] == [
        "Theirs"
    ]
    assert await custom_report_store.delete(collection, TENANT, "by_campaign")
    assert await custom_report_store.list_reports(collection, TENANT) == []
    assert await custom_report_store.get(collection, "globex", "by_campaign") == theirs


def test_the_cli_saves_lists_shows_and_deletes(
    settings: Settings, mongo: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HERALD_MONGO__URL", settings.mongo.url.get_secret_value())
    monkeypatch.setenv("HERALD_MONGO__DATABASE", settings.mongo.database)
    definition = tmp_path / "queues.json"
    definition.write_text(json.dumps(INBOUND_QUEUES))
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(custom_app, [*args, "--tenant", TENANT])
        assert result.exit_code == 0, result.output
        return result.output

    assert "created custom report 'inbound_queues'" in cli("save", str(definition))
    assert "replaced custom report 'inbound_queues'" in cli("save", str(definition))
    assert "Inbound by queue" in cli("list")
    shown = json.loads(cli("show", "inbound_queues"))
    assert shown == custom_report(INBOUND_QUEUES).model_dump(mode="json")
    assert "deleted custom report 'inbound_queues'" in cli("delete", "inbound_queues")
    missing = runner.invoke(custom_app, ["show", "inbound_queues", "--tenant", TENANT])
    assert missing.exit_code == 1
    assert "no custom report 'inbound_queues' for tenant 'acme'" in missing.output
