"""The PDF's HTML before WeasyPrint sees it: heading, branding, tiles, charts, tables."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from markupsafe import escape

from herald.services.renderer.formats import layout
from herald.services.renderer.formats.cells import DisplayTable
from herald.services.renderer.formats.page import HOW_COMPUTED, Page
from herald.services.renderer.formats.pdf import Heading, compose, write
from herald.services.renderer.formats.worker import chart_slot
from herald.services.renderer.reports.chart import Chart, ChartKind, Series
from herald.services.renderer.reports.model import Column, ColumnKind, Headline, ReportData, Table
from herald.shared.contract.messages import DataWindow, HeadlineTile, RunDetails, Tone
from herald.shared.contract.schedule_spec import ReportFormat, ReportRef
from herald.shared.runtime.settings import BrandingSettings
from tests.fakes.renderer import FakePrinter
from tests.samples import run_details

LOGO = "data:image/png;base64,iVBORw0KGgo="
DEFINITIONS = "https://acme.example.com/docs/reports?a=1&b=2"
D = Decimal
CHART = Chart("Calls per day", ChartKind.TREND, ("1 Nov", "2 Nov"), (Series("Calls", (3, 4)),))


def _heading(title: str = "Campaign Summary", accent: str = "#2f5d8a") -> Heading:
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
        definitions=DEFINITIONS,
        accent=accent,
    )


def _table(columns: int, rows: int) -> DisplayTable:
    figures = (Column(f"c{n}", f"Figure {n}", ColumnKind.INTEGER) for n in range(columns - 1))
    cols = (Column("name", "Name"), *figures)
    body = [[f"row {r}", *(f"{r * n:,}" for n in range(columns - 1))] for r in range(rows)]
    return DisplayTable(None, cols, body, ["Total", *("0" for _ in range(columns - 1))], rows)


def _cells(html: str, tag: str) -> list[str]:
    """The text of every `tag` element (`th`, `td`), markup inside it removed."""
    return [
        re.sub(r"<[^>]+>", "", inner) for inner in re.findall(rf"<{tag}\b[^>]*>(.*?)</{tag}>", html)
    ]


def test_the_heading_carries_branding_period_filters_and_a_link_back() -> None:
    html = compose(_heading(), [_table(3, 5)])
    assert f'<img src="{LOGO}" alt="Acme &#34;Dialer&#34; logo">' in html
    assert "Acme &#34;Dialer&#34;" in html  # escaped in the page
    assert 'content: "Acme  Dialer  · Campaign Summary"' in html  # and safe in the CSS footer
    assert 'href="https://acme.example.com/reports/standard/campaign_summary?start=x"' in html
    assert "2026-11-20 to 2026-11-26 (Europe/Berlin) · Campaigns: solar" in html
    assert "Hours are local to Europe/Berlin." in html
    assert 'counter(page) " of " counter(pages)' in html
    assert "size: A4 portrait" in html
    # A screen reader needs the document's language and title.
    assert '<html lang="en">' in html
    assert "<title>Campaign Summary</title>" in html


def test_the_brand_colour_is_the_accent_and_nothing_else_reaches_the_style_sheet() -> None:
    assert "solid #c0ffee" in compose(_heading(accent="#c0ffee"), [_table(3, 5)])
    with pytest.raises(ValueError, match="rrggbb"):
        compose(_heading(accent="red; } body { display: none"), [_table(3, 5)])


def test_every_header_is_a_column_header_whole_and_numbers_align_right() -> None:
    long = Column(
        "sales", "Sales per logged-in hour of the agents on the campaign", ColumnKind.DECIMAL
    )
    table = DisplayTable(
        "By agent",
        (Column("agent", "Agent"), long),
        [["Ann", "12.5"], ["Bob", "3.0"]],
        None,
        2,
    )
    html = compose(_heading(), [table])
    assert "<caption>By agent</caption>" in html
    assert _cells(html, "th") == ["Agent", long.label]
    assert re.search(r'<th scope="col" class="n">Sales per', html)
    assert re.search(r'<td class="n">12\.5</td>', html)


def test_a_small_table_is_a_cell_per_value_with_its_totals_row() -> None:
    html = compose(_heading(), [_table(3, 5)])
    assert _cells(html, "td")[:3] == ["row 0", "0", "0"]
    assert _cells(html, "td")[-3:] == ["Total", "0", "0"]
    assert '<tr class="totals">' in html
    assert 'class="lines"' not in html


def test_long_values_are_whole_in_the_html_to_wrap_in_their_column() -> None:
    value = "Insurance renewals, north region, second attempt after the summer campaign"
    table = DisplayTable(None, (Column("name", "Name"),), [[value]], None, 1)
    assert _cells(compose(_heading(), [table]), "td") == [value]


def test_a_table_past_the_cell_budget_is_set_as_lines_under_real_headers() -> None:
    rows = layout.CELL_BUDGET // 3 + 1
    html = compose(_heading(), [_table(3, rows)])
    assert _cells(html, "th") == ["Name", "Figure 0", "Figure 1"]
    bands = re.findall(r'<td class="lines" colspan="3">(.*?)</td>', html, flags=re.S)
    assert len(bands) == -(-rows // layout.BAND_ROWS) + 1  # and the totals
    lines = "\n".join(bands).split("\n")
    assert [line.split()[:2] for line in lines[:-1]] == [["row", str(r)] for r in range(rows)]
    assert lines[-1].split() == ["Total", "0", "0"]


def test_long_values_in_lines_wrap_onto_more_lines_of_their_row() -> None:
    value = " ".join(f"word{n}" for n in range(40))
    columns = (Column("note", "Note"), Column("calls", "Calls", ColumnKind.INTEGER))
    body = [[value, "1"], *([["short", "2"]] * (layout.CELL_BUDGET // 2))]
    table = DisplayTable(None, columns, body, None, len(body))
    html = compose(_heading(), [table])
    first = re.search(r'<td class="lines" colspan="2">(.*?)</td>', html, flags=re.S)
    assert first is not None
    lines = first.group(1).split("\n")
    height = next(n for n, line in enumerate(lines) if line.startswith("short"))
    assert height > 1
    assert lines[0].split()[-1] == "1"  # the row's number on its first line
    words = " ".join(lines[:height]).split()
    words.remove("1")
    assert words == value.split()


def test_wide_tables_turn_the_page_to_landscape() -> None:
    assert "size: A4 portrait" in compose(_heading(), [_table(8, 5)])
    assert "size: A4 landscape" in compose(_heading(), [_table(24, 5)])


def test_an_empty_report_says_so() -> None:
    html = compose(_heading(), [_table(3, 0)])
    assert "No data for this period." in html
    assert "<table" not in html


def test_headline_tiles_show_the_figure_the_previous_one_and_the_change_in_words_too() -> None:
    tiles = [
        HeadlineTile(
            label="Sales", value="1,204", previous="1,000", change="+20.4 %", tone=Tone.GOOD
        ),
        HeadlineTile(
            label="Abandon %", value="4.0 %", previous="3.0 %", change="+33.3 %", tone=Tone.BAD
        ),
        HeadlineTile(label="Calls", value="900", previous="1,000", change="\u221210.0 %"),
        HeadlineTile(label="Agents", value="12"),
    ]
    html = compose(_heading(), [_table(3, 5)], tiles)
    shown = [
        " ".join(re.sub(r"<[^>]+>", " ", tile).split())
        for tile in re.findall(r'<li class="tile \w+">(.*?)</li>', html, flags=re.S)
    ]
    assert shown == [
        "Sales 1,204 prev. 1,000 ▲ +20.4 %",
        "Abandon % 4.0 % prev. 3.0 % ▲ +33.3 %",
        "Calls 900 prev. 1,000 ▼ \u221210.0 %",
        "Agents 12",
    ]
    tones = re.findall(r'<li class="tile (\w+)">', html)
    assert tones == ["good", "bad", "neutral", "neutral"]


def test_each_chart_has_its_slot_for_the_worker_and_no_chart_no_slot() -> None:
    html = compose(_heading(), [_table(3, 5)], charts=[CHART, CHART])
    assert html.count('<figure class="chart">') == 2
    assert chart_slot(0) in html
    assert chart_slot(1) in html
    assert "<!--chart" not in compose(_heading(), [_table(3, 5)])


def test_text_from_the_data_is_escaped_and_cannot_forge_a_chart_slot() -> None:
    table = _table(2, 1)
    evil = DisplayTable(None, table.columns, [["<script>alert(1)</script>", "1"]], None, 1)
    html = compose(_heading(f"<b>Title</b>{chart_slot(0)}"), [evil])
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;b&gt;Title&lt;/b&gt;" in html
    assert chart_slot(0) not in html


async def test_write_hands_the_charts_and_the_brand_colour_to_the_printer() -> None:
    printer = FakePrinter()
    column = Column("sales", "Sales", ColumnKind.INTEGER)
    report = ReportData(
        "Campaign Summary",
        (Table(_table(3, 2).columns, []),),
        headlines=(Headline("Sales", column, 120, 100),),
        charts=(CHART,),
    )
    run = RunDetails(
        run_id="r1",
        scheduled_for=datetime(2026, 11, 27, 8, tzinfo=UTC),
        schedule_name="Weekly",
        report=ReportRef(id="campaign_summary"),
        window=DataWindow(
            start=datetime(2026, 11, 20, tzinfo=UTC),
            end=datetime(2026, 11, 27, tzinfo=UTC),
            timezone="UTC",
        ),
        format=ReportFormat.PDF,
        recipients=["ops@example.com"],
    )
    branding = BrandingSettings(brand_colour="#c0ffee")
    page = Page(report, run, [_table(3, 2)], 100, branding, None, printer, "Campaigns: Zürich")
    body = await write(page)
    assert printer.charts == [(CHART, "#c0ffee")]
    html = body.decode()
    assert "Campaigns: Zürich" in html  # the line the email shows too, names and all
    assert chart_slot(0) in html
    assert "prev. 100" in html
    assert "▲ +20" in html


def test_every_pdf_ends_with_how_its_figures_are_computed_and_where_they_are_defined() -> None:
    for tables in ([_table(3, 5), _table(3, 2)], [_table(3, 0)]):  # with data, and without
        html = compose(_heading(), tables)
        footer = re.search(r"<footer>(.*?)</footer>", html, re.S)
        assert footer is not None
        assert str(escape(HOW_COMPUTED)) in footer[1]
        link = "https://acme.example.com/docs/reports?a=1&amp;b=2"
        assert f'<a href="{link}">{link}</a>' in footer[1]
        assert html.index("<footer>") > max(html.rfind("</table>"), html.rfind("No data"))


def test_the_rounding_footnote_sits_under_the_table_whose_rows_miss_its_total() -> None:
    note = "Totals are computed from unrounded values, so the rounded rows of X do not add up."
    missed = replace(_table(3, 2), footnote=note)
    html = compose(_heading(), [_table(3, 2), missed, _table(3, 2)])
    assert html.count('class="footnote"') == 1
    at = html.index(f'<p class="footnote">{note}</p>')
    tables = [m.start() for m in re.finditer("<table", html)]
    assert tables[1] < at < tables[2]
    # Set as lines of text (past the cell budget), a table keeps its footnote.
    long = replace(_table(12, 120), footnote=note)
    assert 'td class="lines"' in compose(_heading(), [long])
    assert f'<p class="footnote">{note}</p>' in compose(_heading(), [long])


async def test_write_adds_the_footnote_from_every_row_and_links_the_tenants_definitions() -> None:
    minutes = Column("talk_minutes", "Talk minutes", ColumnKind.DECIMAL, summed=True)
    columns = (Column("campaign", "Campaign"), minutes)
    # 87 s of talk each: 1.45 min shows 1.5; the total 261 s, 4.35 min, shows 4.4, not 4.5.
    table = Table(columns, [("Solar", D("1.5")), ("Care", D("1.5")), ("Home", D("1.5"))])
    report = ReportData("Campaign Summary", (replace(table, totals=("Total", D("4.4"))),))
    # The PDF shows the first row only: the footnote is about all three.
    shown = DisplayTable(None, columns, [["Solar", "1.5"]], ["Total", "4.4"], 3)
    tenant = BrandingSettings(platform_base_url="https://acme.example.com/")
    run = run_details(format=ReportFormat.PDF)
    page = Page(report, run, [shown], 1, tenant, None, FakePrinter(), "All campaigns")
    html = (await write(page)).decode()
    assert "the rounded rows of Talk minutes do not add up to them exactly." in html
    assert 'href="https://acme.example.com/docs/reports"' in html

    adding_up = replace(report, tables=(replace(table, totals=("Total", D("4.5"))),))
    own = BrandingSettings(definitions_url="https://docs.example.com/herald/reports.html")
    page = Page(adding_up, run, [shown], 1, own, None, FakePrinter(), "All campaigns")
    html = (await write(page)).decode()
    assert "footnote" not in html.split("</style>")[1]
    assert 'href="https://docs.example.com/herald/reports.html"' in html
