"""The inline HTML fragment: which columns fit the email's 592 px, and how the rest are named."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from markupsafe import escape

from herald.services.renderer.formats import html
from herald.services.renderer.formats.cells import DisplayTable, display_row
from herald.services.renderer.formats.charts import alt_text
from herald.services.renderer.formats.page import HOW_COMPUTED, Page
from herald.services.renderer.reports.chart import Chart, ChartKind, Series
from herald.services.renderer.reports.model import Column, ReportData, Row, Table
from herald.services.renderer.reports.model import ColumnKind as K
from herald.shared.contract.schedule_spec import ReportFormat
from herald.shared.runtime.settings import BrandingSettings
from tests.samples import run_details

D = Decimal


def _table(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], total: int | None = None
) -> DisplayTable:
    return DisplayTable("T", tuple(columns), rows, None, len(rows) if total is None else total)


def _money(label: str) -> Column:
    return Column(label.lower().replace(" ", "_"), label, K.MONEY)


NAME = Column("campaign", "Campaign")
DEFINITIONS = "https://acme.example.com/docs/reports"


def test_a_number_counts_in_full_and_text_wraps_at_the_wrap_width() -> None:
    figures = html.column_px(_money("Revenue"), ["1,234,567.89"])
    assert figures == 12 * html.DIGIT_PX + html.CELL_PADDING_PX
    long_name = "Home Insurance Renewals for the North West region"
    assert html.column_px(NAME, [long_name]) == html.TEXT_WRAP_PX + html.CELL_PADDING_PX
    # A word cannot wrap (a break after a hyphen can), so the longest word still counts.
    word = "Kundenrückgewinnungsaktion" * 2
    assert html.column_px(NAME, [word]) == len(word) * html.TEXT_PX + html.CELL_PADDING_PX
    split = html.column_px(NAME, ["Kundenrückgewinnungsaktion-" * 2])
    assert split == len("Kundenrückgewinnungsaktion-") * html.TEXT_PX + html.CELL_PADDING_PX


def test_a_header_wraps_to_two_lines_at_its_best_space() -> None:
    # "Cost per" / "acquisition": the longer line has 11 characters.
    width = html.column_px(_money("Cost per acquisition"), ["1.00"])
    assert width == 11 * html.HEADER_PX + html.CELL_PADDING_PX
    assert html.column_px(_money("Net"), ["1,000,000.00"]) > 3 * html.HEADER_PX + 16


def test_a_narrow_table_keeps_every_column() -> None:
    table = _table([NAME, Column("calls", "Calls", K.INTEGER)], [["Solar", "1,204"]])
    assert html.shown_columns(table) == (0, 1)
    assert html.dropped_columns(table) == ()
    assert not html.hides_columns([table])
    assert "more column" not in html.fragment([table], definitions=DEFINITIONS)


def test_columns_are_kept_in_order_while_they_fit_and_a_narrower_later_one_still_shows() -> None:
    wide = [_money(f"Cost {n}") for n in range(1, 5)]  # 18 characters each: 136.6 px
    narrow = Column("roi_pct", "ROI %", K.PERCENT)  # "12.5 %": 56.2 px
    table = _table([NAME, *wide, narrow], [["Solar", *["123,456,789,012.34"] * 4, "12.5 %"]])
    # Campaign 72 px and three wide columns make 481.8 px: a fourth would pass 592, ROI % not.
    assert html.shown_columns(table) == (0, 1, 2, 3, 5)
    assert html.dropped_columns(table) == (wide[3],)
    assert html.hides_columns([table])
    widths = [
        html.column_px(c, [row[i] for row in table.rows]) for i, c in enumerate(table.columns)
    ]
    assert sum(widths[i] for i in html.shown_columns(table)) <= html.CONTENT_PX


def test_headline_metric_columns_show_before_any_other_even_past_the_width() -> None:
    """Campaign Summary's Outbound table showed Answered and left out Conversions, the column
    behind its "Outbound conversions" tile: a key column that did not fit was skipped, and a
    narrower column after it took its place."""
    wide = [_money(f"Cost {n}") for n in range(1, 5)]  # 136.6 px each
    narrow = Column("calls", "Calls", K.INTEGER)  # "1,204": 58 px
    line = ["Solar", "1,204", *["123,456,789,012.34"] * 4]
    plain = _table([NAME, narrow, *wide], [line])
    # Campaign 72 px, Calls and three wide columns make 539.8 px: the fourth does not fit.
    assert html.shown_columns(plain) == (0, 1, 2, 3, 4)
    keys = ("cost_1", "cost_2", "cost_3", "cost_4")
    table = replace(plain, key_columns=keys)
    assert html.shown_columns(table) == (0, 2, 3, 4, 5)
    assert html.dropped_columns(table) == (narrow,)
    headers = re.findall(r"<th [^>]*>([^<]*)</th>", html.fragment([table], definitions=DEFINITIONS))
    assert headers == ["Campaign", "Cost 1", "Cost 2", "Cost 3", "Cost 4"]


def test_the_first_column_shows_even_when_nothing_else_fits() -> None:
    word = "x" * 120  # 780 px
    table = _table([NAME, Column("calls", "Calls", K.INTEGER)], [[word, "1"]])
    assert html.shown_columns(table) == (0,)
    assert html.dropped_columns(table) == (table.columns[1],)


def test_an_empty_table_hides_nothing_since_the_fragment_leaves_it_out() -> None:
    table = _table([NAME, *[_money(f"Cost {n}") for n in range(12)]], [], total=0)
    assert html.dropped_columns(table)
    assert not html.hides_columns([table])


def _roi(rows: int, total: int) -> DisplayTable:
    columns = [NAME, *[_money(f"Cost {n}") for n in range(1, 8)]]
    line = ["Solar <b>", *["1,234,567.89"] * 7]
    return _table(columns, [line] * rows, total)


def test_the_fragment_shows_the_kept_columns_and_names_the_rest() -> None:
    fragment = html.fragment([_roi(2, 2)], definitions=DEFINITIONS)
    headers = re.findall(r"<th [^>]*>([^<]*)</th>", fragment)
    assert headers == ["Campaign", "Cost 1", "Cost 2", "Cost 3", "Cost 4", "Cost 5"]
    assert "2 more columns are in the attached CSV: Cost 6, Cost 7." in fragment
    assert "Solar &lt;b&gt;" in fragment
    # Text and headers wrap; figures never do.
    cells = re.findall(r'<td style="([^"]*)">([^<]*)</td>', fragment)
    assert all(("nowrap" in style) == (text != "Solar &lt;b&gt;") for style, text in cells)
    assert "nowrap" not in "".join(re.findall(r"<th [^>]*>", fragment))


def test_one_dropped_column_and_a_row_cap_share_one_note() -> None:
    table = _table([NAME, *[_money(f"Cost {n}") for n in range(1, 7)]], [["a", *["9" * 12] * 6]])
    capped = DisplayTable(table.title, table.columns, table.rows, None, 1200)
    note = re.search(r"<p [^>]*>([^<]*)</p>", html.fragment([capped], definitions=DEFINITIONS))
    assert note is not None
    assert note[1] == (
        "Showing 1 of 1,200 rows; the full data is attached as CSV. "
        "1 more column is in the attached CSV: Cost 6."
    )


def test_charts_show_above_the_tables_by_content_id_with_their_text_alternative() -> None:
    chart = Chart(
        title='Calls by "day"',
        kind=ChartKind.TREND,
        categories=("Mon", "Tue"),
        series=(Series("Calls", (10.0, 12.0)),),
        unit="calls",
    )
    fragment = html.fragment([_roi(1, 1)], [chart, chart], definitions=DEFINITIONS)
    images = re.findall(r"<img [^>]*>", fragment)
    assert images[0] == (
        f'<img src="cid:chart-0@herald" alt="{escape(alt_text(chart))}" width="592"'
        ' style="width:100%;max-width:592px;height:auto">'
    )
    assert 'src="cid:chart-1@herald"' in images[1]
    assert html.chart_cid(1) == "chart-1@herald"
    assert fragment.index("<img") < fragment.index("<table")


def test_the_fragment_ends_with_how_the_figures_are_computed_and_a_link_to_them() -> None:
    for tables in ([_roi(2, 2)], []):  # with data, and without
        fragment = html.fragment(tables, definitions=DEFINITIONS + "?a=1&b=2")
        footer = fragment.rstrip().splitlines()[-1]
        assert str(escape(HOW_COMPUTED)) in footer
        link = DEFINITIONS + "?a=1&amp;b=2"
        assert f'<a href="{link}" style="color:#2563eb;">{link}</a></p>' in footer


def test_a_footnote_follows_its_table_even_when_columns_are_left_out() -> None:
    note = "Totals are computed from unrounded values, so the rounded rows of X do not add up."
    narrowed = replace(_roi(2, 2), footnote=note)  # too wide: two columns are left out
    fragment = html.fragment([narrowed, _roi(1, 1)], definitions=DEFINITIONS)
    assert fragment.count(note) == 1
    first_end = fragment.index("</table>")
    assert first_end < fragment.index(note) < fragment.index("<table", first_end)
    assert note not in html.fragment([_roi(2, 2)], definitions=DEFINITIONS)


async def test_write_footnotes_a_table_from_every_row_and_links_the_tenants_definitions() -> None:
    share = Column("share_pct", "Share %", K.PERCENT, summed=True)
    columns = (Column("disposition", "Disposition"), share)
    rows: list[Row] = [("Sale", D("33.3")), ("Callback", D("33.3")), ("No interest", D("33.3"))]
    report = ReportData("Disposition Summary", (Table(columns, rows, ("Total", D("100.0"))),))
    shown = DisplayTable(None, columns, [["Sale", "33.3 %"]], ["Total", "100.0 %"], 3)
    tenant = BrandingSettings(platform_base_url="https://acme.example.com")
    run = run_details(format=ReportFormat.HTML)
    fragment = (await html.write(Page(report, run, [shown], 1, tenant, None, None, ""))).decode()
    assert "the rounded rows of Share % do not add up to them exactly." in fragment
    assert 'href="https://acme.example.com/docs/reports"' in fragment


async def test_the_footnote_names_only_columns_the_email_shows() -> None:
    """It named Talk minutes, which the email left to the attached CSV: the reader saw no
    such column to add up (the PDF, which shows every column, names it)."""
    wait, talk = (
        Column(f"{what.lower()}_minutes", f"{what} minutes", K.DECIMAL, summed=True)
        for what in ("Wait", "Talk")
    )
    columns = (NAME, wait, *[_money(f"Cost {n}") for n in range(1, 5)], talk)
    # 87 s each: rows of 1.5 minutes (1.45), the total of 261 s 4.4, not 4.5.
    row: Row = ("Solar", D("1.5"), *[D("123456789012.34")] * 4, D("1.5"))
    totals: Row = ("Total", D("4.4"), *[D("370370367037.02")] * 4, D("4.4"))
    table = Table(columns, [row] * 3, totals)
    lines = [display_row(columns, line) for line in table.rows]
    shown = DisplayTable(None, columns, lines, display_row(columns, totals), 3)
    # Campaign 72 px, Wait minutes 65 px, three costs 409.8 px: Cost 4 and Talk minutes are out.
    assert html.dropped_columns(shown) == (columns[5], talk)
    run = run_details(format=ReportFormat.HTML)
    report = ReportData("Campaign Summary", (table,))
    page = Page(report, run, [shown], 3, BrandingSettings(), None, None, "")
    fragment = (await html.write(page)).decode()
    assert "the rounded rows of Wait minutes do not add up to them exactly." in fragment
    [pdf_table] = page.footnoted()
    assert pdf_table.footnote is not None
    assert "rows of Wait minutes, Talk minutes do not" in pdf_table.footnote
