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


@dataclass(frozen=True, slots=True)
class ReportData:
    title: str
    tables: tuple[Table, ...]
    #: Lines shown under the title (definitions a reader needs, data caveats).
    notes: tuple[str, ...] = field(default=())

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
