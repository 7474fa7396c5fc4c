"""The inline HTML table an `html` schedule puts in the email body.

Mail clients ignore style sheets and scripts, so every style is inline; all
text is autoescaped (a campaign named `<script>` shows as text). Long tables
stop at the configured row cap with a "showing N of M rows" note.
"""

from __future__ import annotations

from collections.abc import Sequence

from herald.services.renderer.formats.cells import DisplayTable
from herald.services.renderer.formats.page import Page
from herald.services.renderer.formats.templates import templates

CONTENT_TYPE = "text/html; charset=utf-8"


def fragment(tables: Sequence[DisplayTable]) -> str:
    """The tables as an HTML fragment for the email body (empty tables are left out)."""
    with_rows = [table for table in tables if table.total]
    return templates.get_template("report.inline.html.j2").render(tables=with_rows)


async def write(page: Page) -> bytes:
    return fragment(page.tables).encode()
