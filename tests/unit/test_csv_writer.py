from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from services.renderer.formats.csv_writer import RowCounter, cell_text, csv_chunks
from services.renderer.reports.model import Cell, Column, ColumnKind, ReportData


def test_formula_cells_are_neutralised_and_numbers_kept() -> None:
    assert cell_text('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    for lead in ("+", "-", "@", "\t", "\r"):
        assert cell_text(f"{lead}1").startswith("'")
    assert cell_text(-3) == "-3"
    assert cell_text(2.5) == "2.5"
    assert cell_text(None) == ""
    assert cell_text("plain") == "plain"


async def test_rows_stream_as_rfc4180_and_are_counted() -> None:
    async def rows() -> AsyncIterator[tuple[Cell, ...]]:
        for n in range(20000):
            yield (f'camp, "{n}"\nx', n, 1.5)

    report = ReportData(
        "T",
        (
            Column("c", "Campaign"),
            Column("n", "N", ColumnKind.INTEGER),
            Column("r", "R", ColumnKind.DECIMAL),
        ),
        rows(),
    )
    counter = RowCounter()
    chunks = [chunk async for chunk in csv_chunks(report, counter)]
    assert len(chunks) > 1  # streamed, not built whole
    assert counter.rows == 20000
    text = b"".join(chunks).decode()
    assert text.startswith("Campaign,N,R\r\n")
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[1] == ['camp, "0"\nx', "0", "1.5"]
    assert len(parsed) == 20001
