"""The PDF's table layout: widths from the font's metrics, wrapping, orientation and lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from herald.services.renderer.formats.layout import (
    BAND_ROWS,
    CELL_BUDGET,
    FILL_ERROR,
    GAP,
    LANDSCAPE_PT,
    LARGEST_PT,
    MIN_WIDTH,
    SMALLEST_PT,
    UNITS_PER_EM,
    as_cells,
    bands,
    fill,
    row_lines,
    shape,
    text_width,
    wrap,
)
from herald.services.renderer.reports.model import Column, ColumnKind

NAME = Column("name", "Campaign")
CALLS = Column("calls", "Calls handled", ColumnKind.INTEGER)
SALES = Column("sales", "Sales per logged-in hour", ColumnKind.DECIMAL)
FONTS = Path("/usr/share/fonts/truetype/liberation2")


@pytest.mark.parametrize(("bold", "file"), [(False, "Regular"), (True, "Bold")])
def test_the_widths_are_the_fonts_own(bold: bool, file: str) -> None:
    """The embedded table must agree with the Liberation Sans the PDF is printed in."""
    ttlib = pytest.importorskip("fontTools.ttLib")
    path = FONTS / f"LiberationSans-{file}.ttf"
    if not path.exists():
        pytest.skip(f"{path} is not installed")
    font = ttlib.TTFont(path)
    cmap, hmtx = font.getBestCmap(), font["hmtx"]
    assert font["head"].unitsPerEm == UNITS_PER_EM
    chars = [chr(c) for c in range(32, 127)] + list(
        "\u00a0\u2003\u2009\u200a…\u2013—\u2212·€£\u00d7ßæøœ\u2018\u2019“”"
    )
    for char in chars:
        assert text_width(char, bold) == hmtx[cmap[ord(char)]][0], repr(char)


def test_letters_beyond_the_table_are_estimated_not_refused() -> None:
    assert text_width("é") == text_width("e")  # an accent adds no width
    assert text_width("東") == UNITS_PER_EM  # a wide character: an em
    assert text_width("Ж") > 0


def test_spaces_fill_a_gap_to_within_a_few_hundredths_of_an_em() -> None:
    assert fill(0) == fill(-40) == ("", 0)
    for gap in range(1, 30_000, 7):
        spaces, width = fill(gap)
        assert not spaces.strip()
        assert width == text_width(spaces) == text_width(spaces, bold=True)  # same in bold
        # Columns are GAP apart; under half an em, the spaces are too coarse to come closer.
        error = FILL_ERROR if gap >= UNITS_PER_EM // 2 else 171
        assert gap - error <= width <= gap, gap


def test_a_gap_takes_few_spaces() -> None:
    """Each is a glyph WeasyPrint pays for: ems, then at most four more for the rest."""
    for gap in range(171, 30_000, 7):
        spaces, _ = fill(gap)
        assert len(spaces.replace("\u2003", "")) <= 4, gap
    assert fill(2048 * 3) == ("\u2003" * 3, 2048 * 3)


def test_long_values_wrap_at_spaces_and_are_never_cut() -> None:
    value = "Insurance renewals, north region"
    width = text_width("Insurance renewals")
    lines = wrap(value, width)
    assert lines == ["Insurance", "renewals, north", "region"]
    assert all(text_width(line) <= width for line in lines)
    assert " ".join(lines) == value
    word = "call-0000000000000000000042"
    broken = wrap(word, 3 * UNITS_PER_EM)
    assert len(broken) > 1
    assert "".join(broken) == word
    assert all(text_width(part) <= 3 * UNITS_PER_EM for part in broken)
    assert wrap("", 1000) == [""]


def test_columns_are_as_wide_as_their_content_and_headers_wrap_between_words() -> None:
    fitted = shape([NAME, CALLS, SALES], [["Renewals", "1,204", "12.5"], ["Solar", "7", "3.0"]])
    name, calls, sales = fitted.widths
    assert not fitted.landscape
    assert fitted.font_pt == LARGEST_PT
    assert name >= text_width("Campaign", bold=True)
    # "Calls handled" fits on two lines as wide as its longer word.
    assert text_width("handled", bold=True) <= calls < text_width("Calls handled", bold=True)
    assert text_width("logged-in hour", bold=True) <= sales
    assert min(fitted.widths) >= MIN_WIDTH


def test_wide_tables_turn_landscape_and_shrink() -> None:
    assert not shape([NAME, CALLS], [["x", "1"]]).landscape
    wide = [Column(f"c{n}", f"Column number {n}", ColumnKind.INTEGER) for n in range(14)]
    fitted = shape(wide, [["1,234,567,890"] * 14])
    assert fitted.landscape
    assert SMALLEST_PT <= fitted.font_pt < LARGEST_PT


def test_when_even_small_type_is_too_wide_text_columns_give_way_and_numbers_keep_theirs() -> None:
    columns = [Column("d", "Disposition")] * 6 + [CALLS] * 6
    rows = [["Customer asked to be called back next week " * 2] * 6 + ["123,456"] * 6]
    fitted = shape(columns, rows)
    assert fitted.font_pt == SMALLEST_PT
    assert len(set(fitted.widths[6:])) == 1
    assert fitted.widths[6] >= text_width("123,456")
    room = LANDSCAPE_PT * UNITS_PER_EM / SMALLEST_PT - len(columns) * GAP
    assert sum(fitted.widths) <= room


def test_squeezed_columns_of_words_wrap_before_a_column_of_codes_breaks_a_code() -> None:
    code, words = Column("cause", "Hangup cause"), Column("d", "Disposition")
    columns = [code] + [words] * 10 + [CALLS] * 6
    rows = [["NORMAL_TEMPORARY_FAILURE"] + ["Customer asked to be called back " * 2] * 10]
    rows[0] += ["123,456"] * 6
    fitted = shape(columns, rows)
    # The code keeps its width (it would break inside the word); the sentences wrap.
    assert fitted.widths[0] >= text_width("NORMAL_TEMPORARY_FAILURE")
    assert fitted.widths[1] < text_width(rows[0][1])
    room = LANDSCAPE_PT * UNITS_PER_EM / fitted.font_pt - len(columns) * GAP
    assert sum(fitted.widths) <= room


def test_a_row_as_lines_puts_text_left_and_numbers_right_in_their_columns() -> None:
    columns = [NAME, CALLS]
    fitted = shape(columns, [["Renewals", "1,204"], ["Solar", "7"]])
    (line,) = row_lines(columns, fitted, ["Solar", "7"])
    assert line.startswith("Solar")
    assert line.endswith("7")
    right_edge = fitted.widths[0] + GAP + fitted.widths[1]
    assert right_edge - FILL_ERROR <= text_width(line) <= right_edge
    (wide,) = row_lines(columns, fitted, ["Renewals", "1,204"])
    assert right_edge - FILL_ERROR <= text_width(wide) <= right_edge


def test_what_one_fill_falls_short_the_next_makes_up() -> None:
    """Twelve columns of numbers: the last still ends on its edge, not twelve shortfalls left."""
    columns = [CALLS] * 12
    fitted = shape(columns, [["1,234,567"] * 12])
    right_edge = sum(fitted.widths) + 11 * GAP
    for first in range(40):
        values = [f"{(first + 7 * n) ** 3:,}" for n in range(12)]
        (line,) = row_lines(columns, fitted, values)
        assert right_edge - FILL_ERROR <= text_width(line) <= right_edge, values


def test_a_value_with_line_breaks_stays_on_its_row() -> None:
    columns = [NAME, CALLS]
    fitted = shape(columns, [["Renewals north", "1,204"]])
    (line,) = row_lines(columns, fitted, ["Renewals\nnorth\t", "7"])
    assert line.startswith("Renewals north")
    assert line.endswith("7")
    assert "\n" not in line
    assert "\t" not in line


def test_a_long_value_makes_its_row_taller_instead_of_being_cut() -> None:
    columns = [Column("note", "Note"), CALLS]
    value = "the customer asked for a call back after the holidays, not before the first week"
    fitted = shape(columns, [[value, "42"]])
    assert fitted.widths[0] < text_width(value)  # capped: long text wraps
    lines = row_lines(columns, fitted, [value, "42"])
    assert len(lines) > 1
    assert lines[0].rstrip().endswith("42")  # the number sits on the row's first line
    assert " ".join(line.replace("42", "").strip() for line in lines) == value


def test_bands_hold_every_row_once_in_order() -> None:
    columns = [NAME, CALLS]
    rows = [[f"row {n}", str(n)] for n in range(12)]
    fitted = shape(columns, rows)
    shown = bands(columns, fitted, rows)
    assert len(shown) == -(-len(rows) // BAND_ROWS)
    lines = "\n".join(shown).split("\n")
    assert [line.split()[:2] for line in lines] == [["row", str(n)] for n in range(12)]


def test_cells_until_the_budget_is_spent_then_lines() -> None:
    assert as_cells([]) == []
    assert as_cells([10, CELL_BUDGET, 20]) == [True, False, True]
    assert as_cells([CELL_BUDGET + 1]) == [False]
