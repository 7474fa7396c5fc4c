"""The standard reports' registry against the contract's catalog, and figures from tiny inputs.

The registry (`REPORTS`) and the catalog the scheduler validates schedules with
are written separately (the contract cannot import a service); these tests keep
them identical. The rest computes reports from inputs small enough to read at a
glance: nothing at all, and the ratios whose denominator is zero.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from herald.services.renderer.calldata.groupings import CALLS, Cells, Grouped, add_calls
from herald.services.renderer.calldata.records import Agent, Call, CallStatus, Campaign, Team
from herald.services.renderer.reports.model import Figure, Row
from herald.services.renderer.reports.standard import REPORTS
from herald.services.renderer.reports.standard.definition import Inputs
from herald.shared.contract.catalog import REPORT_FILTERS, STANDARD_REPORTS
from herald.shared.contract.messages import DataWindow
from herald.shared.contract.schedule_spec import Filters
from tests.report_dataset import computed, contents, local, request

D = Decimal
Z = D("0.00")
UTC_ZONE = ZoneInfo("UTC")
UTC_DAY = DataWindow(
    start=datetime(2025, 6, 10, tzinfo=UTC), end=datetime(2025, 6, 11, tzinfo=UTC), timezone="UTC"
)


def test_the_registry_and_the_catalog_agree() -> None:
    assert {i: d.title for i, d in REPORTS.items()} == STANDARD_REPORTS
    assert {i: d.filters for i, d in REPORTS.items()} == REPORT_FILTERS
    assert all(report_id == d.id for report_id, d in REPORTS.items())


@pytest.mark.parametrize(
    ("report_id", "campaigns", "agents", "reason"),
    [
        ("agent_time", ["c1"], [], "Agent Time and Pauses does not accept a campaign filter"),
        ("list_penetration", [], ["a1"], "List Penetration does not accept an agent filter"),
        ("compliance", [], ["a1"], "Compliance and Abandonment does not accept an agent filter"),
        ("inbound_queues", [], ["a1"], "Inbound Queues does not accept an agent filter"),
        ("executive_dashboard", [], ["a1"], "Executive Dashboard does not accept an agent filter"),
        ("campaign_summary", ["c1"], ["a1"], None),
    ],
)
def test_a_report_refuses_the_filters_it_does_not_accept(
    report_id: str, campaigns: list[str], agents: list[str], reason: str | None
) -> None:
    refusals = REPORTS[report_id].refusals(Filters(campaign_ids=campaigns, agent_ids=agents))
    assert refusals == ([reason] if reason else [])


#: Over a day with no calls and no sessions: per table, its rows and totals.
EMPTY: dict[str, list[tuple[list[Row], Row | None]]] = {
    "campaign_summary": [
        ([], ("Total", 0, 0, 0, 0, 0, None, None, None, None, 0, None, D("0.0"), None)),
        ([], ("Total", 0, 0, 0, None, None, 0, None, D("0.0"), None)),
    ],
    "agent_performance": [([], ("Total", "", 0, 0, 0, 0, None, 0, None, None, None))],
    "agent_time": [([], ("Total", "", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None))],
    "team_performance": [([], ("Total", 0, 0, 0, 0, 0, None, 0, None, None, None))],
    "disposition_summary": [([], ("Total", 0, None, 0, None))],
    "hourly_activity": [([], ("Total", 0, 0, 0, 0, None))],
    "list_penetration": [([], ("Total", "", 0, 0, 0, 0, None, None))],
    "cdr": [([], None)],
    "compliance": [([], ("Total", None, 0, 0, None, None, None, 0, 0))],
    "hangup_causes": [([], ("Total", "", 0, None, None, Z))],
    "callbacks": [([], ("Total", 0, 0, 0, None))],
    "inbound_queues": [([], ("Total", 0, 0, 0, None, None, None))],
    "roi": [([], ("Total", 0, Z, Z, Z, Z, Z, None, None, None)), ([], None)],
    "executive_dashboard": [
        (
            [
                ("Calls", 0, 0, None),
                ("Contact rate %", None, None, None),
                ("Conversions", 0, 0, None),
                ("Revenue", Z, Z, None),
                ("Cost", Z, Z, None),
                ("Net", Z, Z, None),
                ("ROI %", None, None, None),
                ("Cost per acquisition", None, None, None),
                ("Active agents", 0, 0, None),
            ],
            None,
        ),
        ([], None),
    ],
}


def _values(row: Row) -> Row:
    """The row's figures, each `Figure` as its value (tests/unit/test_standard_reports.py
    checks the kinds they bring)."""
    return tuple(cell.value if isinstance(cell, Figure) else cell for cell in row)


@pytest.mark.parametrize("report_id", list(STANDARD_REPORTS))
async def test_a_window_without_data_gives_empty_tables_and_zero_totals(report_id: str) -> None:
    """10 January: no call, no session, and no history to roll a rate over."""
    data = await contents(await computed(request(report_id, local(1, 10), local(1, 11))))
    tables = [
        ([_values(row) for row in rows], totals) for _keys, _title, rows, totals in data.tables
    ]
    assert tables == EMPTY[report_id]
    assert len(data.tables) == len(REPORTS[report_id].layouts)


def _grouped(*calls: Call) -> Grouped:
    """The CALLS grouping of a few calls, as a report reads it."""
    cells: Cells = {}
    add_calls(CALLS, cells, [call.document(UTC_ZONE) for call in calls])
    return Grouped(CALLS, cells)


def _busy(call_id: str) -> Call:
    return Call(
        tenant_id="t",
        call_id=call_id,
        started_at=datetime(2025, 6, 10, 9, tzinfo=UTC),
        direction="outbound",
        campaign_id="c1",
        status=CallStatus.BUSY,
    )


def test_ratios_over_nothing_are_left_empty() -> None:
    """Two busy outbound calls: nothing answered or abandoned, so abandon %, conversion %
    and AHT have nothing to divide by; contact rate 0 / 2 = 0.0; talk 0 minutes. Read
    without its trailing period, the abandon rate over it and the flag are empty too; no
    inbound calls, no inbound rows."""
    campaign = Campaign(tenant_id="t", campaign_id="c1", name="Solar").document()
    grouped = _grouped(_busy("k1"), _busy("k2"))
    inputs = Inputs(UTC_DAY, UTC_ZONE, grouped, dimensions={Campaign: {"c1": campaign}})
    outbound, inbound = REPORTS["campaign_summary"].report(inputs).tables
    solar = (2, 0, 0, 2, 0, D("0.0"), None, None, None, 0, None, D("0.0"), None)
    assert outbound.rows == [("Solar", *solar)]
    assert outbound.totals == ("Total", *solar)
    assert inbound.rows == []


def test_an_agent_paused_all_session_has_no_occupancy() -> None:
    """Login 3600 s, all of it paused: 0 sales / 1 h = 0.0, occupancy 0 / (3600 - 3600)."""
    agent = Agent(tenant_id="t", agent_id="a1", name="Alice", team_id="t1").document()
    team = Team(tenant_id="t", team_id="t1", name="North").document()
    inputs = Inputs(
        UTC_DAY,
        UTC_ZONE,
        _grouped(),
        sessions={"a1": {"login_s": 3600, "pause_s": 3600}},
        dimensions={Agent: {"a1": agent}, Team: {"t1": team}},
    )
    (table,) = REPORTS["agent_performance"].report(inputs).tables
    idle = (0, 0, 0, 0, None, 0, None, D("0.0"), None)
    assert table.rows == [("Alice", "North", *idle)]
    assert table.totals == ("Total", "", *idle)


@pytest.mark.parametrize("report_id", list(STANDARD_REPORTS))
async def test_every_row_fills_its_tables_columns(report_id: str) -> None:
    data = await contents(await computed(request(report_id)))
    for keys, _title, rows, totals in data.tables:
        assert rows
        assert all(len(row) == len(keys) for row in [*rows, *([totals] if totals else [])])
