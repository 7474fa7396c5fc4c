"""Service to callers: abandonment against the regulator's ceiling, and inbound queues."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from herald.services.renderer.calldata.days import day_bounds, slices
from herald.services.renderer.calldata.groupings import CALLS, QUEUES, Key, Sums
from herald.services.renderer.calldata.records import Campaign
from herald.services.renderer.reports.figures import pct, ratio
from herald.services.renderer.reports.model import ChartKind, Column, Row
from herald.services.renderer.reports.model import ColumnKind as K
from herald.services.renderer.reports.standard.charting import DailyTrend, TableChart
from herald.services.renderer.reports.standard.definition import (
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
)
from herald.shared.contract.messages import DataWindow

#: The rolling abandon rate covers the day and this many before it.
ROLLING_DAYS = 30

# -- 9. Compliance and Abandonment ----------------------------------------------------------


def _rolling_history(window: DataWindow, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The days before the window that its first day's rolling rate reaches back to."""
    if window.end <= window.start:
        return window.start, window.start
    first_day = slices(window.start, window.end, zone)[0].day
    return day_bounds(first_day - timedelta(days=ROLLING_DAYS - 1), zone)[0], window.start


def _abandon_figures(s: Sums) -> Row:
    answered, abandoned = s["answered"], s["abandoned"]
    return (answered, abandoned, pct(abandoned, answered + abandoned))


def _compliance(inputs: Inputs) -> Computed:
    current = inputs.cells.fold("campaign_id", "day")
    both: dict[Key, Sums] = {}
    for fold in (current, inputs.earlier_cells.fold("campaign_id", "day")):
        for key, sums in fold.items():
            both[key] = add([both.get(key, {}), sums])
    campaigns = inputs.dimensions[Campaign]
    rows: list[Row] = []
    for (campaign_id, day), s in current.items():
        since = (date.fromisoformat(day) - timedelta(days=ROLLING_DAYS - 1)).isoformat()
        rolling = add([v for (c, d), v in both.items() if c == campaign_id and since <= d <= day])
        live = rolling["answered"] + rolling["abandoned"]
        campaign = campaigns.get(campaign_id, {})
        threshold = Decimal(str(campaign.get("abandon_threshold_pct", 3.0)))
        # Compared unrounded: 3.04 % is over a 3 % ceiling even though it shows as 3.0.
        over = live > 0 and 100 * rolling["abandoned"] > threshold * live
        rows.append(
            (
                str(campaign.get("name", campaign_id)),
                date.fromisoformat(day),
                *_abandon_figures(s),
                pct(rolling["abandoned"], live),
                over,
                s["outside_hours"],
                s["dnc_hit"],
            )
        )
    total = add(list(current.values())) or NO_CALLS
    totals = (
        "Total",
        None,
        *_abandon_figures(total),
        None,
        None,
        total["outside_hours"],
        total["dnc_hit"],
    )
    return Computed((Figures(rows, totals),))


COMPLIANCE = ReportDefinition(
    id="compliance",
    title="Compliance and Abandonment",
    filters=CAMPAIGN_ONLY,
    layouts=(
        Layout(
            (
                Column("campaign", "Campaign"),
                Column("day", "Day", K.DATE),
                Column("answered", "Answered", K.INTEGER),
                Column("abandoned", "Abandoned", K.INTEGER),
                Column("abandon_pct", "Abandon %", K.PERCENT),
                Column("rolling_abandon_pct", "Rolling 30-day abandon %", K.PERCENT),
                Column("over_threshold", "Over threshold", K.FLAG),
                Column("outside_hours", "Calls outside permitted hours", K.INTEGER),
                Column("dnc_hits", "DNC hits", K.INTEGER),
            )
        ),
    ),
    reads=Reads(CALLS, earlier=_rolling_history, dimensions=(Campaign,)),
    compute=_compliance,
    charts=(
        DailyTrend(
            "Answered and abandoned calls per day",
            (("Answered", "answered"), ("Abandoned", "abandoned")),
            "calls",
        ),
    ),
)

# -- 12. Inbound Queues -------------------------------------------------------------------


def _queue_figures(name: str, cells: list[tuple[int, Sums]]) -> Row:
    """A queue's figures from its cells by wait, the longest wait being the largest key."""
    s = add([sums for _wait, sums in cells]) or dict.fromkeys(QUEUES.sums, 0)
    longest = max((wait for wait, sums in cells if sums["calls"]), default=None)
    return (
        name,
        s["calls"],
        s["answered"],
        s["abandoned"],
        pct(s["within_sl"], s["calls"]),
        ratio(s["answer_wait_s"], s["answered"]),
        longest,
    )


def _inbound_queues(inputs: Inputs) -> Computed:
    queues: dict[Any, list[tuple[int, Sums]]] = {}
    for (queue_id, wait), sums in inputs.cells.fold("queue_id", "wait_s").items():
        queues.setdefault(queue_id, []).append((wait, sums))
    rows = [_queue_figures(q or "(none)", cells) for q, cells in queues.items()]
    totals = _queue_figures("Total", [cell for cells in queues.values() for cell in cells])
    return Computed((Figures(rows, totals),))


INBOUND_QUEUES = ReportDefinition(
    id="inbound_queues",
    title="Inbound Queues",
    filters=CAMPAIGN_ONLY,
    layouts=(
        Layout(
            (
                Column("queue", "Queue"),
                Column("offered", "Offered", K.INTEGER),
                Column("answered", "Answered", K.INTEGER),
                Column("abandoned", "Abandoned", K.INTEGER),
                Column("service_level_pct", "Service level % (20 s)", K.PERCENT),
                Column("asa", "Average speed of answer", K.DURATION),
                Column("longest_wait", "Longest wait", K.DURATION),
            )
        ),
    ),
    reads=Reads(QUEUES),
    compute=_inbound_queues,
    metrics=(
        Metric("offered", None),
        Metric("answered"),
        Metric("abandoned", up_is_good=False),
        Metric("service_level_pct"),
    ),
    charts=(
        TableChart(
            "Calls by queue",
            ChartKind.BARS,
            (("Offered", "offered"), ("Answered", "answered")),
            unit="calls",
        ),
    ),
)

DEFINITIONS = (COMPLIANCE, INBOUND_QUEUES)
