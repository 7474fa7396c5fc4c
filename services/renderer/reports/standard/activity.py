"""What became of the calls: by campaign, disposition, hour, carrier and cause, and list."""

from __future__ import annotations

from dataclasses import dataclass

from herald.services.renderer.calldata.groupings import (
    CALLS,
    DISPOSITIONS,
    HANGUPS,
    HOURS,
    LEADS,
    Key,
    Sums,
)
from herald.services.renderer.calldata.records import SERVICE_LEVEL_S, CallList, Campaign
from herald.services.renderer.reports.chart import ChartKind
from herald.services.renderer.reports.figures import average_s, minutes, money, pct, ratio
from herald.services.renderer.reports.model import Column, Row
from herald.services.renderer.reports.model import ColumnKind as K
from herald.services.renderer.reports.standard import abandonment
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
    label,
)
from herald.shared.contract.tenant_settings import TenantCompliance

# -- 1. Campaign Summary ------------------------------------------------------------------


def _handled(s: Sums) -> Row:
    """What the answered calls came to: conversions, talk and handle time."""
    return (
        s["sale"],
        pct(s["sale"], s["answered"]),
        minutes(s["talk_s"]),
        average_s(s["handle_s"], s["answered"]),
    )


@dataclass(frozen=True, slots=True)
class _Summary:
    """How a campaign's figures are worked out for this report.

    `trailing`: outbound sums per campaign over the trailing period; None for the
    previous period's inputs (the tiles), which do not read it. `abandons` is False
    under an agent filter: abandoned calls reach no agent, so an agent's abandon rate
    would always read 0 and is left empty instead.
    """

    compliance: TenantCompliance
    trailing: dict[Key, Sums] | None
    abandons: bool

    def outbound(self, name: str, s: Sums, campaign_id: str | None = None) -> Row:
        period = None
        if self.trailing is not None and self.abandons and campaign_id is not None:
            period = self.trailing.get((campaign_id,), NO_CALLS)
        return (
            name,
            s["calls"],
            s["answered"],
            s["no_answer"],
            s["busy_failed"],
            s["abandoned"],
            pct(s["answered"], s["calls"]),
            abandonment.rate(s) if self.abandons else None,
            None if period is None else abandonment.rate(period),
            None if period is None else abandonment.flag(period, self.compliance),
            *_handled(s),
        )

    def inbound(self, name: str, s: Sums) -> Row:
        return (
            name,
            s["calls"],
            s["answered"],
            s["abandoned"],
            pct(s["abandoned"], s["calls"]) if self.abandons else None,
            pct(s["within_sl"], s["calls"]),
            *_handled(s),
        )


def _campaign_summary(inputs: Inputs) -> Computed:
    """Outbound and inbound campaigns apart, each in its own table."""
    names, compliance = inputs.names(Campaign), inputs.compliance
    trailing = (
        None if inputs.earlier is None else abandonment.outbound(inputs.earlier, "campaign_id")
    )
    summary = _Summary(compliance, trailing, not inputs.filters.agent_ids)
    by_direction = inputs.cells.fold("inbound", "campaign_id")
    outbound = [
        summary.outbound(label(names, campaign_id), sums, campaign_id)
        for (inbound, campaign_id), sums in by_direction.items()
        if inbound == 0
    ]
    inbound = [
        summary.inbound(label(names, campaign_id), sums)
        for (inbound, campaign_id), sums in by_direction.items()
        if inbound == 1
    ]
    totals = inputs.cells.fold("inbound")
    out_total = summary.outbound("Total", totals.get((0,), NO_CALLS))
    in_total = summary.inbound("Total", totals.get((1,), NO_CALLS))
    notes = [
        f"Outbound abandon % = abandoned / (answered + abandoned) outbound calls: of the calls "
        f"a person answered, those no agent took. Over the window, and over the "
        f"{abandonment.period(compliance)} ending with it (the trailing period); flagged when "
        f"that is above {abandonment.ceiling(compliance)} %. Inbound abandon % = "
        f"abandoned / offered; service level = answered within {SERVICE_LEVEL_S} s / offered."
    ]
    if not summary.abandons:
        notes.append(
            "Agent filter: abandoned calls reach no agent, so abandon rates are left empty."
        )
    return Computed((Figures(outbound, out_total), Figures(inbound, in_total)), tuple(notes))


_HANDLED_COLUMNS = (
    Column("conversions", "Conversions", K.INTEGER, summed=True),
    Column("conversion_pct", "Conversion %", K.PERCENT),
    Column("talk_minutes", "Talk minutes", K.DECIMAL, summed=True),
    Column("aht", "AHT", K.DURATION),
)

CAMPAIGN_SUMMARY = ReportDefinition(
    id="campaign_summary",
    title="Campaign Summary",
    filters=BOTH,
    layouts=(
        Layout(
            (
                Column("campaign", "Campaign"),
                Column("dialed", "Dialed", K.INTEGER, summed=True),
                Column("answered", "Answered", K.INTEGER, summed=True),
                Column("no_answer", "No answer", K.INTEGER, summed=True),
                Column("busy_failed", "Busy/failed", K.INTEGER, summed=True),
                Column("abandoned", "Abandoned", K.INTEGER, summed=True),
                Column("contact_rate", "Contact rate %", K.PERCENT),
                Column("abandon_pct", "Abandon %", K.PERCENT),
                Column("period_abandon_pct", "Abandon %, trailing period", K.PERCENT),
                Column("flag", "Flag"),
                *_HANDLED_COLUMNS,
            ),
            title="Outbound",
            first=("period_abandon_pct", "flag"),
        ),
        Layout(
            (
                Column("campaign", "Campaign"),
                Column("offered", "Offered", K.INTEGER, summed=True),
                Column("answered", "Answered", K.INTEGER, summed=True),
                Column("abandoned", "Abandoned", K.INTEGER, summed=True),
                Column("abandon_pct", "Abandon %", K.PERCENT),
                Column("service_level_pct", f"Service level % ({SERVICE_LEVEL_S} s)", K.PERCENT),
                *_HANDLED_COLUMNS,
            ),
            title="Inbound",
        ),
    ),
    reads=Reads(CALLS, earlier=abandonment.trailing, dimensions=(Campaign,)),
    compute=_campaign_summary,
    metrics=(
        Metric("dialed", None),
        Metric("contact_rate"),
        Metric("abandon_pct", up_is_good=False, label="Outbound abandon %"),
        Metric("conversions", label="Outbound conversions"),
        Metric("offered", None, table=1),
        Metric("service_level_pct", table=1, label="Service level %"),
    ),
    charts=(
        DailyTrend("Calls per day", (("Calls", "calls"), ("Answered", "answered")), "calls"),
        TableChart(
            "Outbound conversions by campaign",
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
        return (name, s["calls"], share, s["handle_s"], average_s(s["handle_s"], s["calls"]))

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
                Column("calls", "Calls", K.INTEGER, summed=True),
                Column("share_pct", "Share %", K.PERCENT, summed=True),
                Column("total_time", "Total time", K.DURATION, summed=True),
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
    average_wait = average_s(s["wait_s"], s["answered"] + s["abandoned"])
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
                Column("dialed", "Dialed", K.INTEGER, summed=True),
                Column("answered", "Answered", K.INTEGER, summed=True),
                Column("abandoned", "Abandoned", K.INTEGER, summed=True),
                Column("conversions", "Conversions", K.INTEGER, summed=True),
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
                Column("leads", "Leads", K.INTEGER, summed=True),
                Column("dialed", "Dialed", K.INTEGER, summed=True),
                Column("contacted", "Contacted", K.INTEGER, summed=True),
                Column("converted", "Converted", K.INTEGER, summed=True),
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
        average = average_s(s["duration_s"], s["calls"])
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
                Column("calls", "Calls", K.INTEGER, summed=True),
                Column("share_pct", "Share %", K.PERCENT, summed=True),
                Column("average_duration", "Average duration", K.DURATION),
                Column("cost", "Cost", K.MONEY, summed=True),
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
