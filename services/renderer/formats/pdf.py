"""The PDF: the report's heading, headline tiles, charts and tables (sized by `layout.py`),
and a footer on how its figures are computed, linking to their definitions.

`compose` is pure and runs in the service: the HTML, with a placeholder where
each chart goes. `worker.to_pdf` runs in a pool worker (`pool.py`), never on the
event loop: it draws the charts there (matplotlib, `charts.py`) as SVG, so
they stay vector with real text, and prints a tagged PDF (PDF/UA-1: a
structure tree a screen reader follows, a title, a language, alt text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup

from herald.services.renderer.formats import layout
from herald.services.renderer.formats.cells import DisplayTable
from herald.services.renderer.formats.faces import FAMILY, FONT_FACES
from herald.services.renderer.formats.headlines import tiles
from herald.services.renderer.formats.page import HOW_COMPUTED, Page
from herald.services.renderer.formats.templates import templates
from herald.services.renderer.formats.worker import chart_slot
from herald.services.renderer.reports.chart import Chart
from herald.services.renderer.reports.model import Column
from herald.shared.contract.messages import HeadlineTile
from herald.shared.runs.text import change_arrow, period_text, platform_link
from herald.shared.runtime.settings import BrandingSettings

CONTENT_TYPE = "application/pdf"
#: A chart's width: as drawn (592 CSS px) on a portrait page; two to a row on a landscape one.
CHART_PT = 444.0
CHART_GAP_PT = 12.0
#: The accent (rules, link, tiles) and the charts' first colour unless the branding sets one.
DEFAULT_ACCENT: str = BrandingSettings.model_fields["brand_colour"].default
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True, slots=True)
class Heading:
    platform_name: str
    logo_uri: str | None
    link: str
    title: str
    period: str
    timezone: str
    filters: str
    generated: str
    notes: tuple[str, ...]
    #: Where the definitions of the figures are (`BrandingSettings.definitions_link`).
    definitions: str
    #: `#rrggbb`: it goes into the style sheet, where escaping cannot help.
    accent: str = DEFAULT_ACCENT


@dataclass(frozen=True, slots=True)
class _TileStyle:
    """A headline tile's sizes, in points: the style sheet is written from them, and
    `_tile_height_pt` measures with them. Its value's size goes by its length (`_value_pt`)."""

    label_pt: float = 8.0
    previous_pt: float = 7.5
    change_pt: float = 8.5
    line_em: float = 1.25
    rule_pt: float = 2.0
    pad_top_pt: float = 4.0
    pad_bottom_pt: float = 5.0
    pad_side_pt: float = 6.0
    gap_pt: float = 6.0


TILE = _TileStyle()


@dataclass(frozen=True, slots=True)
class _Tile:
    """One headline tile as the template places it."""

    tile: HeadlineTile
    arrow: str
    value_pt: float


def _value_pt(value: str) -> float:
    """A long figure in a smaller size, so most fit their tile on one line."""
    return 15.0 if len(value) <= 10 else 12.0 if len(value) <= 14 else 10.0


def _tile_height_pt(tiles: Sequence[_Tile], width_pt: float) -> float:
    """The tallest tile's height, text measured as `layout.py` measures it: every tile is
    given it, so the tiles of a row stand level.

    A flex row, which levels its items itself, cost WeasyPrint 18 ms a PDF (a fifth of a
    one-page report, 2 % of a 1,000-row one); inline blocks of a known height, nothing.
    Should Pango break a label where the measure did not, that tile alone stands a line
    taller.
    """
    inner_pt = width_pt - 2 * TILE.pad_side_pt

    def lines(text: str, size_pt: float, bold: bool) -> int:
        return len(layout.wrap(text, int(inner_pt / size_pt * layout.UNITS_PER_EM), bold))

    def text_pt(shown: _Tile) -> float:
        tile = shown.tile
        sized = [
            TILE.label_pt * lines(tile.label, TILE.label_pt, False),
            shown.value_pt * lines(tile.value, shown.value_pt, True),
            TILE.previous_pt * lines(f"prev. {tile.previous}", TILE.previous_pt, False)
            if tile.previous is not None
            else 0.0,
            TILE.change_pt * lines(f"{shown.arrow}{tile.change}", TILE.change_pt, True)
            if tile.change is not None
            else 0.0,
        ]
        return sum(sized) * TILE.line_em

    tallest = max((text_pt(t) for t in tiles), default=0.0)
    return round(tallest + TILE.rule_pt + TILE.pad_top_pt + TILE.pad_bottom_pt, 2)


@dataclass(frozen=True, slots=True)
class _Table:
    """One table as the template places it: cells (`rows`), or lines of text (`bands`)."""

    title: str | None
    columns: tuple[Column, ...]
    columns_pt: tuple[float, ...]
    rows: Sequence[Sequence[str]]
    totals: Sequence[str] | None
    #: Bands of rows set as lines of text, and the totals as lines.
    bands: tuple[str, ...]
    totals_line: str | None
    footnote: str | None


async def write(page: Page) -> bytes:
    """The run's PDF: heading, a note when a table was cut, tiles, charts, tables; printed
    (and its charts drawn) by the pool."""
    if page.printer is None:
        raise RuntimeError("this renderer has no PDF pool")
    notes = list(page.report.notes)
    if any(t.total > t.shown for t in page.tables):
        notes.append(
            f"This PDF shows the first {page.cap:,} rows of each table; "
            "the full data is attached as CSV."
        )
    run = page.run
    heading = Heading(
        platform_name=page.branding.platform_name,
        logo_uri=page.logo_uri,
        link=platform_link(run, page.branding),
        title=page.report.title,
        period=period_text(run.window),
        timezone=run.window.timezone,
        filters=page.filters,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        notes=tuple(notes),
        definitions=page.branding.definitions_link(),
        accent=page.branding.brand_colour,
    )
    charts = page.report.charts
    html_ = compose(heading, page.footnoted(), tiles(page.report.headlines), charts)
    return await page.printer.render(html_, charts, page.branding.brand_colour)


def compose(
    heading: Heading,
    tables: Sequence[DisplayTable],
    headline_tiles: Sequence[HeadlineTile] = (),
    charts: Sequence[Chart] = (),
) -> str:
    """The PDF's HTML: every table in one orientation and font size, each its own widths."""
    if not _COLOUR.fullmatch(heading.accent):
        raise ValueError(f"the accent colour must be #rrggbb, not {heading.accent!r}")
    shapes = [layout.shape(t.columns, t.rows, t.totals) for t in tables]
    landscape = any(s.landscape for s in shapes)
    font_pt = min((s.font_pt for s in shapes), default=layout.LARGEST_PT)
    fitted = [layout.Shape(landscape, font_pt, s.widths) for s in shapes]
    sizes = [(len(t.rows) + (t.totals is not None)) * len(t.columns) for t in tables]
    shown = (
        [
            _table(table, shape, cells)
            for table, shape, cells in zip(tables, fitted, layout.as_cells(sizes), strict=True)
        ]
        if any(t.rows for t in tables)
        else []  # the template says there is no data
    )
    common = layout.Shape(landscape, font_pt, ())
    shown_tiles = [_Tile(t, change_arrow(t.change), _value_pt(t.value)) for t in headline_tiles]
    per_row = _per_row(len(shown_tiles), 6 if landscape else 4)
    tile_pt = (layout.LANDSCAPE_PT if landscape else layout.PORTRAIT_PT) / per_row - TILE.gap_pt
    return templates.get_template("report.pdf.html.j2").render(
        heading=heading,
        font_faces=Markup(FONT_FACES),
        family=FAMILY,
        tiles=shown_tiles,
        tile_style=TILE,
        tile_pt=round(tile_pt, 2),
        tile_height_pt=_tile_height_pt(shown_tiles, tile_pt),
        charts=[Markup(chart_slot(n)) for n in range(len(charts))],
        chart_pt=CHART_PT if not landscape else (layout.LANDSCAPE_PT - CHART_GAP_PT) / 2,
        chart_gap_pt=CHART_GAP_PT,
        tables=shown,
        landscape=landscape,
        font_pt=font_pt,
        line_pt=common.line_pt,
        pad_pt=common.pt(layout.GAP // 2),
        how_computed=HOW_COMPUTED,
    )


def _table(table: DisplayTable, shape: layout.Shape, cells: bool) -> _Table:
    columns_pt, footnote = shape.columns_pt, table.footnote
    if cells:
        return _Table(
            table.title, table.columns, columns_pt, table.rows, table.totals, (), None, footnote
        )
    bands = tuple(layout.bands(table.columns, shape, table.rows))
    totals = (
        "\n".join(layout.row_lines(table.columns, shape, table.totals, bold=True))
        if table.totals is not None
        else None
    )
    return _Table(table.title, table.columns, columns_pt, (), None, bands, totals, footnote)


def _per_row(count: int, most: int) -> int:
    """Tiles to a row: as few rows as `most` allows, evenly filled (six: two rows of three)."""
    rows = max(1, -(-count // most))
    return max(1, -(-count // rows))
