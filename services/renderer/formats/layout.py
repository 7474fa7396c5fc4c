"""Sizes the PDF's tables from their content, and sets large ones as lines of text.

Every table is a `<table>` whose column headers are `<th scope="col">` in its
`<thead>`: WeasyPrint repeats them on every page, a screen reader announces
them. Columns are as wide as their content, measured here with Liberation
Sans's own advance widths, so nothing is cut: a header wraps between its
words, a long text value wraps in its column (a number never does).

What a cell costs decides the rest. WeasyPrint 70 lays out, draws and tags
each cell as boxes of its own, about 0.7 ms of CPU a cell: 1,000 rows of 12
columns as cells take 9 to 11 s and 290 MB whatever the CSS (a fixed table
layout only halves the 20 s of an automatic one). A line of text costs about
what one cell does. So the first CELL_BUDGET values of a document are real
cells, which a screen reader walks by row and column; a table past the
budget keeps its real headers but sets its rows as text, BAND_ROWS rows to a
`<td>` spanning the columns, and the same 1,000 rows take about 0.9 s and
25 MB over an idle worker. Each value is placed under its header with Unicode
spaces of known widths, as few as come within FILL_ERROR of its place (they
are half of a line's glyphs), text left and numbers right (the digits are
tabular); a long value wraps onto more lines of its row, here; WeasyPrint
splits bands between pages. What that gives up: a screen reader reads such
rows as lines of text, not cell by cell, and text copied out holds wide spaces.

Everything here is arithmetic on strings and font units (UNITS_PER_EM to an
em), free of I/O. The template places what it computes, and its style sheet
must keep the font, the gap (as padding) and the line height assumed here.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from herald.services.renderer.reports.model import Column

UNITS_PER_EM = 2048


def _widths(numbers: str) -> dict[str, int]:
    return {chr(32 + n): int(w) for n, w in enumerate(numbers.split())}


#: Liberation Sans's advance widths (hmtx) of printable ASCII, U+0020 to U+007E.
_REGULAR = _widths(
    "569 569 727 1139 1139 1821 1366 391 682 682 797 1196 569 682 569 569 1139 1139 1139 1139 "
    "1139 1139 1139 1139 1139 1139 569 569 1196 1196 1196 1139 2079 1366 1366 1479 1479 1366 "
    "1251 1593 1479 569 1024 1366 1139 1706 1479 1593 1366 1593 1479 1366 1251 1479 1366 1933 "
    "1366 1366 1251 569 569 569 961 1139 682 1139 1139 1024 1139 1139 569 1139 1139 455 455 "
    "1024 455 1706 1139 1139 1139 1139 682 1024 569 1139 1024 1479 1024 1024 1024 684 532 684 1196"
)
_BOLD = _widths(
    "569 682 971 1139 1139 1821 1479 487 682 682 797 1196 569 682 569 569 1139 1139 1139 1139 "
    "1139 1139 1139 1139 1139 1139 682 682 1196 1196 1196 1251 1997 1479 1479 1479 1479 1366 "
    "1251 1593 1479 569 1139 1479 1251 1706 1479 1593 1366 1593 1479 1366 1251 1479 1366 1933 "
    "1366 1366 1251 682 569 682 1196 1139 682 1139 1251 1139 1251 1139 682 1251 1251 569 569 "
    "1139 569 1821 1251 1251 1251 1251 797 1139 682 1251 1139 1593 1139 1139 1024 797 573 797 1196"
)
#: The spaces `fill` places a value with (the same in both weights), by width.
_SPACES = {
    "\u2003": 2048,
    "\u2007": 1139,
    "\u2002": 1024,
    "\u2004": 683,
    " ": 569,
    "\u2005": 512,
    "\u2009": 410,
    "\u2006": 341,
    "\u200a": 171,
}
#: Common characters past ASCII that no accent-stripping explains.
_SYMBOLS = _SPACES | {
    "\u00a0": 569,
    "…": 2048,
    "\u2013": 1139,
    "—": 2048,
    "\u2212": 1196,
    "·": 682,
    "•": 717,
    "€": 1139,
    "£": 1139,
    "°": 819,
    "\u00d7": 1196,
    "ß": 1251,
    "æ": 1821,
    "Æ": 2048,
    "ø": 1251,
    "Ø": 1593,
    "œ": 1933,
    "Œ": 2048,
}
_REGULAR.update(_SYMBOLS | {"\u2018": 455, "\u2019": 455, "\u201c": 682, "\u201d": 682})
_BOLD.update(_SYMBOLS | {"\u2018": 569, "\u2019": 569, "\u201c": 1024, "\u201d": 1024})
#: A letter of another script: about a digit's width (Cyrillic, Greek); a wide one an em.
_OTHER = 1139


def _char_width(char: str, table: dict[str, int]) -> int:
    """A character the tables lack: its base letter's width (é as e), else an estimate."""
    base = unicodedata.normalize("NFD", char)[0]
    if base in table:
        return table[base]
    if unicodedata.combining(char):
        return 0
    return UNITS_PER_EM if unicodedata.east_asian_width(char) in "WF" else _OTHER


def text_width(text: str, bold: bool = False) -> int:
    """The text's advance width in font units, as Pango sets it with kerning and ligatures off."""
    table = _BOLD if bold else _REGULAR
    try:
        return sum(map(table.__getitem__, text))
    except KeyError:
        return sum(table[c] if c in table else _char_width(c, table) for c in text)


#: What a fill may fall short of its gap by, in font units (0.03 em): over the smallest
#: gaps, as much as a hair space (171 units), the narrowest space there is.
FILL_ERROR = 56


def _combinations() -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Every width up to four spaces add up to (fewest spaces for each), by width."""
    found: dict[int, str] = {}
    for count in range(5):
        for combo in itertools.combinations_with_replacement(_SPACES, count):
            found.setdefault(sum(_SPACES[c] for c in combo), "".join(combo))
    ordered = sorted(found.items())
    return tuple(w for w, _ in ordered), tuple(s for _, s in ordered)


_WIDTHS, _COMBOS = _combinations()


@functools.lru_cache(maxsize=2 * UNITS_PER_EM)
def _rest(gap: int) -> tuple[str, int]:
    """Under two ems: the fewest spaces within FILL_ERROR of the gap (the closest of those),
    else the widest that fit.

    Every space is a glyph WeasyPrint shapes three times and writes out one by one:
    half of a row's glyphs are its spaces, so fewer is faster.
    """
    fits = bisect.bisect_right(_WIDTHS, gap)
    close = range(bisect.bisect_left(_WIDTHS, gap - FILL_ERROR), fits)
    n = min(close, key=lambda i: (len(_COMBOS[i]), gap - _WIDTHS[i]), default=fits - 1)
    return _COMBOS[n], _WIDTHS[n]


def fill(gap: int) -> tuple[str, int]:
    """Spaces as wide as `gap` font units, or a little narrower, and their width."""
    if gap <= 0:
        return "", 0
    ems = max(0, gap // UNITS_PER_EM - 1)
    spaces, width = _rest(gap - ems * UNITS_PER_EM)
    return "\u2003" * ems + spaces, ems * UNITS_PER_EM + width


def wrap(text: str, width: int, bold: bool = False) -> list[str]:
    """The text in lines no wider than `width`: broken at spaces, a longer word at any letter."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, bold) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = ""
        for char in word:
            if current and text_width(current + char, bold) > width:
                lines.append(current)
                current = ""
            current += char
    lines.append(current)
    return lines


def _two_lines(label: str) -> int:
    """The bold label's width when it wraps at its best space onto two lines (or one word)."""
    words = label.split()
    splits = (
        max(text_width(" ".join(words[:i]), True), text_width(" ".join(words[i:]), True))
        for i in range(1, len(words))
    )
    return min(splits, default=text_width(label, True))


#: Between two columns' content (half each side of a border), and the narrowest content.
GAP = 1536
MIN_WIDTH = 3 * UNITS_PER_EM
#: Added to every column: WeasyPrint rounds its own positions, and a label exactly as wide
#: as its column would break in its last letter.
SLACK = 32
#: Text beyond this width wraps, rather than widen its column.
MAX_TEXT = 22 * UNITS_PER_EM
LINE_EM = 1.3
#: The content width of an A4 page with 12 mm margins, in points, portrait and landscape.
PORTRAIT_PT, LANDSCAPE_PT = 527.0, 773.5
LARGEST_PT, SMALLEST_PT = 8.5, 6.0


@dataclass(frozen=True, slots=True)
class Shape:
    landscape: bool
    font_pt: float
    #: Each column's content width, in font units.
    widths: tuple[int, ...]

    def pt(self, units: int) -> float:
        """Rounded up: a column a hair narrower than its widest word would break the word."""
        return math.ceil(units * self.font_pt / UNITS_PER_EM * 100) / 100

    @property
    def line_pt(self) -> float:
        return round(self.font_pt * LINE_EM, 2)

    @property
    def columns_pt(self) -> tuple[float, ...]:
        """Each column's width on the page: its content and a gap."""
        return tuple(self.pt(width + GAP) for width in self.widths)


def _unbroken(column: Column, values: Sequence[str]) -> int:
    """A text column's narrowest width that breaks no word (a code, an id, a cause)."""
    if column.numeric:
        return 0
    longest = max((text_width(w) for v in values for w in v.split()), default=0)
    return max(MIN_WIDTH, longest) + SLACK


def _natural(column: Column, values: Sequence[str], total: str | None) -> int:
    widest = max((text_width(v) for v in values), default=0)
    if total is not None:
        widest = max(widest, text_width(total, True))
    if not column.numeric:
        widest = min(widest, MAX_TEXT)
    return max(MIN_WIDTH, widest, _two_lines(column.label)) + SLACK


def _room(page_pt: float, font_pt: float, columns: int) -> int:
    """Font units of content that fit across the page at this size, less the gaps."""
    return int(page_pt * UNITS_PER_EM / font_pt) - columns * GAP


def _narrowed(
    columns: Sequence[Column], widths: list[int], floors: list[int], room: int
) -> list[int]:
    """Text columns capped at the widest width that fits (they wrap); numbers keep theirs.

    No column is capped below its longest word while the floors fit: a column of
    codes keeps "NORMAL_CLEARING" whole and the columns of words wrap instead.
    """
    text = [i for i, c in enumerate(columns) if not c.numeric]
    left = room - sum(w for c, w in zip(columns, widths, strict=True) if c.numeric)
    if sum(min(widths[i], floors[i]) for i in text) > left:
        floors = [MIN_WIDTH] * len(widths)

    def capped(cap: int) -> list[int]:
        return [
            w if c.numeric else min(w, max(cap, floors[i]))
            for i, (c, w) in enumerate(zip(columns, widths, strict=True))
        ]

    low, high = MIN_WIDTH, max(widths)
    while low < high:  # the widest cap whose columns still fit
        middle = (low + high + 1) // 2
        if sum(capped(middle)[i] for i in text) <= left:
            low = middle
        else:
            high = middle - 1
    return capped(low)


def shape(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], totals: Sequence[str] | None = None
) -> Shape:
    """Orientation, font size and column widths for these columns and rows.

    Portrait at the largest size if it fits, else landscape at the largest size
    that fits (not below SMALLEST_PT); if even that is too narrow, the widest
    text columns give up width (their values wrap onto more lines).
    """
    widths = [
        _natural(column, [row[i] for row in rows], None if totals is None else totals[i])
        for i, column in enumerate(columns)
    ]
    content = sum(widths)
    if content <= _room(PORTRAIT_PT, LARGEST_PT, len(widths)):
        return Shape(False, LARGEST_PT, tuple(widths))
    size = LARGEST_PT
    while size > SMALLEST_PT and content > _room(LANDSCAPE_PT, size, len(widths)):
        size = round(size - 0.25, 2)
    room = _room(LANDSCAPE_PT, size, len(widths))
    if content > room:
        floors = [_unbroken(column, [row[i] for row in rows]) for i, column in enumerate(columns)]
        widths = _narrowed(columns, widths, floors, room)
    return Shape(True, size, tuple(widths))


#: Values a document shows as real cells; the tables past them are set as lines.
CELL_BUDGET = 600


def as_cells(sizes: Sequence[int]) -> list[bool]:
    """Which tables, of these many values each, are cells: those that fit what the earlier
    ones left of the budget."""
    left = CELL_BUDGET
    chosen = []
    for size in sizes:
        fits = size <= left
        left -= size if fits else 0
        chosen.append(fits)
    return chosen


def row_lines(
    columns: Sequence[Column], shape_: Shape, values: Sequence[str], bold: bool = False
) -> list[str]:
    """One row as lines of text: each value wrapped in its column, text left, numbers right."""
    return _lines(_places(columns, shape_), values, bold)


#: A column's place on a line: where it starts, its width, whether it holds numbers.
_Place = tuple[int, int, bool]


def _places(columns: Sequence[Column], shape_: Shape) -> list[_Place]:
    starts = itertools.accumulate((w + GAP for w in shape_.widths), initial=0)
    return [
        (start, width, column.numeric)
        for start, width, column in zip(starts, shape_.widths, columns, strict=False)
    ]


def _measured(value: str, width: int, bold: bool) -> list[tuple[str, int]]:
    """The value's lines in a column `width` wide, each with its width (mostly one line).

    Its runs of spaces, tabs and line breaks are one space each, as `wrap` makes them."""
    value = " ".join(value.split())
    whole = text_width(value, bold)
    if whole <= width:
        return [(value, whole)]
    return [(line, text_width(line, bold)) for line in wrap(value, width, bold)]


def _lines(places: Sequence[_Place], values: Sequence[str], bold: bool) -> list[str]:
    cells = [
        (start, width, numeric, _measured(value, width, bold))
        for (start, width, numeric), value in zip(places, values, strict=False)
    ]
    lines = []
    for n in range(max((len(measured) for *_, measured in cells), default=1)):
        at, parts = 0, []
        for start, width, numeric, measured in cells:
            text, text_w = measured[n] if n < len(measured) else ("", 0)
            if not text:
                continue
            begin = start + width - text_w if numeric else start
            spaces, spaces_w = fill(begin - at)
            parts += [spaces, text]
            at += spaces_w + text_w  # where it really ends: a fill's shortfall is made up next
        lines.append("".join(parts))
    return lines


#: Rows per `<td>` of lines, shaded in turn. Five rows are a band the eye can hold (a row
#: each its own box would cost 25 % more); WeasyPrint splits a band between pages.
BAND_ROWS = 5


def bands(columns: Sequence[Column], shape_: Shape, rows: Sequence[Sequence[str]]) -> list[str]:
    """The rows as text, BAND_ROWS rows to a band."""
    places = _places(columns, shape_)
    lines = [_lines(places, row, False) for row in rows]
    return [
        "\n".join(itertools.chain.from_iterable(lines[first : first + BAND_ROWS]))
        for first in range(0, len(lines), BAND_ROWS)
    ]
