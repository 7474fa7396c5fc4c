from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date, datetime
from decimal import Decimal

from herald.services.renderer.formats.csv_writer import RowCounter, cell_text, csv_chunks
from herald.services.renderer.reports.model import Column, ColumnKind, ReportData, Row, Table

TEXT = Column("t", "T")


def test_formula_cells_are_neutralised_and_numbers_kept() -> None:
    assert cell_text(TEXT, '=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    for lead in ("+", "-", "@", "\t", "\r"):
        assert cell_text(TEXT, f"{lead}1").startswith("'")
    assert cell_text(Column("n", "N", ColumnKind.INTEGER), -3) == "-3"
    assert cell_text(Column("m", "M", ColumnKind.MONEY), Decimal("-12.5")) == "-12.50"
    assert cell_text(TEXT, None) == ""
    assert cell_text(TEXT, "plain") == "plain"


def test_cells_follow_their_column_format() -> None:
    assert cell_text(Column("p", "P", ColumnKind.PERCENT), Decimal("12.25")) == "12.3"
    assert cell_text(Column("d", "D", ColumnKind.DECIMAL, decimals=2), 1.005) == "1.01"
    assert cell_text(Column("d", "D", ColumnKind.DECIMAL, decimals=2), 7) == "7"
    assert cell_text(Column("s", "S", ColumnKind.DURATION), Decimal("3725.5")) == "1:02:06"
    assert cell_text(Column("f", "F", ColumnKind.FLAG), True) == "Yes"
    assert cell_text(Column("a", "A", ColumnKind.DATE), date(2026, 11, 2)) == "2026-11-02"
    at = datetime(2026, 11, 2, 9, 5, 7)
    assert cell_text(Column("a", "A", ColumnKind.DATETIME), at) == "2026-11-02 09:05:07"


async def test_rows_stream_as_rfc4180_and_are_counted() -> None:
    async def rows() -> AsyncIterator[Row]:
        for n in range(20000):
            yield (f'camp, "{n}"\nx', n, Decimal("1.5"))

    columns = (
        Column("c", "Campaign"),
        Column("n", "N", ColumnKind.INTEGER),
        Column("r", "R", ColumnKind.DECIMAL),
    )
    report = ReportData("T", (Table(columns, rows(), totals=("Total", 20000, None)),))
    counter = RowCounter()
    chunks = [chunk async for chunk in csv_chunks(report, counter)]
    assert len(chunks) > 1  # streamed, not built whole
    assert counter.rows == 20000
    text = b"".join(chunks).decode()
    assert text.startswith("Campaign,N,R\r\n")
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[1] == ['camp, "0"\nx', "0", "1.5"]
    assert parsed[-1] == ["Total", "20000", ""]
    assert len(parsed) == 20002


async def test_several_tables_are_written_under_their_titles() -> None:
    one = Table((Column("a", "A"),), [("x",)], title="By campaign")
    two = Table((Column("b", "B"), Column("c", "C")), [("y", "z")], title="=By agent")
    counter = RowCounter()
    report = ReportData("T", (one, two))
    text = b"".join([c async for c in csv_chunks(report, counter)]).decode()
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed == [["By campaign"], ["A"], ["x"], [], ["'=By agent"], ["B", "C"], ["y", "z"]]
    assert counter.rows == 2
