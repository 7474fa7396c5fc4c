"""CSV artifacts: RFC 4180, UTF-8, header row, streamed in chunks.

Cells a spreadsheet would run as a formula (starting with =, +, -, @, tab or
CR) are prefixed with a single quote, the OWASP-recommended neutralisation;
numbers are written by their column's format (`cells.plain`) and never
start with anything but a digit or a minus sign, so they stay numeric. A
report of several tables writes each under its title, a blank line between.

A CDR export is a million rows of twenty cells, so rows are written a batch
at a time and a batch's cells a column at a time: a column of one type takes
one C-level pass (`map` of a converter, a memo of the texts already made, or
the cells untouched) instead of a Python call per cell.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from herald.services.renderer.formats.cells import plain_converters, plain_formatter
from herald.services.renderer.reports.model import Cell, Column, ReportData, Row

CONTENT_TYPE = "text/csv; charset=utf-8"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CHUNK_BYTES = 64 * 1024
#: Rows formatted together: about 200 KB of CDR text, whatever the report's length.
_BATCH_ROWS = 1024
#: Texts a column remembers before it starts afresh, so memory stays bounded.
_MEMO_TEXTS = 4096
#: Cells are joined with NUL to be searched in one pass; a cell holding NUL itself
#: takes the exact per-cell path.
_SEP = "\x00"
_FORMULA_MARKS = tuple(_SEP + start for start in _FORMULA_START)
#: What makes the csv module quote a field (delimiter, quote, line end; QUOTE_MINIMAL).
_SPECIAL = (",", '"', "\r", "\n")
_SPECIAL_IN = re.compile('[,"\r\n]')
_TEXT_TYPES = frozenset({str, type(None)})
_NONE_AS_EMPTY: dict[Cell, str] = {None: ""}
#: Cell types whose text a memo keyed by `str(cell)` gives: it names the value exactly
#: (sign, digits and exponent), where `==` would take 0 and -0.00 for one value.
_BY_TEXT = (Decimal, float)
#: Cell types whose converter is C-level and whose text is never quoted.
_MAPPED = (bool, datetime, date)


def neutralise(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def cell_text(column: Column, value: Cell) -> str:
    return plain_formatter(column, neutralise)(value)


class _Memo(dict[Any, str]):
    """Texts by key, made once each: a CDR's durations and amounts repeat endlessly."""

    def __init__(self, text: Callable[[Any], str]) -> None:
        super().__init__()
        self._text = text

    def __missing__(self, key: Any) -> str:
        if len(self) >= _MEMO_TEXTS:
            self.clear()
        text = self[key] = self._text(key)
        return text


def _neutralised(texts: Sequence[str]) -> Sequence[str]:
    """`neutralise` on every cell, in a few passes over the joined column."""
    joined = _SEP + _SEP.join(texts)
    if not any(map(joined.__contains__, _FORMULA_MARKS)):
        return texts
    if joined.count(_SEP) != len(texts):
        return list(map(neutralise, texts))
    for mark in _FORMULA_MARKS:
        joined = joined.replace(mark, _SEP + "'" + mark[1:])
    return joined[1:].split(_SEP)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if _SPECIAL_IN.search(text) else text


def _quoted(texts: Sequence[str]) -> Sequence[str]:
    """The cells as the csv module writes them (RFC 4180 quoting, only where needed)."""
    joined = _SEP.join(texts)
    return list(map(_quote, texts)) if any(map(joined.__contains__, _SPECIAL)) else texts


class _ColumnCells:
    """One column's cells as text, a batch at a time, one C-level pass where the type allows."""

    def __init__(self, column: Column) -> None:
        self._format = plain_formatter(column, neutralise)
        self._by_type = plain_converters(column, neutralise)
        #: Whole numbers of most kinds are their own text; durations and money are not.
        self._ints_formatted = self._by_type[int] is not str
        self._memos: dict[type, _Memo] = {}

    def _memo(self, kind: type) -> _Memo:
        memo = self._memos.get(kind)
        if memo is None:
            convert = self._by_type[kind]
            text = convert if kind is int else lambda key: convert(kind(key))
            memo = self._memos[kind] = _Memo(text)
        return memo

    def texts(self, values: Sequence[Cell]) -> tuple[Sequence[str], bool]:
        """The cells' texts, and whether any may need quoting."""
        types = set(map(type, values))
        if types <= _TEXT_TYPES:
            if type(None) in types:
                values = list(map(_NONE_AS_EMPTY.get, values, values))
            return _neutralised(cast(Sequence[str], values)), True
        if len(types) == 1:
            (kind,) = types
            if kind is int:
                ints = self._memo(int).__getitem__ if self._ints_formatted else str
                return list(map(ints, values)), False
            if kind in _BY_TEXT:
                return list(map(self._memo(kind).__getitem__, map(str, values))), False
            if kind in _MAPPED:
                return list(map(self._by_type[kind], values)), False
        return list(map(self._format, values)), True


def _write(buffer: io.StringIO, columns: Sequence[_ColumnCells], rows: Sequence[Row]) -> None:
    """Rows as CSV lines: a column at a time, then each line joined in C."""
    by_column = zip(*rows, strict=True)  # a row of another width is a ValueError
    texts = [column.texts(values) for column, values in zip(columns, by_column, strict=True)]
    if len(columns) < 2:  # the csv module's own rules for a lone empty field (or none)
        lines = zip(*(cells for cells, _ in texts), strict=True) if texts else [()] * len(rows)
        csv.writer(buffer, lineterminator="\r\n").writerows(lines)
        return
    cells = [_quoted(column) if special else column for column, special in texts]
    buffer.write("\r\n".join(map(",".join, zip(*cells, strict=True))))
    buffer.write("\r\n")


async def _batches(rows: Sequence[Row] | AsyncIterator[Row]) -> AsyncIterator[Sequence[Row]]:
    if isinstance(rows, Sequence):
        for start in range(0, len(rows), _BATCH_ROWS):
            yield rows[start : start + _BATCH_ROWS]
        return
    batch: list[Row] = []
    async for row in rows:
        batch.append(row)
        if len(batch) == _BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(slots=True)
class RowCounter:
    """Counts data rows (not headers or totals) as they stream past, for the metadata."""

    rows: int = 0


async def csv_chunks(report: ReportData, counter: RowCounter) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    several = len(report.tables) > 1
    for n, table in enumerate(report.tables):
        if n:
            writer.writerow([])
        if several and table.title:
            writer.writerow([neutralise(table.title)])
        writer.writerow([neutralise(column.label) for column in table.columns])
        columns = [_ColumnCells(column) for column in table.columns]
        async for batch in _batches(table.rows):
            _write(buffer, columns, batch)
            counter.rows += len(batch)
            if buffer.tell() >= _CHUNK_BYTES:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        if table.totals is not None:
            _write(buffer, columns, [table.totals])
    yield buffer.getvalue().encode()
