"""The PDF: the report's heading and its tables laid out as text pages (see `layout.py`).

`compose` is pure and runs in the service; `to_pdf` is the only WeasyPrint
call and runs in a pool worker (`pool.py`), never on the event loop.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from herald.services.renderer.formats import layout
from herald.services.renderer.formats.cells import DisplayTable
from herald.services.renderer.formats.page import Page
from herald.services.renderer.formats.templates import templates
from herald.shared.runs.text import period_text, platform_link

if TYPE_CHECKING:
    from weasyprint.text.fonts import FontConfiguration

CONTENT_TYPE = "application/pdf"


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


async def write(page: Page) -> bytes:
    """The run's PDF: its heading, a note when a table was cut, the tables, printed by the pool."""
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
        filters=run.filters.summary(),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        notes=tuple(notes),
    )
    return await page.printer.render(compose(heading, page.tables))


def compose(heading: Heading, tables: Sequence[DisplayTable]) -> str:
    """The PDF's HTML: each table its own widths, all one orientation and font size."""
    shapes = [layout.shape(t.columns, [*t.rows, *([t.totals] if t.totals else [])]) for t in tables]
    if not shapes:
        return _render(heading, [[]], layout.shape([], []))
    landscape = any(s.landscape for s in shapes)
    font_pt = min(s.font_pt for s in shapes)
    lines = []
    for table, own in zip(tables, shapes, strict=True):
        fitted = layout.Shape(landscape, font_pt, own.widths)
        lines.append(
            layout.TableLines(
                table.title,
                tuple(layout.header_lines(table.columns, fitted)),
                [layout.line(table.columns, fitted, row) for row in table.rows],
                layout.line(table.columns, fitted, table.totals) if table.totals else None,
            )
        )
    common = layout.Shape(landscape, font_pt, ())
    pages = layout.paginate(lines, common) if any(t.rows for t in tables) else [[]]
    return _render(heading, pages, common)


def _render(heading: Heading, pages: list[list[layout.Block]], shape: layout.Shape) -> str:
    return templates.get_template("report.pdf.html.j2").render(
        heading=heading,
        pages=pages,
        landscape=shape.landscape,
        font_pt=shape.font_pt,
        line_pt=round(shape.line_pt, 3),
        heading_pt=layout.HEADING_PT,
        title_pt=layout.TITLE_PT,
        gap_pt=layout.GAP_PT,
    )


@functools.cache
def _fonts() -> FontConfiguration:
    """One font configuration per worker, shared by its renders.

    A configuration of its own per render cost a quarter of the render's CPU
    (57 ms against 41), and the fonts each one loaded stayed in the worker: 25 MB
    more every hundred renders. Shared, a worker holds at about 85 MB. The templates
    declare no `@font-face`, so nothing a render adds reaches the next.
    """
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


def to_pdf(html: str) -> bytes:
    """Runs in a pool worker: the one expensive call, kept off the event loop."""
    import weasyprint  # imported by the worker's initializer already; cheap here

    pdf: bytes = weasyprint.HTML(string=html).write_pdf(font_config=_fonts())
    return pdf


def warm_up() -> None:
    """A pool worker's initializer: import WeasyPrint and load fonts before the first job."""
    to_pdf("<p>warm</p>")
