"""What a standard report is: its catalog entry, what it reads, and a pure computation.

A definition names what the report reads (one grouping's cells over the window,
perhaps over an earlier span too, agents' sessions, dimensions, or the calls
themselves); `reading.py` reads exactly that, and `compute` turns it into the
report's tables without any I/O, so its figures can be checked in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from herald.services.renderer.calldata.groupings import CALLS, Document, Grouped, Grouping, Sums
from herald.services.renderer.calldata.records import Dimension
from herald.services.renderer.reports import periods
from herald.services.renderer.reports.chart import Chart
from herald.services.renderer.reports.model import Column, Headline, ReportData, Row, Table
from herald.services.renderer.reports.standard.charting import (
    ChartSpec,
    DailyTrend,
    daily_trend,
    days_of,
    table_chart,
)
from herald.shared.contract.catalog import AGENT, CAMPAIGN, refused_filters
from herald.shared.contract.messages import DataWindow
from herald.shared.contract.schedule_spec import Filters
from herald.shared.contract.tenant_settings import TenantCompliance

T = TypeVar("T")
#: An earlier span a report also reads, from its window, the data's zone and the tenant's
#: compliance settings: [start, end).
Span = Callable[[DataWindow, ZoneInfo, TenantCompliance], tuple[datetime, datetime]]

CAMPAIGN_ONLY = frozenset({CAMPAIGN})
AGENT_ONLY = frozenset({AGENT})
BOTH = frozenset({CAMPAIGN, AGENT})
#: The sums of no calls at all (a filter matching nothing): zeros.
NO_CALLS: Sums = dict.fromkeys(CALLS.sums, 0)


@dataclass(frozen=True, slots=True)
class Reads:
    """What a report reads, within its window and filters; nothing else is fetched for it."""

    grouping: Grouping | None = None
    #: The same grouping over an earlier span (a previous period, a rolling history).
    earlier: Span | None = None
    #: Agents' sessions summed per agent (the agent filter applies, a campaign one cannot).
    sessions: bool = False
    dimensions: tuple[type[Dimension], ...] = ()
    #: Every call, streamed oldest first, for a row-per-call report.
    calls: bool = False


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a report has read, in memory: all its computation sees."""

    window: DataWindow
    #: The zone calls are recorded in: their `day` and `hour` are local to it.
    zone: ZoneInfo
    grouped: Grouped | None = None
    earlier: Grouped | None = None
    sessions: Mapping[str, Sums] = field(default_factory=dict)
    dimensions: Mapping[type[Dimension], Mapping[str, Document]] = field(default_factory=dict)
    calls: AsyncIterator[Document] | None = None
    #: The same reads over the previous period, for a report with headline figures.
    previous: Inputs | None = None
    filters: Filters = field(default_factory=Filters)
    compliance: TenantCompliance = field(default_factory=TenantCompliance)

    @property
    def cells(self) -> Grouped:
        return _declared(self.grouped, "a grouping")

    @property
    def earlier_cells(self) -> Grouped:
        return _declared(self.earlier, "an earlier span")

    @property
    def call_stream(self) -> AsyncIterator[Document]:
        return _declared(self.calls, "the calls")

    def names(self, kind: type[Dimension]) -> dict[str, str]:
        return {key: str(doc.get("name", key)) for key, doc in self.dimensions[kind].items()}


def _declared(value: T | None, what: str) -> T:
    if value is None:
        raise LookupError(f"the report's Reads do not declare {what}")
    return value


@dataclass(frozen=True, slots=True)
class Layout:
    """One table of the report: its columns, and its title when there are several."""

    columns: tuple[Column, ...]
    title: str | None = None
    #: Columns a layout too narrow for all of them shows first, before the metrics' (a flag
    #: that must reach every reader).
    first: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Figures:
    """One table's rows and totals, in its layout's columns."""

    rows: Sequence[Row] | AsyncIterator[Row]
    totals: Row | None = None


@dataclass(frozen=True, slots=True)
class Computed:
    tables: tuple[Figures, ...]
    notes: tuple[str, ...] = ()
    #: Headline figures a report works out itself (else they come from its `Metric`s).
    headlines: tuple[Headline, ...] = ()


@dataclass(frozen=True, slots=True)
class Metric:
    """A headline tile: one column of a table's totals, this period against the last."""

    key: str
    up_is_good: bool | None = True
    #: The table whose totals it reads, and the tile's label when the column's is not enough.
    table: int = 0
    label: str | None = None


@dataclass(frozen=True, slots=True)
class ReportDefinition:
    """One standard report. Its id, title and filters repeat the contract's catalog (tested)."""

    id: str
    title: str
    filters: frozenset[str]
    layouts: tuple[Layout, ...]
    reads: Reads
    compute: Callable[[Inputs], Computed]
    #: Tiles from tables' totals; reading them adds the previous period's reads.
    metrics: tuple[Metric, ...] = ()
    charts: tuple[ChartSpec, ...] = ()

    def report(self, inputs: Inputs) -> ReportData:
        computed = self.compute(inputs)
        tables = tuple(
            Table(
                layout.columns,
                figures.rows,
                figures.totals,
                layout.title,
                (*layout.first, *(m.key for m in self.metrics if m.table == n)),
            )
            for n, (layout, figures) in enumerate(zip(self.layouts, computed.tables, strict=True))
        )
        notes = computed.notes
        headlines = computed.headlines
        if not headlines:
            headlines = self._headlines(computed, inputs.previous)
            if headlines and inputs.previous is not None:  # what a tile's "prev." is
                notes = (*notes, periods.describe(inputs.window, inputs.zone))
        charts = [self._chart(spec, inputs, computed) for spec in self.charts]
        shown = tuple(chart for chart in charts if chart is not None)
        return ReportData(self.title, tables, notes, headlines, shown)

    def _headlines(self, computed: Computed, previous: Inputs | None) -> tuple[Headline, ...]:
        if not self.metrics or not computed.tables:
            return ()
        before = self.compute(previous) if previous is not None else None
        headlines = []
        for metric in self.metrics:
            totals = computed.tables[metric.table].totals
            if totals is None:
                continue
            columns = self.layouts[metric.table].columns
            n = [column.key for column in columns].index(metric.key)
            last = None if before is None else before.tables[metric.table].totals
            was = None if last is None else last[n]
            name = metric.label or columns[n].label
            headlines.append(Headline(name, columns[n], totals[n], was, metric.up_is_good))
        return tuple(headlines)

    def _chart(self, spec: ChartSpec, inputs: Inputs, computed: Computed) -> Chart | None:
        """The chart, or None for a daily trend of a window of one day (a lone point).

        One day in the window's zone: in the data's, where the trend's days are, a day in
        another zone spans two, one of them a few hours (a two-point "trend")."""
        if isinstance(spec, DailyTrend):
            here, there = inputs.window.local_dates()
            if here == there:
                return None
            first = inputs.window.start.astimezone(inputs.zone).date()
            last = (inputs.window.end - timedelta(microseconds=1)).astimezone(inputs.zone).date()
            if spec.only is None:
                by_day = {key[0]: sums for key, sums in inputs.cells.fold("day").items()}
            else:
                name, value = spec.only
                folded = inputs.cells.fold(name, "day").items()
                by_day = {key[1]: sums for key, sums in folded if key[0] == value}
            return daily_trend(spec, by_day, days_of(first, last))
        rows = computed.tables[spec.table].rows
        if not isinstance(rows, Sequence):
            raise TypeError(f"{self.id}: a chart needs a table held in memory, not a stream")
        return table_chart(spec, self.layouts[spec.table].columns, rows)

    def refusals(self, filters: Filters) -> list[str]:
        """Reasons the report cannot take these filters (empty when it can)."""
        campaigns, agents = bool(filters.campaign_ids), bool(filters.agent_ids)
        return refused_filters(self.title, self.filters, campaigns, agents)


def label(names: Mapping[str, str], key: Any, missing: str = "(none)") -> str:
    return missing if key is None else names.get(key, str(key))


def add(rows: Sequence[Mapping[str, int]]) -> Sums:
    """Sums added name by name (an empty dict for no rows)."""
    total: Sums = {}
    for sums in rows:
        for name, value in sums.items():
            total[name] = total.get(name, 0) + value
    return total
