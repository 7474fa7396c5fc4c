"""CSV artifacts: RFC 4180, UTF-8, header row, streamed in chunks.

Cells a spreadsheet would run as a formula (starting with =, +, -, @, tab or
CR) are prefixed with a single quote, the OWASP-recommended neutralisation.
Numbers are written as numbers, so negative figures stay numeric.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from services.renderer.reports.model import Cell, ReportData

CONTENT_TYPE = "text/csv; charset=utf-8"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CHUNK_BYTES = 64 * 1024


def cell_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = value.isoformat() if isinstance(value, datetime) else value
    return "'" + text if text.startswith(_FORMULA_START) else text


@dataclass(slots=True)
class RowCounter:
    """Counts rows as they stream past, for the artifact's metadata."""

    rows: int = 0


async def csv_chunks(report: ReportData, counter: RowCounter) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([cell_text(c.label) for c in report.columns])
    async for row in report.rows:
        writer.writerow([cell_text(v) for v in row])
        counter.rows += 1
        if buffer.tell() >= _CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
