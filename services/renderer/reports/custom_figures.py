"""A saved custom report's table from what it read, without I/O: filtered, folded, sorted.

Figures follow the standard reports' rules: sums are exact, ratios are rounded
half up (`figures.py`), a ratio with nothing to divide by is left empty, and
the totals are the same formulas over the sums of every row, shown or not.
`custom.py` does the reads; this is checked in memory (tests/unit).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from operator import itemgetter

from herald.services.renderer.calldata.days import slices
from herald.services.renderer.calldata.groupings import (
    BASE_KEYS,
    GROUPINGS,
    Cells,
    Grouped,
    Grouping,
    Key,
    Sums,
)
from herald.services.renderer.calldata.records import Agent, CallList, Campaign, Dimension, Team
from herald.services.renderer.reports.custom_definitions import (
    SESSIONS,
    CustomReport,
    Formula,
    Unit,
)
from herald.services.renderer.reports.figures import average_s, money, pct
from herald.services.renderer.reports.model import (
    Cell,
    Column,
    ColumnKind,
    ReportData,
    Row,
    Table,
)
from herald.services.renderer.reports.standard.definition import Inputs

K = ColumnKind
#: Dimensions shown by name, from the tenant's dimension records.
NAMED: dict[str, type[Dimension]] = {
    "campaign_id": Campaign,
    "agent_id": Agent,
    "team_id": Team,
    "list_id": CallList,
}
_KINDS = {
    Unit.COUNT: K.INTEGER,
    Unit.SECONDS: K.DURATION,
    Unit.CENTS: K.MONEY,
    Unit.PERCENT: K.PERCENT,
}
_NONE = "(none)"


def compute(report: CustomReport, inputs: Inputs) -> ReportData:
    """The table from what `read` returned, without I/O."""
    kept = Grouped(inputs.cells.grouping, _filtered(inputs.cells, report.filters))
    names = {
        dimension: inputs.names(NAMED[dimension])
        for dimension in report.dimensions
        if dimension in NAMED
    }
    rows = [
        (*_dimension_cells(report, names, key), *_figures(report, sums))
        for key, sums in kept.fold(*report.dimensions).items()
    ]
    columns = _columns(report)
    if report.sort is not None:
        by = [column.key for column in columns].index(report.sort.by)
        rows = _sorted(rows, by, report.sort.descending)
    blanks = ("",) * (len(report.dimensions) - 1)
    totals = ("Total", *blanks, *_figures(report, kept.total()))
    table = Table(columns, rows[: report.limit], totals)
    return ReportData(report.title, (table,), _notes(report, inputs, len(rows)))


def own_keys(report: CustomReport) -> tuple[str, ...]:
    """The keys a grouping needs beyond the ones every grouping keeps."""
    return tuple(key for key in report.grouped_by if key not in BASE_KEYS)


def calls_grouping(report: CustomReport) -> Grouping:
    """The first registered grouping that covers the report (roll-ups), else an ad-hoc one.

    `GROUPINGS` starts with the coarsest (its own key, the team, follows the agent),
    so a report that needs no finer key reads the fewest cells.
    """
    keys, sums = set(own_keys(report)), set(report.summed)
    for grouping in GROUPINGS:
        covers = keys <= set(grouping.keys) and sums <= set(grouping.sums)
        if covers and not grouping.inbound_only:
            return grouping
    return Grouping(f"custom_{report.dataset}", own_keys(report), report.summed)


def _filtered(grouped: Grouped, filters: Mapping[str, list[str | int]]) -> Cells:
    """The cells whose filtered fields have one of the allowed values."""
    keys = grouped.grouping.all_keys
    allowed = [(keys.index(name), set(values)) for name, values in filters.items()]
    return {
        key: sums
        for key, sums in grouped.cells.items()
        if all(key[i] in values for i, values in allowed)
    }


def _dimension_cells(report: CustomReport, names: dict[str, dict[str, str]], key: Key) -> Row:
    cells: list[Cell] = []
    for dimension, value in zip(report.dimensions, key, strict=True):
        if value is None or value == "":
            cells.append(_NONE)
        elif dimension == "day":
            cells.append(date.fromisoformat(value))
        elif dimension == "hour":
            cells.append(f"{value:02d}:00")
        else:
            cells.append(names.get(dimension, {}).get(value, str(value)))
    return tuple(cells)


def _figures(report: CustomReport, sums: Sums) -> Row:
    return tuple(_figure(metric.formula(report.base), sums) for metric in report.metrics)


def _figure(formula: Formula, sums: Sums) -> Cell:
    part = sum(sums[name] for name in formula.numerator)
    if not formula.denominator:
        return money(part) if formula.unit is Unit.CENTS else part
    whole = sum(sums[name] for name in formula.denominator)
    if formula.unit is Unit.PERCENT:
        return pct(part, whole)
    if formula.unit is Unit.CENTS:
        return money(Decimal(part) / whole) if whole else None
    return average_s(part, whole)  # the other ratios are of seconds


def _columns(report: CustomReport) -> tuple[Column, ...]:
    dimensions = tuple(
        Column(name, report.base.dimensions[name], K.DATE if name == "day" else K.TEXT)
        for name in report.dimensions
    )
    metrics = tuple(
        Column(metric.key, metric.label, _KINDS[metric.formula(report.base).unit])
        for metric in report.metrics
    )
    return (*dimensions, *metrics)


def _sorted(rows: list[Row], index: int, descending: bool) -> list[Row]:
    """Rows by one column, ties in their previous order, empty figures last either way."""
    present = [row for row in rows if row[index] is not None]
    empty = [row for row in rows if row[index] is None]
    return sorted(present, key=itemgetter(index), reverse=descending) + empty


def _notes(report: CustomReport, inputs: Inputs, rows: int) -> tuple[str, ...]:
    notes = []
    if rows > report.limit:
        notes.append(
            f"Showing the first {report.limit} of {rows} rows; the totals cover all {rows}."
        )
    if report.filters:
        shown = "; ".join(
            f"{report.base.dimensions[name]} = {', '.join(map(str, values))}"
            for name, values in report.filters.items()
        )
        notes.append(f"Fixed filters: {shown}.")
    for metric in report.metrics:
        if metric.kind == "ratio":
            notes.append(f"{metric.label} = {metric.formula(report.base).text()}.")
    if {"day", "hour"} & set(report.dimensions):
        notes.append(f"Days and hours are local to {inputs.zone.key}, the zone of the data.")
    window = inputs.window
    if report.dataset == SESSIONS.name and not all(
        part.whole for part in slices(window.start, window.end, inputs.zone)
    ):
        notes.append("Sessions are whole local days: a day the window cuts counts whole.")
    return tuple(notes)
