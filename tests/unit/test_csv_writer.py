from __future__ import annotations

import csv
import io
import random
from collections.abc import AsyncIterator
from datetime import date, datetime
from decimal import Decimal

import pytest

from herald.services.renderer.formats.csv_writer import RowCounter, cell_text, csv_chunks
from herald.services.renderer.reports.model import (
    Cell,
    Column,
    ColumnKind,
    ReportData,
    Row,
    Table,
)

K = ColumnKind

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


def _reference(report: ReportData) -> str:
    """The CSV cell by cell: the csv module over `cell_text`, the definition of the output."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for n, table in enumerate(report.tables):
        if n:
            writer.writerow([])
        writer.writerow([cell_text(TEXT, column.label) for column in table.columns])
        assert isinstance(table.rows, list)
        for row in [*table.rows, *([table.totals] if table.totals else [])]:
            writer.writerow([cell_text(c, v) for c, v in zip(table.columns, row, strict=True)])
    return buffer.getvalue()


_CELLS: tuple[Cell, ...] = (
    *(None, "", "plain", "=1+2", "-x", "+1 555", "@z", "\tt", "\rr", "a\0=b", 'q"uote'),
    *("com,ma", "line\nbreak", "cr\r", "€ü", " lead", "'="),
    *(0, 1, -1, 86399, 86400, 90061, -5, True, False, 0.0, -0.0, 1.005, 2.5, 1e20),
    *(Decimal("0"), Decimal("-0.00"), Decimal("-0.001"), Decimal("0.420"), Decimal("1E+3")),
    *(datetime(2026, 11, 2, 9, 5, 7, 123456), date(2026, 11, 2)),
)


async def test_batches_write_exactly_what_the_csv_module_writes_cell_by_cell() -> None:
    """Columns of one type take fast paths, mixed ones the exact one: the bytes never differ."""
    rnd = random.Random(14)
    columns = tuple(Column(f"c{n}", f"C{n}", kind, decimals=n % 3) for n, kind in enumerate(K))
    mixed: list[Row] = [tuple(rnd.choice(_CELLS) for _ in columns) for _ in range(3000)]
    # Tables whose every column holds one type (str and None together), then many distinct
    # durations and amounts (more than a column's memo keeps).
    groups: dict[type, list[Cell]] = {}
    for cell in _CELLS:
        groups.setdefault(str if cell is None else type(cell), []).append(cell)
    same: list[list[Row]] = [
        [tuple(cell for _ in columns) for cell in cells * 2] for cells in groups.values()
    ]
    distinct: list[Row] = [
        tuple(n if c.kind is K.DURATION else Decimal(n) / 7 for c in columns) for n in range(9000)
    ]
    tables = [Table(columns, rows, totals=rows[0]) for rows in (mixed, *same, distinct)]
    alone = (Column("t", "T"),)
    tables += [Table(alone, [(cell,) for cell in _CELLS])]  # one column: csv's own "" rule
    tables += [Table((), [(), ()])]
    report = ReportData("T", tuple(tables))
    as_lists = b"".join([c async for c in csv_chunks(report, RowCounter())]).decode()
    assert as_lists == _reference(report)

    async def rows(table: Table) -> AsyncIterator[Row]:
        assert isinstance(table.rows, list)
        for row in table.rows:
            yield row

    streamed = ReportData("T", tuple(Table(t.columns, rows(t), t.totals) for t in tables))
    counter = RowCounter()
    assert b"".join([c async for c in csv_chunks(streamed, counter)]).decode() == as_lists
    assert counter.rows == sum(len(t.rows) for t in tables if isinstance(t.rows, list))


async def test_a_row_of_another_width_is_refused() -> None:
    columns = (Column("a", "A"), Column("b", "B"))
    report = ReportData("T", (Table(columns, [("x", "y"), ("x",)]),))
    with pytest.raises(ValueError, match="argument"):
        _ = [c async for c in csv_chunks(report, RowCounter())]
