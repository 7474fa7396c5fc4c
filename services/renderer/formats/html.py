"""The inline HTML table an `html` schedule puts in the email body.

Mail clients ignore style sheets and scripts, so every style is inline; all
text is autoescaped (a campaign named `<script>` shows as text). Long tables
stop at the configured row cap with a "showing N of M rows" note.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.renderer.formats.cells import DisplayTable

CONTENT_TYPE = "text/html; charset=utf-8"

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def fragment(tables: Sequence[DisplayTable]) -> str:
    """The tables as an HTML fragment for the email body (empty tables are left out)."""
    with_rows = [table for table in tables if table.total]
    return _env.get_template("report.inline.html.j2").render(tables=with_rows)
