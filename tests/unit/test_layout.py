"""The PDF's text layout: widths, alignment, orientation and pages, without WeasyPrint."""

from __future__ import annotations

from herald.services.renderer.formats.layout import (
    LARGEST_PT,
    SMALLEST_PT,
    TableLines,
    cut,
    header_lines,
    line,
    paginate,
    shape,
)
from herald.services.renderer.reports.model import Column, ColumnKind

NAME = Column("name", "Campaign")
CALLS = Column("calls", "Calls handled", ColumnKind.INTEGER)


def test_numbers_align_right_text_left_and_cells_are_separated_by_spaces() -> None:
    columns = [NAME, CALLS]
    fitted = shape(columns, [["Renewals", "1,204"], ["Solar", "7"]])
    # "Campaign" is 8 wide; "Calls handled" wraps to two lines as wide as "handled" (7).
    assert fitted.widths == (8, 7)
    assert line(columns, fitted, ["Solar", "7"]) == "Solar" + " " * 11 + "7"
    assert header_lines(columns, fitted) == [" " * 12 + "Calls", "Campaign  handled"]


def test_long_values_are_cut_with_an_ellipsis() -> None:
    assert cut("Insurance renewals, north region", 10) == "Insurance…"
    assert cut("short", 10) == "short"


def test_narrow_reports_stay_portrait_wide_ones_turn_landscape_and_shrink() -> None:
    assert not shape([NAME, CALLS], [["x", "1"]]).landscape
    wide = [Column(f"c{n}", f"Column number {n}", ColumnKind.INTEGER) for n in range(14)]
    fitted = shape(wide, [["123456789012"] * 14])
    assert fitted.landscape
    assert SMALLEST_PT <= fitted.font_pt < LARGEST_PT


def test_too_wide_even_when_small_text_columns_give_up_width_first() -> None:
    columns = [Column("d", "Disposition")] * 6 + [CALLS] * 6
    fitted = shape(columns, [["x" * 48] * 6 + ["123456"] * 6])
    assert fitted.font_pt == SMALLEST_PT
    assert fitted.widths[6:] == (7,) * 6  # numbers keep their width
    assert max(fitted.widths[:6]) < 48


def test_pages_repeat_the_header_and_every_row_lands_once() -> None:
    columns = [NAME, CALLS]
    fitted = shape(columns, [["Solar", "7"]])
    rows = [f"row {n}" for n in range(500)]
    table = TableLines("By campaign", tuple(header_lines(columns, fitted)), rows, "Total")
    pages = paginate([table], fitted)
    assert len(pages) > 3
    blocks = [block for page in pages for block in page]
    assert [line for block in blocks for line in block.lines] == rows
    assert all(block.header == table.header for block in blocks)
    assert [block.totals for block in blocks].count("Total") == 1
    assert blocks[-1].totals == "Total"
    assert blocks[0].title == "By campaign"
    assert blocks[1].title is None
    # The first page also carries the report's heading, so it holds fewer rows.
    assert len(blocks[0].lines) < len(blocks[1].lines)


def test_a_short_second_table_shares_the_page() -> None:
    columns = [NAME, CALLS]
    fitted = shape(columns, [["Solar", "7"]])
    header = tuple(header_lines(columns, fitted))
    pages = paginate(
        [TableLines("Headline", header, ["a", "b"], None), TableLines("By", header, ["c"], "T")],
        fitted,
    )
    assert len(pages) == 1
    assert [block.table for block in pages[0]] == [0, 1]
