"""How a cell reads, per column kind: one place for the report's own number formats.

`plain` is for machines (CSV: no thousands separators, so spreadsheets parse
every number); `display` is for people (HTML and PDF). Both give a figure the
same precision, so a CSV and a PDF of one run agree digit for digit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from services.renderer.reports.model import Cell, Column, ColumnKind

K = ColumnKind


def _fixed(value: int | float | Decimal, places: int) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _duration(seconds: int | float | Decimal) -> str:
    whole = int(_fixed(seconds, 0))
    sign, whole = ("-", -whole) if whole < 0 else ("", whole)
    hours, rest = divmod(whole, 3600)
    return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"


def plain(column: Column, value: Cell) -> str:
    """The cell as CSV text (formula neutralisation is the CSV writer's job)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    kind = column.kind
    if kind is K.DURATION:
        return _duration(value)
    if kind is K.MONEY:
        return str(_fixed(value, 2))
    if kind in (K.DECIMAL, K.PERCENT) and not isinstance(value, int):
        return str(_fixed(value, column.decimals))
    return str(value)


def display(column: Column, value: Cell) -> str:
    """The cell as people read it: thousands grouped, units shown."""
    if value is None or isinstance(value, bool | str | date):
        return plain(column, value)
    kind = column.kind
    if kind is K.DURATION:
        return _duration(value)
    if kind is K.MONEY:
        return f"{_fixed(value, 2):,}"
    if kind is K.PERCENT:
        return f"{_fixed(value, column.decimals):,} %"
    if kind is K.DECIMAL and not isinstance(value, int):
        return f"{_fixed(value, column.decimals):,}"
    return f"{value:,}"


def display_row(columns: Sequence[Column], row: Sequence[Cell]) -> list[str]:
    return [display(column, value) for column, value in zip(columns, row, strict=True)]


@dataclass(frozen=True, slots=True)
class DisplayTable:
    """A table as people read it: display-formatted cells, possibly only the first rows."""

    title: str | None
    columns: tuple[Column, ...]
    rows: Sequence[Sequence[str]]
    totals: Sequence[str] | None
    #: Rows the report has, of which `len(rows)` are shown.
    total: int

    @property
    def shown(self) -> int:
        return len(self.rows)
