"""What a report is to the renderer: titled tables of typed columns, independent of format."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from herald.shared.contract.messages import DataWindow
from herald.shared.contract.schedule_spec import Filters, ReportRef

Cell = str | int | float | Decimal | datetime | date | bool | None
Row = tuple[Cell, ...]


class ColumnKind(enum.StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    #: A plain number with `decimals` places.
    DECIMAL = "decimal"
    #: Already a percentage (12.5 means 12.5 %).
    PERCENT = "percent"
    #: Whole or fractional seconds, shown as h:mm:ss.
    DURATION = "duration"
    #: Currency units (a Decimal), shown with two places.
    MONEY = "money"
    DATE = "date"
    DATETIME = "datetime"
    #: True/False, shown as Yes/No.
    FLAG = "flag"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    kind: ColumnKind = ColumnKind.TEXT
    decimals: int = 1

    @property
    def numeric(self) -> bool:
        return self.kind not in (ColumnKind.TEXT, ColumnKind.DATE, ColumnKind.DATETIME)


@dataclass(frozen=True, slots=True)
class Table:
    """Rows are a list for grouped reports and a stream for row-per-call ones."""

    columns: tuple[Column, ...]
    rows: Sequence[Row] | AsyncIterator[Row]
    totals: Row | None = None
    title: str | None = None
    #: Keys of the columns that matter most (the headline metrics): a layout too narrow
    #: for every column shows these first.
    key_columns: tuple[str, ...] = ()


class ChartKind(enum.StrEnum):
    #: Values over an ordered axis (days): a line per series.
    TREND = "trend"
    #: One bar per category (campaigns, agents, hours of the day), a bar per series.
    BARS = "bars"
    #: Shares of a whole (dispositions): horizontal bars, largest first, labelled with %.
    SHARE = "share"


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    #: One value per category; None where there is nothing to show (no calls that day).
    values: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart as data: drawn as SVG for the PDF and PNG for the email (`formats/charts.py`)."""

    title: str
    kind: ChartKind
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    #: What the values count, for the axis and the text alternative ("calls", "%").
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Headline:
    """One headline tile: a figure this period, the previous period's, and which way is good."""

    label: str
    column: Column
    value: Cell
    previous: Cell
    #: True: up is good (sales); False: down is good (abandon rate); None: neither.
    up_is_good: bool | None = True


@dataclass(frozen=True, slots=True)
class ReportData:
    title: str
    tables: tuple[Table, ...]
    #: Lines shown under the title (definitions a reader needs, data caveats).
    notes: tuple[str, ...] = field(default=())
    headlines: tuple[Headline, ...] = field(default=())
    charts: tuple[Chart, ...] = field(default=())

    @property
    def streamed(self) -> bool:
        return any(not isinstance(table.rows, Sequence) for table in self.tables)


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """What any source is asked for: whose report, which one, over which data."""

    tenant_id: str
    report: ReportRef
    window: DataWindow
    filters: Filters
    #: The run's retry deadline: a source never waits in place past it (a `Retry-After`).
    deadline: datetime | None = None


class ReportUnavailable(Exception):
    """A permanent failure: the report cannot be produced, retrying will not help."""


class SourceUnavailable(Exception):
    """A transient failure: the data source timed out or failed; a later attempt may work."""


async def rows_of(table: Table) -> AsyncIterator[Row]:
    """A table's rows as one stream, whichever way the report produced them."""
    if isinstance(table.rows, Sequence):
        for row in table.rows:
            yield row
    else:
        async for row in table.rows:
            yield row
