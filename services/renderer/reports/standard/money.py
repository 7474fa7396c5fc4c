"""Money: what campaigns and agents earn against what they cost, now and the period before."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from herald.services.renderer.calldata.groupings import CALLS, Document, Grouped, Sums
from herald.services.renderer.calldata.records import Agent, Campaign
from herald.services.renderer.reports import periods
from herald.services.renderer.reports.chart import ChartKind
from herald.services.renderer.reports.figures import change_pct, labour_cents, money, pct
from herald.services.renderer.reports.model import Column, Figure, Headline, Row
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
from herald.shared.contract.tenant_settings import TenantCompliance


@dataclass(frozen=True, slots=True)
class _Money:
    """The money side of a set of calls, in cents. Labour is exact, fractions of a cent and
    all (`labour_cents`), and so are the costs and net it is in: a total adds up its parts
    unrounded, and each figure is rounded once, where it is shown."""

    sales: int
    revenue: int
    call_cost: int
    labour: Fraction

    @property
    def total_cost(self) -> Fraction:
        return self.call_cost + self.labour

    @property
    def net(self) -> Fraction:
        return self.revenue - self.total_cost

    @property
    def roi_pct(self) -> Decimal | None:
        return pct(self.net, self.total_cost)

    @property
    def cost_per_acquisition(self) -> Decimal | None:
        return None if not self.sales else money(self.total_cost / self.sales)

    def figures(self) -> Row:
        return (
            self.sales,
            money(self.revenue),
            money(self.call_cost),
            money(self.labour),
            money(self.total_cost),
            money(self.net),
            self.roi_pct,
            self.cost_per_acquisition,
        )


def _money(s: Sums, rate_cents: int) -> _Money:
    labour = labour_cents(s["handle_s"], rate_cents)
    return _Money(s["sale"], s["revenue_cents"], s["cost_cents"], labour)


def _add(parts: list[_Money]) -> _Money:
    return _Money(
        sum(p.sales for p in parts),
        sum(p.revenue for p in parts),
        sum(p.call_cost for p in parts),
        sum((p.labour for p in parts), Fraction(0)),
    )


_MONEY_COLUMNS = (
    Column("sales", "Sales", K.INTEGER, summed=True),
    Column("revenue", "Revenue", K.MONEY, summed=True),
    Column("call_cost", "Call cost", K.MONEY, summed=True),
    Column("labour_cost", "Labour cost", K.MONEY, summed=True),
    Column("total_cost", "Total cost", K.MONEY, summed=True),
    Column("net", "Net", K.MONEY, summed=True),
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


def _previous_period(
    window: DataWindow, zone: ZoneInfo, _compliance: TenantCompliance
) -> tuple[datetime, datetime]:
    """The calendar period before the window: October before November (`periods.py`)."""
    return periods.previous_period(window, zone)


def _headline(period: _Period) -> list[int | Decimal | None]:
    sums = add(list(period.sums.values())) or NO_CALLS
    total = period.total
    return [
        sums["calls"],
        pct(sums["answered"], sums["calls"]),
        sums["sale"],
        money(total.revenue),
        money(total.total_cost),
        money(total.net),
        total.roi_pct,
        total.cost_per_acquisition,
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
    # Each figure shown by its own kind (54.5 %, 1,300.00), not by the column it is in.
    headlines = [
        (column.label, Figure(column, this), Figure(column, previous), change_pct(this, previous))
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
                part.roi_pct,
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
                # Figures of several kinds: each cell a `Figure` that reads by its own.
                Column("this_period", "This period", K.DECIMAL),
                Column("previous_period", "Previous period", K.DECIMAL),
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
