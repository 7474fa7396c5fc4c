"""The PDF's HTML before WeasyPrint sees it: heading, branding, orientation, empty reports."""

from __future__ import annotations

from herald.services.renderer.formats.cells import DisplayTable
from herald.services.renderer.formats.pdf import Heading, compose
from herald.services.renderer.reports.model import Column, ColumnKind

LOGO = "data:image/png;base64,iVBORw0KGgo="


def _heading(title: str = "Campaign Summary") -> Heading:
    return Heading(
        platform_name='Acme "Dialer"',
        logo_uri=LOGO,
        link="https://acme.example.com/reports/standard/campaign_summary?start=x",
        title=title,
        period="2026-11-20 to 2026-11-26",
        timezone="Europe/Berlin",
        filters="Campaigns: solar",
        generated="2026-11-27 08:00 UTC",
        notes=("Hours are local to Europe/Berlin.",),
    )


def _table(columns: int, rows: int) -> DisplayTable:
    figures = (Column(f"c{n}", f"Figure {n}", ColumnKind.INTEGER) for n in range(columns - 1))
    cols = (Column("name", "Name"), *figures)
    body = [[f"row {r}", *(f"{r * n:,}" for n in range(columns - 1))] for r in range(rows)]
    return DisplayTable(None, cols, body, ["Total", *("0" for _ in range(columns - 1))], rows)


def test_the_heading_carries_branding_period_filters_and_a_link_back() -> None:
    html = compose(_heading(), [_table(3, 5)])
    assert f'<img src="{LOGO}"' in html
    assert "Acme &#34;Dialer&#34;" in html  # escaped in the page
    assert 'content: "Acme  Dialer  · Campaign Summary"' in html  # and safe in the CSS footer
    assert 'href="https://acme.example.com/reports/standard/campaign_summary?start=x"' in html
    assert "2026-11-20 to 2026-11-26 (Europe/Berlin) · Campaigns: solar" in html
    assert "Hours are local to Europe/Berlin." in html
    assert 'counter(page) " of " counter(pages)' in html
    assert "size: A4 portrait" in html


def test_wide_tables_turn_the_page_to_landscape() -> None:
    assert "size: A4 landscape" in compose(_heading(), [_table(14, 5)])


def test_an_empty_report_says_so() -> None:
    html = compose(_heading(), [_table(3, 0)])
    assert "No data for this period." in html
    assert '<pre class="rows' not in html


def test_text_from_the_data_is_escaped() -> None:
    table = _table(2, 1)
    evil = DisplayTable(None, table.columns, [["<script>alert(1)</script>", "1"]], None, 1)
    html = compose(_heading("<b>Title</b>"), [evil])
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;b&gt;Title&lt;/b&gt;" in html
