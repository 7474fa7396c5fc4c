"""Money: what campaigns and agents earn against what they cost, now and the period before."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from herald.services.renderer.calldata.groupings import CALLS, Document, Grouped, Sums
from herald.services.renderer.calldata.records import Agent, Campaign
from herald.services.renderer.reports import periods
from herald.services.renderer.reports.figures import change_pct, labour_cents, money, pct
from herald.services.renderer.reports.model import Cell, ChartKind, Column, Headline, Row
from herald.services.renderer.reports.model import ColumnKind as K
from herald.services.renderer.reports.standard.charting import DailyTrend, TableChart
from herald.services.renderer.reports.standard.definition import (
    BOTH,
    CAMPAIGN_ONLY,
    NO_CALLS,
    Computed,
    Figures,
    Inputs,
    Layout,
    Metric,
    Reads,
    ReportDefinition,
    add,
    label,
)
from herald.shared.contract.messages import DataWindow


@dataclass(frozen=True, slots=True)
class _Money:
    """The money side of a set of calls, in cents."""

    sales: int
    revenue: int
    call_cost: int
    labour: int

    @property
    def total_cost(self) -> int:
        return self.call_cost + self.labour

    @property
    def net(self) -> int:
        return self.revenue - self.total_cost

    def figures(self) -> Row:
        return (
            self.sales,
            money(self.revenue),
            money(self.call_cost),
            money(self.labour),
            money(self.total_cost),
            money(self.net),
            pct(self.net, self.total_cost),
            None if not self.sales else money(Decimal(self.total_cost) / self.sales),
        )


def _money(s: Sums, rate_cents: int) -> _Money:
    labour = labour_cents(s["handle_s"], rate_cents)
    return _Money(s["sale"], s["revenue_cents"], s["cost_cents"], labour)


def _add(parts: list[_Money]) -> _Money:
    return _Money(
        sum(p.sales for p in parts),
        sum(p.revenue for p in parts),
        sum(p.call_cost for p in parts),
        sum(p.labour for p in parts),
    )


_MONEY_COLUMNS = (
    Column("sales", "Sales", K.INTEGER),
    Column("revenue", "Revenue", K.MONEY),
    Column("call_cost", "Call cost", K.MONEY),
    Column("labour_cost", "Labour cost", K.MONEY),
    Column("total_cost", "Total cost", K.MONEY),
    Column("net", "Net", K.MONEY),
    Column("roi_pct", "ROI %", K.PERCENT),
    Column("cpa", "Cost per acquisition", K.MONEY),
)
_READS = Reads(CALLS, dimensions=(Campaign, Agent))


@dataclass(frozen=True, slots=True)
class _Period:
    """Per campaign: the sums, the money and the agents with a handled call."""

    sums: dict[str, Sums]
    money: dict[str, _Money]
    agents: dict[str, set[str]]

    @property
    def total(self) -> _Money:
        return _add(list(self.money.values()))

    @property
    def all_agents(self) -> set[str]:
        return set().union(*self.agents.values()) if self.agents else set()


def _period(grouped: Grouped, campaigns: Mapping[str, Document]) -> _Period:
    by_campaign = {k[0]: s for k, s in grouped.fold("campaign_id").items()}
    agents: dict[str, set[str]] = {}
    for (campaign_id, agent_id), s in grouped.fold("campaign_id", "agent_id").items():
        if agent_id is not None and s["answered"]:
            agents.setdefault(campaign_id, set()).add(agent_id)
    money_of = {c: _money(s, _hourly_rate(campaigns, c)) for c, s in by_campaign.items()}
    return _Period(by_campaign, money_of, agents)


def _hourly_rate(campaigns: Mapping[str, Document], campaign_id: str) -> int:
    """The campaign's cost per agent hour, in cents (0 when the campaign is unknown)."""
    return int(campaigns.get(campaign_id, {}).get("cost_per_agent_hour_cents", 0))


# -- 13. ROI Report -----------------------------------------------------------------------


def _per_agent(revenue_cents: int, agents: set[str]) -> Decimal | None:
    return money(Decimal(revenue_cents) / len(agents)) if agents else None


def _roi(inputs: Inputs) -> Computed:
    campaigns = inputs.dimensions[Campaign]
    period = _period(inputs.cells, campaigns)
    names = inputs.names(Campaign)
    rows: list[Row] = []
    for campaign_id, part in period.money.items():
        per_agent = _per_agent(part.revenue, period.agents.get(campaign_id, set()))
        rows.append((label(names, campaign_id), *part.figures(), per_agent))
    total = period.total
    totals = ("Total", *total.figures(), _per_agent(total.revenue, period.all_agents))
    agent_names = inputs.names(Agent)
    agent_rows: list[Row] = []
    for (agent_id, campaign_id), s in inputs.cells.fold("agent_id", "campaign_id").items():
        if agent_id is None:
            continue
        part = _money(s, _hourly_rate(campaigns, campaign_id))
        agent_rows.append(
            (label(agent_names, agent_id), label(names, campaign_id), *part.figures())
        )
    return Computed((Figures(rows, totals), Figures(agent_rows)))


ROI = ReportDefinition(
    id="roi",
    title="ROI Report",
    filters=BOTH,
    layouts=(
        Layout(
            (
                Column("campaign", "Campaign"),
                *_MONEY_COLUMNS,
                Column("revenue_per_agent", "Revenue per agent", K.MONEY),
            ),
            title="By campaign",
        ),
        Layout(
            (Column("agent", "Agent"), Column("campaign", "Campaign"), *_MONEY_COLUMNS),
            title="By agent",
        ),
    ),
    reads=_READS,
    compute=_roi,
    metrics=(
        Metric("revenue"),
        Metric("total_cost", up_is_good=False),
        Metric("net"),
        Metric("roi_pct"),
        Metric("cpa", up_is_good=False),
    ),
    charts=(TableChart("Net by campaign", ChartKind.BARS, (("Net", "net"),)),),
)

# -- 14. Executive Dashboard ----------------------------------------------------------------


def _previous_period(window: DataWindow, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar period before the window: October before November (`periods.py`)."""
    return periods.previous_period(window, zone)


def _headline(period: _Period) -> list[Cell]:
    sums = add(list(period.sums.values())) or NO_CALLS
    total = period.total
    return [
        sums["calls"],
        pct(sums["answered"], sums["calls"]),
        sums["sale"],
        money(total.revenue),
        money(total.total_cost),
        money(total.net),
        pct(total.net, total.total_cost),
        None if not total.sales else money(Decimal(total.total_cost) / total.sales),
        len(period.all_agents),
    ]


#: Each headline figure: its column (how it reads), which way is good, and whether it is a tile.
_HEADLINES: tuple[tuple[Column, bool | None, bool], ...] = (
    (Column("calls", "Calls", K.INTEGER), None, True),
    (Column("contact_rate", "Contact rate %", K.PERCENT), True, True),
    (Column("conversions", "Conversions", K.INTEGER), True, True),
    (Column("revenue", "Revenue", K.MONEY), True, True),
    (Column("cost", "Cost", K.MONEY), False, False),
    (Column("net", "Net", K.MONEY), True, True),
    (Column("roi_pct", "ROI %", K.PERCENT), True, True),
    (Column("cpa", "Cost per acquisition", K.MONEY), False, False),
    (Column("agents", "Active agents", K.INTEGER), None, False),
)


def _executive_dashboard(inputs: Inputs) -> Computed:
    campaigns = inputs.dimensions[Campaign]
    now = _period(inputs.cells, campaigns)
    before = _period(inputs.earlier_cells, campaigns)
    figures = list(zip(_HEADLINES, _headline(now), _headline(before), strict=True))
    headlines = [
        (column.label, this, previous, change_pct(this, previous))  # type: ignore[arg-type]
        for (column, _, _), this, previous in figures
    ]
    tiles = tuple(
        Headline(column.label, column, this, previous, up_is_good)
        for (column, up_is_good, tile), this, previous in figures
        if tile
    )
    campaign_rows: list[Row] = []
    for campaign_id, s in now.sums.items():
        part = now.money[campaign_id]
        campaign_rows.append(
            (
                str(campaigns.get(campaign_id, {}).get("name", campaign_id)),
                s["calls"],
                pct(s["answered"], s["calls"]),
                s["sale"],
                money(part.revenue),
                money(part.total_cost),
                money(part.net),
                pct(part.net, part.total_cost),
            )
        )
    note = periods.describe(inputs.window, inputs.zone)
    return Computed((Figures(headlines), Figures(campaign_rows)), (note,), tiles)


EXECUTIVE_DASHBOARD = ReportDefinition(
    id="executive_dashboard",
    title="Executive Dashboard",
    filters=CAMPAIGN_ONLY,
    layouts=(
        Layout(
            (
                Column("metric", "Metric"),
                Column("this_period", "This period", K.DECIMAL, decimals=2),
                Column("previous_period", "Previous period", K.DECIMAL, decimals=2),
                Column("change_pct", "Change %", K.PERCENT),
            ),
            title="Headline figures",
        ),
        Layout(
            (
                Column("campaign", "Campaign"),
                Column("calls", "Calls", K.INTEGER),
                Column("contact_rate", "Contact rate %", K.PERCENT),
                Column("conversions", "Conversions", K.INTEGER),
                Column("revenue", "Revenue", K.MONEY),
                Column("cost", "Cost", K.MONEY),
                Column("net", "Net", K.MONEY),
                Column("roi_pct", "ROI %", K.PERCENT),
            ),
            title="By campaign",
        ),
    ),
    reads=Reads(CALLS, earlier=_previous_period, dimensions=(Campaign,)),
    compute=_executive_dashboard,
    charts=(
        DailyTrend("Calls per day", (("Calls", "calls"), ("Answered", "answered")), "calls"),
        DailyTrend("Conversions per day", (("Conversions", "sale"),), "sales"),
        TableChart("Net by campaign", ChartKind.BARS, (("Net", "net"),), table=1),
    ),
)

DEFINITIONS = (ROI, EXECUTIVE_DASHBOARD)
