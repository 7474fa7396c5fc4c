"""The charts a standard report declares, built from its figures as plain data.

A report names its charts; nothing here draws (that is `formats/charts.py`,
in the render pool). A daily trend reads the grouping's cells by day over the
window, every day shown even without calls; a table chart reads one of the
report's own tables, so a chart never disagrees with the numbers beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from herald.services.renderer.reports.chart import Chart, ChartKind, Series
from herald.services.renderer.reports.model import Cell, Column, Row

#: A ranked bar chart of more categories than this shows the largest ones only. One in
#: the table's order (the 24 hours of a day) shows them all: cut, it would drop the last
#: hours, however busy.
MAX_BARS = 20


@dataclass(frozen=True, slots=True)
class DailyTrend:
    """Sums of the report's grouping per local day: a line per (label, sum name)."""

    title: str
    lines: tuple[tuple[str, str], ...]
    unit: str = ""
    #: Only the cells with this value of this key, when the report's table keeps to them.
    only: tuple[str, object] | None = None


@dataclass(frozen=True, slots=True)
class TableChart:
    """Columns of one of the report's tables, a category per row (its first column)."""

    title: str
    kind: ChartKind
    #: (series label, column key) pairs; the first orders the bars, largest first.
    values: tuple[tuple[str, str], ...]
    table: int = 0
    unit: str = ""
    #: Largest first (campaigns, agents); False keeps the table's order (hours of the day).
    ranked: bool = True
    #: Leading columns that name a category together ("carrier · cause").
    label_columns: int = 1


ChartSpec = DailyTrend | TableChart


def _number(value: Cell) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return float(value)


def days_of(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def daily_trend(spec: DailyTrend, by_day: dict[str, dict[str, int]], days: list[date]) -> Chart:
    """`by_day`: sums keyed by ISO day; a day without calls counts zero."""
    empty: dict[str, int] = {}
    series = tuple(
        Series(label, tuple(float(by_day.get(d.isoformat(), empty).get(name, 0)) for d in days))
        for label, name in spec.lines
    )
    categories = tuple(f"{d.day} {d:%b}" for d in days)
    return Chart(spec.title, ChartKind.TREND, categories, series, spec.unit)


def table_chart(spec: TableChart, columns: Sequence[Column], rows: Sequence[Row]) -> Chart:
    keys = [column.key for column in columns]
    positions = [keys.index(key) for _, key in spec.values]
    ranked = list(rows)
    cut = spec.ranked and spec.kind is ChartKind.BARS and len(rows) > MAX_BARS
    if spec.ranked:
        ranked.sort(key=lambda row: -(_number(row[positions[0]]) or 0.0))
    if cut:
        ranked = ranked[:MAX_BARS]
    categories = tuple(
        " · ".join("(none)" if cell is None else str(cell) for cell in row[: spec.label_columns])
        for row in ranked
    )
    series = tuple(
        Series(label, tuple(_number(row[p]) for row in ranked))
        for (label, _), p in zip(spec.values, positions, strict=True)
    )
    title = f"{spec.title} (top {MAX_BARS} of {len(rows)})" if cut else spec.title
    return Chart(title, spec.kind, categories, series, spec.unit)
