"""How a cell reads, per column kind: one place for the report's own number formats.

`plain` is for machines (CSV: no thousands separators, so spreadsheets parse
every number); `display` is for people (HTML and PDF). Both give a figure the
precision of its column (`Column.places`, the rule in `model.PLACES`), so a
CSV and a PDF of one run agree digit for digit; a `Figure` cell brings its own
column. `rounding_note` says when a table's rows, each rounded, do not add up
to its total.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any

from herald.services.renderer.reports.model import Cell, Column, ColumnKind, Figure, Table

K = ColumnKind
#: Kinds whose fractional figures are rounded to the column's places (an int shows as is).
_FRACTIONS = (K.DECIMAL, K.PERCENT, K.RATE)


def _fixed(value: int | float | Decimal, places: int) -> Decimal:
    if isinstance(value, Decimal) and value.as_tuple().exponent == -places:
        return value  # already what the report computed: nothing to round
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _duration(seconds: int | float | Decimal) -> str:
    whole = seconds if type(seconds) is int else int(_fixed(seconds, 0))
    if 0 <= whole < _DAY:
        return _clock(whole)
    sign, whole = ("-", -whole) if whole < 0 else ("", whole)
    hours, rest = divmod(whole, 3600)
    return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"


_DAY = 86400


@functools.lru_cache(maxsize=_DAY)
def _clock(seconds: int) -> str:
    """Durations under a day repeat endlessly in a CDR: each is formatted once."""
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _other(value: Cell) -> str | None:
    """Types whose text does not depend on the column (None when the column decides)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return value.isoformat(" ", "seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    return None


Formatter = Callable[[Cell], str]
#: Cells of one type as text; C-level callables where one will do (CSV is hot).
Converters = Mapping[type, Callable[[Any], str]]
_YES_NO = {True: "Yes", False: "No"}


@functools.lru_cache(maxsize=512)
def plain_converters(column: Column, text: Callable[[str], str] = str) -> Converters:
    """This column's plain text for a cell, by the cell's exact type.

    `text` treats string cells (the CSV writer neutralises formulas with it).
    """
    kind, places = column.kind, column.places

    def number(value: int | float | Decimal) -> str:
        if kind is K.DURATION:
            return _duration(value)
        if kind is K.MONEY or (kind in _FRACTIONS and not isinstance(value, int)):
            return str(_fixed(value, places))
        return str(value)

    return MappingProxyType(
        {
            type(None): lambda _: "",
            bool: _YES_NO.__getitem__,
            str: text,
            datetime: operator.methodcaller("isoformat", " ", "seconds"),
            date: date.isoformat,
            int: number if kind in (K.DURATION, K.MONEY) else str,
            float: number,
            Decimal: number,
            Figure: lambda figure: plain_formatter(figure.column, text)(figure.value),
        }
    )


@functools.lru_cache(maxsize=512)
def plain_formatter(column: Column, text: Callable[[str], str] = str) -> Formatter:
    """This column's cells as plain text, dispatched on the value's type (CSV is hot)."""
    by_type = plain_converters(column, text)
    number = by_type[Decimal]

    def format_(value: Cell) -> str:
        found = by_type.get(type(value))
        if found is not None:
            return found(value)
        if isinstance(value, str):
            return text(value)
        other = _other(value)  # a subclass of a known type
        return other if other is not None else number(value)

    return format_


def plain(column: Column, value: Cell) -> str:
    """The cell as CSV text (formula neutralisation is the CSV writer's job)."""
    return plain_formatter(column)(value)


def display(column: Column, value: Cell) -> str:
    """The cell as people read it: thousands grouped, units shown."""
    if isinstance(value, Figure):
        return display(value.column, value.value)
    text = _other(value)
    if text is not None:
        return text
    assert isinstance(value, int | float | Decimal)
    kind = column.kind
    if kind is K.DURATION:
        return _duration(value)
    if kind is K.PERCENT:
        return f"{_fixed(value, column.places):,} %"
    if kind is K.MONEY or (kind in _FRACTIONS and not isinstance(value, int)):
        return f"{_fixed(value, column.places):,}"
    return f"{value:,}"


def display_row(columns: Sequence[Column], row: Sequence[Cell]) -> list[str]:
    return [display(column, value) for column, value in zip(columns, row, strict=True)]


def _shown(column: Column, value: Cell) -> Decimal:
    """The figure as its column shows it, as a number to add up (an empty cell adds nothing)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return Decimal(0)
    return Decimal(value) if isinstance(value, int) else _fixed(value, column.places)


def rounding_note(table: Table, keys: Collection[str] | None = None) -> str | None:
    """The footnote for a table whose summed columns' rows, as shown, miss the total shown.

    The total is worked out from the unrounded figures (talk seconds, fractions of a
    cent), so it is right and the rows, each rounded on its own, may not add up to it:
    a reader who adds them up is told why rather than left to doubt the total. Given
    `keys`, only those columns count: the ones the reader sees.
    """
    if table.totals is None or not isinstance(table.rows, Sequence):
        return None
    rows, totals = table.rows, table.totals
    missed = [
        column.label
        for n, column in enumerate(table.columns)
        if column.summed
        and (keys is None or column.key in keys)
        and sum(_shown(column, row[n]) for row in rows) != _shown(column, totals[n])
    ]
    if not missed:
        return None
    return (
        "Totals are computed from unrounded values, so the rounded rows of "
        f"{', '.join(missed)} do not add up to them exactly."
    )


@dataclass(frozen=True, slots=True)
class DisplayTable:
    """A table as people read it: display-formatted cells, possibly only the first rows."""

    title: str | None
    columns: tuple[Column, ...]
    rows: Sequence[Sequence[str]]
    totals: Sequence[str] | None
    #: Rows the report has, of which `len(rows)` are shown.
    total: int
    #: Keys of the columns to show first when not all fit (`Table.key_columns`).
    key_columns: tuple[str, ...] = ()
    #: Shown under the table: why its rows do not add up to its total (`rounding_note`).
    footnote: str | None = None

    @property
    def shown(self) -> int:
        return len(self.rows)
