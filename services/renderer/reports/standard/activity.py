"""What became of the calls: by campaign, disposition, hour, carrier and cause, and list."""

from __future__ import annotations

from herald.services.renderer.calldata.groupings import (
    CALLS,
    DISPOSITIONS,
    HANGUPS,
    HOURS,
    LEADS,
    Sums,
)
from herald.services.renderer.calldata.records import CallList, Campaign
from herald.services.renderer.reports.figures import minutes, money, pct, ratio
from herald.services.renderer.reports.model import ChartKind, Column, Row
from herald.services.renderer.reports.model import ColumnKind as K
from herald.services.renderer.reports.standard.charting import DailyTrend, TableChart
from herald.services.renderer.reports.standard.definition import (
    BOTH,
    CAMPAIGN_ONLY,
    Computed,
    Figures,
    Inputs,
    Layout,
    Metric,
    Reads,
    ReportDefinition,
    label,
)

# -- 1. Campaign Summary ------------------------------------------------------------------


def _campaign_figures(name: str, s: Sums) -> Row:
    live = s["answered"] + s["abandoned"]
    return (
        name,
        s["calls"],
        s["answered"],
        s["no_answer"],
        s["busy_failed"],
        s["abandoned"],
        pct(s["abandoned"], live),
        pct(s["answered"], s["calls"]),
        s["sale"],
        pct(s["sale"], s["answered"]),
        minutes(s["talk_s"]),
        ratio(s["handle_s"], s["answered"]),
    )


def _campaign_summary(inputs: Inputs) -> Computed:
    names = inputs.names(Campaign)
    rows = [
        _campaign_figures(label(names, key[0]), sums)
        for key, sums in inputs.cells.fold("campaign_id").items()
    ]
    return Computed((Figures(rows, _campaign_figures("Total", inputs.cells.total())),))


CAMPAIGN_SUMMARY = ReportDefinition(
    id="campaign_summary",
    title="Campaign Summary",
    filters=BOTH,
    layouts=(
        Layout(
            (
                Column("campaign", "Campaign"),
                Column("dialed", "Dialed", K.INTEGER),
                Column("answered", "Answered", K.INTEGER),
                Column("no_answer", "No answer", K.INTEGER),
                Column("busy_failed", "Busy/failed", K.INTEGER),
                Column("abandoned", "Abandoned", K.INTEGER),
                Column("abandon_pct", "Abandon %", K.PERCENT),
                Column("contact_rate", "Contact rate %", K.PERCENT),
                Column("conversions", "Conversions", K.INTEGER),
                Column("conversion_pct", "Conversion %", K.PERCENT),
                Column("talk_minutes", "Talk minutes", K.DECIMAL),
                Column("aht", "AHT", K.DURATION),
            )
        ),
    ),
    reads=Reads(CALLS, dimensions=(Campaign,)),
    compute=_campaign_summary,
    metrics=(
        Metric("dialed", None),
        Metric("answered"),
        Metric("abandon_pct", up_is_good=False),
        Metric("contact_rate"),
        Metric("conversions"),
    ),
    charts=(
        DailyTrend("Calls per day", (("Dialed", "calls"), ("Answered", "answered")), "calls"),
        TableChart(
            "Conversions by campaign",
            ChartKind.BARS,
            (("Conversions", "conversions"),),
            unit="sales",
        ),
    ),
)

# -- 5. Disposition Summary ---------------------------------------------------------------


def _disposition_summary(inputs: Inputs) -> Computed:
    total = inputs.cells.total()

    def figures(name: str, s: Sums) -> Row:
        share = pct(s["calls"], total["calls"])
        return (name, s["calls"], share, s["handle_s"], ratio(s["handle_s"], s["calls"]))

    folded = inputs.cells.fold("disposition")
    rows = [figures(key[0] or "(none)", sums) for key, sums in folded.items()]
    return Computed((Figures(rows, figures("Total", total)),))


DISPOSITION_SUMMARY = ReportDefinition(
    id="disposition_summary",
    title="Disposition Summary",
    filters=BOTH,
    layouts=(
        Layout(
            (
                Column("disposition", "Disposition"),
                Column("calls", "Calls", K.INTEGER),
                Column("share_pct", "Share %", K.PERCENT),
                Column("total_time", "Total time", K.DURATION),
                Column("average_time", "Average time", K.DURATION),
            )
        ),
    ),
    reads=Reads(DISPOSITIONS),
    compute=_disposition_summary,
    metrics=(Metric("calls", None),),
    charts=(
        TableChart("Calls by disposition", ChartKind.SHARE, (("Calls", "calls"),), unit="calls"),
    ),
)

# -- 6. Hourly Activity -------------------------------------------------------------------


def _hour_figures(name: str, s: Sums) -> Row:
    average_wait = ratio(s["wait_s"], s["answered"] + s["abandoned"])
    return (name, s["calls"], s["answered"], s["abandoned"], s["sale"], average_wait)


def _hourly_activity(inputs: Inputs) -> Computed:
    folded = inputs.cells.fold("hour")
    rows = [_hour_figures(f"{key[0]:02d}:00", sums) for key, sums in folded.items()]
    note = f"Hours are local to {inputs.zone.key}, the zone calls are recorded in."
    return Computed((Figures(rows, _hour_figures("Total", inputs.cells.total())),), (note,))


HOURLY_ACTIVITY = ReportDefinition(
    id="hourly_activity",
    title="Hourly Activity",
    filters=BOTH,
    layouts=(
        Layout(
            (
                Column("hour", "Hour"),
                Column("dialed", "Dialed", K.INTEGER),
                Column("answered", "Answered", K.INTEGER),
                Column("abandoned", "Abandoned", K.INTEGER),
                Column("conversions", "Conversions", K.INTEGER),
                Column("average_wait", "Average wait", K.DURATION),
            )
        ),
    ),
    reads=Reads(HOURS),
    compute=_hourly_activity,
    metrics=(
        Metric("dialed", None),
        Metric("answered"),
        Metric("abandoned", up_is_good=False),
        Metric("conversions"),
    ),
    charts=(
        TableChart(
            "Calls by hour of day",
            ChartKind.BARS,
            (("Dialed", "dialed"), ("Answered", "answered")),
            unit="calls",
            ranked=False,
        ),
    ),
)

# -- 7. List Penetration ------------------------------------------------------------------


def _penetration_figures(size: int, counts: list[int]) -> Row:
    dialed, contacted, converted, calls = counts
    return (size, dialed, contacted, converted, pct(dialed, size), ratio(calls, dialed))


def _list_penetration(inputs: Inputs) -> Computed:
    leads = inputs.cells.fold("list_id", "lead_id", ordered=False)
    lists = inputs.dimensions[CallList]
    campaigns = inputs.names(Campaign)
    # Per list: leads dialed, contacted, converted, and calls.
    per_list: dict[str, list[int]] = {}
    for (list_id, _lead), s in leads.items():
        if list_id is None:
            continue
        counts = per_list.setdefault(list_id, [0, 0, 0, 0])
        counts[0] += 1
        counts[1] += s["answered"] > 0
        counts[2] += s["sale"] > 0
        counts[3] += s["calls"]
    rows: list[Row] = []
    for list_id in sorted(per_list):
        found = lists.get(list_id, {})
        campaign = label(campaigns, found.get("campaign_id"))
        size = int(found.get("size", 0))
        figures = _penetration_figures(size, per_list[list_id])
        rows.append((str(found.get("name", list_id)), campaign, *figures))
    sizes = sum(int(lists.get(list_id, {}).get("size", 0)) for list_id in per_list)
    sums = [sum(c[i] for c in per_list.values()) for i in range(4)]
    return Computed((Figures(rows, ("Total", "", *_penetration_figures(sizes, sums))),))


LIST_PENETRATION = ReportDefinition(
    id="list_penetration",
    title="List Penetration",
    filters=CAMPAIGN_ONLY,
    layouts=(
        Layout(
            (
                Column("list", "List"),
                Column("campaign", "Campaign"),
                Column("leads", "Leads", K.INTEGER),
                Column("dialed", "Dialed", K.INTEGER),
                Column("contacted", "Contacted", K.INTEGER),
                Column("converted", "Converted", K.INTEGER),
                Column("penetration_pct", "Penetration %", K.PERCENT),
                Column("attempts_per_lead", "Attempts per lead", K.DECIMAL),
            )
        ),
    ),
    reads=Reads(LEADS, dimensions=(CallList, Campaign)),
    compute=_list_penetration,
    metrics=(
        Metric("dialed", None),
        Metric("contacted"),
        Metric("converted"),
        Metric("penetration_pct"),
    ),
    charts=(
        TableChart(
            "Penetration by list", ChartKind.BARS, (("Penetration", "penetration_pct"),), unit="%"
        ),
    ),
)

# -- 10. Hangup Causes and Carriers ----------------------------------------------------------


def _hangup_causes(inputs: Inputs) -> Computed:
    total = inputs.cells.total()

    def figures(carrier: str, cause: str, s: Sums) -> Row:
        share = pct(s["calls"], total["calls"])
        average = ratio(s["duration_s"], s["calls"])
        return (carrier, cause, s["calls"], share, average, money(s["cost_cents"]))

    folded = inputs.cells.fold("carrier", "hangup_cause")
    rows = [figures(key[0] or "(none)", key[1] or "(none)", s) for key, s in folded.items()]
    return Computed((Figures(rows, figures("Total", "", total)),))


HANGUP_CAUSES = ReportDefinition(
    id="hangup_causes",
    title="Hangup Causes and Carriers",
    filters=BOTH,
    layouts=(
        Layout(
            (
                Column("carrier", "Carrier"),
                Column("cause", "Hangup cause"),
                Column("calls", "Calls", K.INTEGER),
                Column("share_pct", "Share %", K.PERCENT),
                Column("average_duration", "Average duration", K.DURATION),
                Column("cost", "Cost", K.MONEY),
            )
        ),
    ),
    reads=Reads(HANGUPS),
    compute=_hangup_causes,
    metrics=(Metric("calls", None), Metric("cost", up_is_good=False)),
    charts=(
        TableChart(
            "Calls by carrier and cause",
            ChartKind.SHARE,
            (("Calls", "calls"),),
            unit="calls",
            label_columns=2,
        ),
    ),
)

DEFINITIONS = (
    CAMPAIGN_SUMMARY,
    DISPOSITION_SUMMARY,
    HOURLY_ACTIVITY,
    LIST_PENETRATION,
    HANGUP_CAUSES,
)
