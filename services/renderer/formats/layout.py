"""Lays a report's tables out as pages of fixed-width text lines, for the PDF.

WeasyPrint's cost is per laid-out element: a `<table>` of 1,000 rows takes
about 10 s and 260 MB, whatever the CSS. Here every page holds a few blocks
of monospaced lines instead (a bold header line, a block of rows, a bold
totals line), so the cost follows pages, not cells. Numbers are right-aligned
and text left-aligned by padding with ordinary spaces, which is also what a
reader gets when copying text out of the PDF. What this gives up: no
wrapping inside a cell (a value wider than its column is cut with "…"; the
CSV holds it whole) and no tagged table structure for screen readers.

Everything here is pure arithmetic on strings and points; the template only
places the blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from herald.services.renderer.reports.model import Column, ColumnKind

#: DejaVu Sans Mono's advance width, in em.
CHAR_EM = 0.602
LINE_EM = 1.3
GAP = 2
#: No column is narrower than this (it still shows "…" and a few characters).
MIN_WIDTH = 6
MAX_WIDTH = 48
ELLIPSIS = "…"
#: Usable area of an A4 page with 12 mm margins and a footer, in points.
PORTRAIT_PT = (595.3 - 68.0, 841.9 - 96.0)
LANDSCAPE_PT = (841.9 - 68.0, 595.3 - 96.0)
LARGEST_PT, SMALLEST_PT = 8.5, 6.0
#: Height of the report's heading block on the first page, and of a table title.
HEADING_PT = 96.0
TITLE_PT = 20.0
GAP_PT = 10.0


@dataclass(frozen=True, slots=True)
class Shape:
    landscape: bool
    font_pt: float
    widths: tuple[int, ...]

    @property
    def line_pt(self) -> float:
        return self.font_pt * LINE_EM

    @property
    def chars(self) -> int:
        return sum(self.widths) + GAP * (len(self.widths) - 1)


def _label_lines(label: str, width: int) -> list[str]:
    """A header label wrapped into at most two lines of `width`."""
    words, lines, current = label.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    lines.append(current)
    return lines if len(lines) <= 2 else [lines[0], " ".join(lines[1:])]


def _natural_width(column: Column, values: Sequence[str]) -> int:
    longest_value = max((len(v) for v in values), default=0)
    longest_word = max((len(w) for w in column.label.split()), default=0)
    half_label = (len(column.label) + 1) // 2
    return max(MIN_WIDTH, min(MAX_WIDTH, max(longest_value, longest_word, half_label)))


def _fits(chars: int, size_pt: float, page_width_pt: float) -> bool:
    return chars * CHAR_EM * size_pt <= page_width_pt


def shape(columns: Sequence[Column], sample: Sequence[Sequence[str]]) -> Shape:
    """Orientation, font size and column widths for these columns and sample rows.

    Portrait at the largest size if it fits, else landscape at the largest size
    that fits (not below SMALLEST_PT); if even that is too narrow, the widest
    text columns give up width until the line fits.
    """
    widths = [
        _natural_width(column, [row[i] for row in sample]) for i, column in enumerate(columns)
    ]
    chars = sum(widths) + GAP * (len(widths) - 1)
    if _fits(chars, LARGEST_PT, PORTRAIT_PT[0]):
        return Shape(False, LARGEST_PT, tuple(widths))
    size = LARGEST_PT
    while size > SMALLEST_PT and not _fits(chars, size, LANDSCAPE_PT[0]):
        size = round(size - 0.25, 2)
    capacity = int(LANDSCAPE_PT[0] / (CHAR_EM * size))
    while chars > capacity:
        candidates = [i for i, c in enumerate(columns) if widths[i] > MIN_WIDTH]
        if not candidates:
            break
        # Free text gives way first; numbers and dates lose meaning when cut.
        widest = max(candidates, key=lambda i: (columns[i].kind is ColumnKind.TEXT, widths[i]))
        widths[widest] -= 1
        chars -= 1
    return Shape(True, size, tuple(widths))


def cut(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + ELLIPSIS


def line(columns: Sequence[Column], shape_: Shape, values: Sequence[str]) -> str:
    cells = []
    for column, width, value in zip(columns, shape_.widths, values, strict=True):
        text = cut(value.replace("\n", " "), width)
        cells.append(text.rjust(width) if column.numeric else text.ljust(width))
    return (" " * GAP).join(cells).rstrip()


def header_lines(columns: Sequence[Column], shape_: Shape) -> list[str]:
    wrapped = [_label_lines(c.label, w) for c, w in zip(columns, shape_.widths, strict=True)]
    depth = max(len(lines) for lines in wrapped)
    # Bottom-align the labels so single-line ones sit on the row above the data.
    padded = [[""] * (depth - len(lines)) + lines for lines in wrapped]
    return [line(columns, shape_, [lines[n] for lines in padded]) for n in range(depth)]


@dataclass(frozen=True, slots=True)
class Block:
    """A run of one table's lines on one page, under its repeated header."""

    table: int
    title: str | None
    header: tuple[str, ...]
    lines: tuple[str, ...]
    totals: str | None
    #: The zebra pattern continues across pages from this row's parity.
    first_row: int


@dataclass(frozen=True, slots=True)
class TableLines:
    title: str | None
    header: tuple[str, ...]
    lines: Sequence[str]
    totals: str | None


def paginate(tables: Sequence[TableLines], shape_: Shape) -> list[list[Block]]:
    """Pages of blocks: the first page under the report's heading, every block under a header.

    A table starts on a fresh page when fewer than three of its rows would fit.
    """
    height = (LANDSCAPE_PT if shape_.landscape else PORTRAIT_PT)[1]
    line_pt = shape_.line_pt
    pages: list[list[Block]] = [[]]
    left = height - HEADING_PT
    for n, table in enumerate(tables):
        title_pt = TITLE_PT if table.title else 0.0
        fixed_pt = (len(table.header) + (1 if table.totals else 0)) * line_pt + GAP_PT
        start, total = 0, len(table.lines)
        first = True
        while first or start < total:
            room = int((left - fixed_pt - (title_pt if first else 0.0)) // line_pt)
            if room < min(3, total - start) and pages[-1]:
                pages.append([])
                left = height
                continue
            room = max(room, 1)
            chunk = tuple(table.lines[start : start + room])
            last = start + len(chunk) >= total
            pages[-1].append(
                Block(
                    n,
                    table.title if first else None,
                    table.header,
                    chunk,
                    table.totals if last else None,
                    start,
                )
            )
            used = fixed_pt + len(chunk) * line_pt + (title_pt if first else 0.0)
            left -= used
            start += len(chunk)
            first = False
            if not last:
                pages.append([])
                left = height
    return pages
