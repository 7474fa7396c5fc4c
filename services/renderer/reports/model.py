"""What a report is to the renderer: titled tables of typed columns, independent of format."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from herald.services.renderer.reports.chart import Chart
from herald.shared.contract.messages import DataWindow
from herald.shared.contract.schedule_spec import Filters, ReportRef
from herald.shared.contract.tenant_settings import TenantCompliance


class ColumnKind(enum.StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    #: A plain number with `decimals` places.
    DECIMAL = "decimal"
    #: Already a percentage (12.5 means 12.5 %).
    PERCENT = "percent"
    #: A count per hour of time (sales per logged-in hour).
    RATE = "rate"
    #: Whole or fractional seconds, shown as h:mm:ss.
    DURATION = "duration"
    #: Currency units (a Decimal).
    MONEY = "money"
    DATE = "date"
    DATETIME = "datetime"
    #: True/False, shown as Yes/No.
    FLAG = "flag"


#: The precision rule, the one place it is written: the decimal places every figure of a
#: kind is rounded to (once, half up: `figures.py`) and shown with (`formats/cells.py`).
#: A rate per hour needs two, or 1 to 4 sales over a day of logged-in time all read 0.1;
#: a duration is shown to the second. A DECIMAL column states its own (`Column.decimals`).
PLACES: Final[Mapping[ColumnKind, int]] = MappingProxyType(
    {
        ColumnKind.INTEGER: 0,
        ColumnKind.PERCENT: 1,
        ColumnKind.RATE: 2,
        ColumnKind.MONEY: 2,
        ColumnKind.DURATION: 0,
    }
)


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    kind: ColumnKind = ColumnKind.TEXT
    #: Places of a DECIMAL column; every other kind has the rule's (`PLACES`).
    decimals: int = 1
    #: The totals row holds this column's sum over the rows, worked out from the unrounded
    #: figures: where the rows, each rounded, do not add up to it, the report says so.
    summed: bool = False

    @property
    def numeric(self) -> bool:
        return self.kind not in (ColumnKind.TEXT, ColumnKind.DATE, ColumnKind.DATETIME)

    @property
    def places(self) -> int:
        """The decimal places this column's figures are rounded to and shown with."""
        return PLACES.get(self.kind, self.decimals)


@dataclass(frozen=True, slots=True)
class Figure:
    """A number shown by a column of its own, not its table's: in a column of figures of
    several kinds (the Executive Dashboard's headline figures: counts, percentages, money),
    each reads by the rule of its kind, 54.5 % and 1,300.00 alike, in every format."""

    column: Column
    value: int | Decimal | None


Cell = str | int | float | Decimal | datetime | date | bool | Figure | None
Row = tuple[Cell, ...]


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
    #: The tenant's abandon-rate ceiling (its settings, else the defaults).
    compliance: TenantCompliance = field(default_factory=TenantCompliance)


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
