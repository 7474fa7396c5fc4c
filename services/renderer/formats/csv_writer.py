"""CSV artifacts: RFC 4180, UTF-8, header row, streamed in chunks.

Cells a spreadsheet would run as a formula (starting with =, +, -, @, tab or
CR) are prefixed with a single quote, the OWASP-recommended neutralisation;
numbers are written by their column's format (`cells.plain`) and never
start with anything but a digit or a minus sign, so they stay numeric. A
report of several tables writes each under its title, a blank line between.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from herald.services.renderer.formats.cells import Formatter, plain_formatter
from herald.services.renderer.reports.model import Cell, Column, ReportData, rows_of

CONTENT_TYPE = "text/csv; charset=utf-8"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(_FORMULA_START)
_CHUNK_BYTES = 64 * 1024


def neutralise(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def cell_text(column: Column, value: Cell) -> str:
    return _csv_formatter(column)(value)


def _csv_formatter(column: Column) -> Formatter:
    return plain_formatter(column, neutralise)


def _line(formatters: Sequence[Formatter], row: Sequence[Cell]) -> list[str]:
    # Most cells are text that needs nothing: they skip the formatter call (CSV is hot).
    return [
        value if type(value) is str and value[:1] not in _FORMULA_FIRST else format_(value)
        for format_, value in zip(formatters, row, strict=True)
    ]


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
        formatters = [_csv_formatter(column) for column in table.columns]
        async for row in rows_of(table):
            writer.writerow(_line(formatters, row))
            counter.rows += 1
            if buffer.tell() >= _CHUNK_BYTES:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        if table.totals is not None:
            writer.writerow(_line(formatters, table.totals))
    yield buffer.getvalue().encode()
