"""The standard reports on FerretDB: each query shape answers as the dataset in memory does.

The hand-checked dataset (tests/report_dataset.py) is ingested once. Its
figures are checked in memory by tests/unit/test_standard_reports.py; here each
distinct read a report makes of the database (a grouping per local day, from
the roll-ups and from raw calls only; days cut by the window; filters pushed to
the query; sessions, whole or clipped to the window; an earlier span; the call
stream) must give exactly the report computed from `MemoryCallData`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.services.renderer.calldata.store import ROLLUPS
from herald.services.renderer.reports.model import ReportUnavailable
from herald.services.renderer.reports.mongo_source import MongoSource
from herald.shared.contract.catalog import STANDARD_REPORTS
from herald.shared.contract.tenant_settings import TenantCompliance
from herald.shared.runtime.mongo import Document
from tests.report_dataset import (
    BERLIN,
    TENANT,
    computed,
    contents,
    local,
    request,
)

pytestmark = pytest.mark.integration


async def test_every_day_of_the_dataset_has_a_ready_rollup(
    data_db: AsyncDatabase[Document],
) -> None:
    """Otherwise the roll-up runs below would silently group raw calls too."""
    rollups = await data_db[ROLLUPS].find({"tenant_id": TENANT}).to_list()
    assert sorted(doc["day"] for doc in rollups) == [
        "2025-05-11",
        "2025-05-12",
        "2025-05-13",
        "2025-05-20",
        "2025-06-08",
        "2025-06-09",
        "2025-06-10",
        "2025-06-11",
        "2025-06-12",
        "2025-06-13",
    ]
    assert {doc["state"] for doc in rollups} == {"ready"}


_UTC_DAY = {
    "start": datetime(2025, 6, 10, tzinfo=UTC),
    "end": datetime(2025, 6, 11, tzinfo=UTC),
    "timezone": "UTC",
}
_NOON_TO_NOON = {"start": local(6, 11, 12), "end": local(6, 12, 12)}
#: One report per query shape: (report, its request's arguments).
SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    # The calls grouping per local day: keys day, campaign, agent, team.
    "calls by campaign": ("campaign_summary", {}),
    "calls by team and agent, with sessions": ("team_performance", {}),
    "calls by agent and campaign": ("roi", {}),
    # Noon to noon: both days are grouped from their raw calls within the bounds.
    "calls of days the window cuts": ("campaign_summary", _NOON_TO_NOON),
    "hours of days the window cuts": ("hourly_activity", _NOON_TO_NOON),
    # Filters: `$in` on raw calls, kept cells on roll-ups.
    "campaign filter": ("campaign_summary", {"campaigns": ("c1", "c3")}),
    "agent filter": ("campaign_summary", {"agents": ("a3",)}),
    "agent filter on calls and sessions": ("agent_performance", {"agents": ("a2", "a4")}),
    # Sessions: whole local days; the agent filter applies, a campaign filter does not.
    "sessions": ("agent_time", {}),
    "sessions of one agent on one day": (
        "agent_time",
        {"start": local(6, 12), "end": local(6, 13), "agents": ("a3",)},
    ),
    "sessions under a campaign filter": ("agent_performance", {"campaigns": ("c3",)}),
    # Days the window cuts: each session's spans clipped to it (Chloe's), or whole.
    "sessions of days the window cuts": ("agent_time", _NOON_TO_NOON),
    "calls and sessions of days the window cuts": ("agent_performance", _NOON_TO_NOON),
    # The other groupings.
    "dispositions": ("disposition_summary", {}),
    "hours": ("hourly_activity", {}),
    "leads": ("list_penetration", {}),
    "hangups": ("hangup_causes", {}),
    "inbound queues (inbound calls only)": ("inbound_queues", {}),
    # The same grouping over an earlier span too.
    "rolling 30-day history": ("compliance", {"start": local(6, 12), "end": local(6, 13)}),
    "trailing 30 days cut at noon": ("campaign_summary", _NOON_TO_NOON),
    "trailing 24 hours": (
        "campaign_summary",
        {"compliance": TenantCompliance(abandon_period="24h", abandon_threshold_pct=20)},
    ),
    "previous period": ("executive_dashboard", {}),
    # The calls themselves, oldest first, in the schedule's zone.
    "call stream": ("cdr", {}),
    "call stream, filtered": ("cdr", {"campaigns": ("c3",), "agents": ("a4",)}),
    "call stream of a UTC day": ("cdr", _UTC_DAY),
}


@pytest.mark.parametrize(("report_id", "arguments"), list(SHAPES.values()), ids=list(SHAPES))
async def test_the_database_answers_as_the_dataset_in_memory(
    source: MongoSource, report_id: str, arguments: dict[str, Any]
) -> None:
    ask = request(report_id, **arguments)
    found = await contents(await source.fetch(ask))
    assert found == await contents(await computed(ask))
    assert found.tables[0][2], "the shape is checked on rows, not on an empty table"


@pytest.mark.parametrize(
    ("report_id", "campaigns", "agents"),
    [
        ("agent_time", ("c1",), ()),
        ("list_penetration", (), ("a1",)),
        ("compliance", (), ("a1",)),
        ("inbound_queues", (), ("a1",)),
        ("executive_dashboard", (), ("a1",)),
    ],
)
async def test_a_filter_the_report_does_not_accept_is_refused(
    data_db: AsyncDatabase[Document],
    report_id: str,
    campaigns: tuple[str, ...],
    agents: tuple[str, ...],
) -> None:
    source = MongoSource(data_db, BERLIN)
    ask = request(report_id, campaigns=campaigns, agents=agents)
    title = STANDARD_REPORTS[report_id]
    kind = "a campaign" if campaigns else "an agent"
    with pytest.raises(ReportUnavailable, match=f"{title} does not accept {kind} filter"):
        await source.fetch(ask)
