"""Service to callers: abandonment against the regulator's ceiling, and inbound queues."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from herald.services.renderer.calldata.days import day_bounds, slices
from herald.services.renderer.calldata.groupings import CALLS, QUEUES, Key, Sums
from herald.services.renderer.calldata.records import Campaign
from herald.services.renderer.reports.chart import ChartKind
from herald.services.renderer.reports.figures import average_s, pct
from herald.services.renderer.reports.model import Column, Row
from herald.services.renderer.reports.model import ColumnKind as K
from herald.services.renderer.reports.standard import abandonment
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
    label,
)
from herald.shared.contract.messages import DataWindow
from herald.shared.contract.tenant_settings import TenantCompliance

# -- 9. Compliance and Abandonment ----------------------------------------------------------


def _rolling_history(
    window: DataWindow, zone: ZoneInfo, compliance: TenantCompliance
) -> tuple[datetime, datetime]:
    """The days before the window that its first day's trailing rate reaches back to."""
    if window.end <= window.start:
        return window.start, window.start
    first_day = slices(window.start, window.end, zone)[0].day
    back = abandonment.days(compliance) - 1
    return day_bounds(first_day - timedelta(days=back), zone)[0], window.start


def _compliance(inputs: Inputs) -> Computed:
    compliance = inputs.compliance
    current = abandonment.outbound(inputs.cells, "campaign_id", "day")
    both: dict[Key, Sums] = {}
    for fold in (current, abandonment.outbound(inputs.earlier_cells, "campaign_id", "day")):
        for key, sums in fold.items():
            both[key] = add([both.get(key, {}), sums])
    names = inputs.names(Campaign)
    back = timedelta(days=abandonment.days(compliance) - 1)
    rows: list[Row] = []
    for (campaign_id, day), s in current.items():
        since = (date.fromisoformat(day) - back).isoformat()
        trailing = add([v for (c, d), v in both.items() if c == campaign_id and since <= d <= day])
        rows.append(
            (
                label(names, campaign_id),
                date.fromisoformat(day),
                s["answered"],
                s["abandoned"],
                abandonment.rate(s),
                abandonment.rate(trailing),
                abandonment.flag(trailing, compliance),
                s["outside_hours"],
                s["dnc_hit"],
            )
        )
    total = add(list(current.values())) or NO_CALLS
    totals = (
        "Total",
        None,
        total["answered"],
        total["abandoned"],
        abandonment.rate(total),
        None,
        None,
        total["outside_hours"],
        total["dnc_hit"],
    )
    period = abandonment.period(compliance)
    note = (
        f"Outbound calls only, per campaign and day (local to {inputs.zone.key}, the zone calls "
        f"are recorded in). Abandon % = abandoned / (answered + abandoned): of the calls a "
        f"person answered, those no agent took. Trailing: the same over "
        + ("the day and the 29 before it" if period == "30 days" else "the day alone")
        + f" ({period}); flagged when above {abandonment.ceiling(compliance)} %."
    )
    return Computed((Figures(rows, totals),), (note,))


COMPLIANCE = ReportDefinition(
    id="compliance",
    title="Compliance and Abandonment",
    filters=CAMPAIGN_ONLY,
    layouts=(
        Layout(
            (
                Column("campaign", "Campaign"),
                Column("day", "Day", K.DATE),
                Column("answered", "Answered", K.INTEGER, summed=True),
                Column("abandoned", "Abandoned", K.INTEGER, summed=True),
                Column("abandon_pct", "Abandon %", K.PERCENT),
                Column("period_abandon_pct", "Abandon %, trailing period", K.PERCENT),
                Column("flag", "Flag"),
                Column("outside_hours", "Calls outside permitted hours", K.INTEGER, summed=True),
                Column("dnc_hits", "DNC hits", K.INTEGER, summed=True),
            ),
            first=("day", "period_abandon_pct", "flag"),
        ),
    ),
    reads=Reads(CALLS, earlier=_rolling_history, dimensions=(Campaign,)),
    compute=_compliance,
    charts=(
        DailyTrend(
            "Outbound answered and abandoned calls per day",
            (("Answered", "answered"), ("Abandoned", "abandoned")),
            "calls",
            only=("inbound", 0),
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
        average_s(s["answer_wait_s"], s["answered"]),
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
                Column("offered", "Offered", K.INTEGER, summed=True),
                Column("answered", "Answered", K.INTEGER, summed=True),
                Column("abandoned", "Abandoned", K.INTEGER, summed=True),
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
