"""The inline HTML an `html` schedule puts in the email body: the charts, the tables, then
a footer on how the figures are computed, linking to their definitions.

Mail clients ignore style sheets and scripts, so every style is inline; all
text is autoescaped (a campaign named `<script>` shows as text). Long tables
stop at the configured row cap with a "showing N of M rows" note.

The email's frame is 640 px wide with 24 px padding, so a table has 592 px;
a wider one would scroll sideways, worse on a phone. So each table shows its
first column, its headline metrics and the other columns that fit
(`shown_columns`) and names the rest, which the attached full CSV holds.
Widths are estimated, not measured (the renderer has no browser;
tests/integration/test_email_in_browser.py lays emails out in one): Arial at
12 px averages 6.5 px a character of text, 6.7 px a digit, 7 px a character
of a bold header. On a phone narrower than a table, the table
scrolls in its own box, never the whole email.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from herald.services.renderer.formats.cells import DisplayTable
from herald.services.renderer.formats.charts import alt_text
from herald.services.renderer.formats.page import HOW_COMPUTED, Page
from herald.services.renderer.formats.templates import templates
from herald.services.renderer.reports.chart import Chart
from herald.services.renderer.reports.model import Column

CONTENT_TYPE = "text/html; charset=utf-8"

#: The frame's 640 px less its 24 px padding on each side (mailer's email.html.j2).
CONTENT_PX = 592
#: A cell's left plus right padding (report.inline.html.j2).
CELL_PADDING_PX = 16
TEXT_PX = 6.5
DIGIT_PX = 6.7
HEADER_PX = 7.0
#: Text wraps at spaces beyond this width instead of widening its column.
TEXT_WRAP_PX = 160
#: Where a browser may break a line of text: at spaces, and after a hyphen.
_BREAKS = re.compile(r"\s+|(?<=-)")


def chart_cid(n: int) -> str:
    """The Content-ID the fragment shows `report.charts[n]` by (its PNG is a related part)."""
    return f"chart-{n}@herald"


def _header_chars(label: str) -> int:
    """The longer line of a header broken at its best space: headers wrap to two lines."""
    words = label.split()
    splits = (max(len(" ".join(words[:i])), len(" ".join(words[i:]))) for i in range(1, len(words)))
    return min(splits, default=len(label))


def _text_px(value: str) -> float:
    """Text wraps at spaces and after hyphens: its width is its longest word or the wrap width."""
    longest_word = max((len(word) for word in _BREAKS.split(value)), default=0)
    return max(longest_word * TEXT_PX, min(len(value) * TEXT_PX, TEXT_WRAP_PX))


def column_px(column: Column, cells: Iterable[str]) -> float:
    """A column's estimated width: its header's or its widest cell's, plus padding.

    Numbers never wrap (a figure broken over two lines misreads), text does.
    """
    if column.numeric:
        widest = max((len(cell) for cell in cells), default=0) * DIGIT_PX
    else:
        widest = max((_text_px(cell) for cell in cells), default=0.0)
    return max(_header_chars(column.label) * HEADER_PX, widest) + CELL_PADDING_PX


def shown_columns(table: DisplayTable) -> tuple[int, ...]:
    """The indexes of the columns shown inline, in the table's order.

    The first column names the row and the table's key columns are its headline
    metrics (and a flag every reader must see): those always show, even past
    `CONTENT_PX`, where the browser wraps the text columns more (or the table
    scrolls in its own box), since a narrower column shown in a headline
    metric's place would hide the figure behind a tile. Then the others in the
    report's order, each one if it still fits; one that does not is skipped,
    so a narrower one after it may still show.
    """
    lines = [*table.rows, *([table.totals] if table.totals else [])]
    keys = [column.key for column in table.columns]

    def width(i: int) -> float:
        return column_px(table.columns[i], (line[i] for line in lines))

    shown = {0, *(keys.index(key) for key in table.key_columns if key in keys)}
    used = sum(width(i) for i in shown)
    for i in range(1, len(keys)):
        if i not in shown and used + (px := width(i)) <= CONTENT_PX:
            shown.add(i)
            used += px
    return tuple(sorted(shown))


def dropped_columns(table: DisplayTable) -> tuple[Column, ...]:
    """The columns too wide for the email body: only the attached CSV has them."""
    shown = set(shown_columns(table))
    return tuple(column for i, column in enumerate(table.columns) if i not in shown)


def hides_columns(tables: Sequence[DisplayTable]) -> bool:
    """True when a table the fragment shows leaves columns out (the full CSV must travel)."""
    return any(dropped_columns(table) for table in tables if table.total)


@dataclass(frozen=True, slots=True)
class _Inline:
    """A table as the fragment shows it: the columns that fit, and the names of the rest."""

    table: DisplayTable
    dropped: tuple[str, ...]


def _inline(table: DisplayTable) -> _Inline:
    shown = shown_columns(table)
    if len(shown) == len(table.columns):
        return _Inline(table, ())
    kept = set(shown)
    dropped = tuple(c.label for i, c in enumerate(table.columns) if i not in kept)
    narrowed = replace(
        table,
        columns=tuple(table.columns[i] for i in shown),
        rows=[[row[i] for i in shown] for row in table.rows],
        totals=None if table.totals is None else [table.totals[i] for i in shown],
    )
    return _Inline(narrowed, dropped)


def fragment(
    tables: Sequence[DisplayTable], charts: Sequence[Chart] = (), *, definitions: str
) -> str:
    """The charts and tables as an HTML fragment for the email body (empty tables left out),
    ending with how the figures are computed and a link to their `definitions`."""
    images = [(chart_cid(n), alt_text(chart)) for n, chart in enumerate(charts)]
    inline = [_inline(table) for table in tables if table.total]
    return templates.get_template("report.inline.html.j2").render(
        images=images,
        tables=inline,
        content_px=CONTENT_PX,
        how_computed=HOW_COMPUTED,
        definitions=definitions,
    )


async def write(page: Page) -> bytes:
    definitions = page.branding.definitions_link()
    tables = page.footnoted(shown_columns)
    return fragment(tables, page.report.charts, definitions=definitions).encode()
