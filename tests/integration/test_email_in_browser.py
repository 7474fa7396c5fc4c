"""Report emails as a browser shows them: Chromium at a phone's 375 px and a desktop's 800 px.

Each email is built the way the mailer builds it (`compose.compose`), with
the inline fragment the renderer makes (`html.fragment`) and a real chart PNG;
Chromium lays out its HTML part. Nothing may scroll the page sideways, the
frame is at most 640 px, the tiles wrap on a phone and stand level in a row,
and the inline table fits the frame, naming the columns it leaves to the CSV.
The screenshots stay in out/browser/ (ignored by git) to look at.
"""

from __future__ import annotations

import functools
import struct
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path

import pytest

from herald.cli import browser
from herald.services.mailer.compose import Attachment, Contents, compose
from herald.services.renderer.formats import charts, html
from herald.services.renderer.formats.cells import DisplayTable, display_row
from herald.services.renderer.reports.chart import Chart, ChartKind, Series
from herald.services.renderer.reports.model import Cell, Column
from herald.services.renderer.reports.model import ColumnKind as K
from herald.shared.contract.messages import HeadlineTile, Tone
from herald.shared.contract.schedule_spec import ReportFormat
from herald.shared.runs.text import Logo
from herald.shared.runtime.settings import BrandingSettings
from tests.samples import report_rendered, run_details

pytestmark = pytest.mark.integration

SHOTS = Path(__file__).resolve().parents[2] / "out" / "browser"
PHONE, DESKTOP = 375, 800
FRAME_PX = 640
BRANDING = BrandingSettings(
    platform_name="Dialer Pro", platform_base_url="https://app.example.com/"
)
MEASURE = {
    "tiles": ".herald-tile",
    "frame": ".herald-pad",
    "table boxes": 'div[style*="overflow-x:auto"]',
    "charts": 'img[src^="data:image/png"][width]',
}
TILES = [
    HeadlineTile(label="Calls", value="48,210", previous="45,002", change="+7.1 %", tone=Tone.GOOD),
    HeadlineTile(
        label="Revenue",
        value="4,938,271.56",
        previous="5,120,300.00",
        change="\u22123.6 %",
        tone=Tone.BAD,
    ),
    HeadlineTile(
        # Two lines in a tile: its row's other tiles stand as tall.
        label="Abandoned calls, share of inbound",
        value="3.1 %",
        previous="4.0 %",
        change="\u221222.5 %",
        tone=Tone.GOOD,
    ),
    HeadlineTile(label="ROI %", value="234.4 %", previous="234.4 %", change="0.0 %"),
    HeadlineTile(label="Active agents", value="37"),
]

ROI_COLUMNS = (
    Column("campaign", "Campaign"),
    Column("calls", "Calls", K.INTEGER),
    Column("contact_rate", "Contact rate %", K.PERCENT),
    Column("conversions", "Conversions", K.INTEGER),
    Column("revenue", "Revenue", K.MONEY),
    Column("call_cost", "Call cost", K.MONEY),
    Column("labour_cost", "Labour cost", K.MONEY),
    Column("total_cost", "Total cost", K.MONEY),
    Column("net", "Net", K.MONEY),
    Column("roi_pct", "ROI %", K.PERCENT),
    Column("cpa", "Cost per acquisition", K.MONEY),
)
CAMPAIGNS = (
    "Solar Panels Spring Push",
    "Home Insurance Renewals (North-West region)",
    "Fibre upgrade",
    "Kundenrückgewinnung Nordrhein-Westfalen (Frühjahrsaktion 2026)",
)

#: One word longer than a phone is wide: the email must break it, not scroll.
LONG_FILTER = "Campaign: " + "Kundenrückgewinnungsaktion" * 3


@dataclass(frozen=True, slots=True)
class Case:
    message: EmailMessage
    tiles: Sequence[HeadlineTile]
    #: The columns the inline table leaves to the CSV (none when there is no table).
    dropped: tuple[Column, ...] = ()
    charts: int = 0
    #: The inline table fits a phone without scrolling in its own box.
    fits_phone: bool = True


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A one-colour PNG (the logo), written by hand: no image library needed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


LOGO = Logo("logo.png", "image/png", _png(96, 32, (37, 99, 235)))


def _roi_table() -> DisplayTable:
    def row(name: str, n: int) -> tuple[Cell, ...]:
        revenue = Decimal("1234567.89") - 111111 * n
        cost = Decimal("369135.68") + 1000 * n
        return (
            name, 12_345 + 1_000 * n, Decimal("34.5"), 812 + n, revenue, Decimal("23456.78"),
            cost - Decimal("23456.78"), cost, revenue - cost, Decimal("234.4"), Decimal("454.60"),
        )  # fmt: skip

    rows = [display_row(ROI_COLUMNS, row(name, n)) for n, name in enumerate(CAMPAIGNS)]
    totals = display_row(ROI_COLUMNS, ("Total", *row("", 9)[1:]))
    return DisplayTable("ROI by campaign", ROI_COLUMNS, rows, totals, len(rows))


def _narrow_table() -> DisplayTable:
    columns = (
        Column("agent", "Agent"),
        Column("calls", "Calls", K.INTEGER),
        Column("aht", "Average handle time", K.DURATION),
    )
    rows = [
        display_row(columns, (name, calls, seconds))
        for name, calls, seconds in (("Ana Lima", 412, 251), ("Bo Chen", 388, 302))
    ]
    return DisplayTable("Agents", columns, rows, None, len(rows))


def _chart() -> Chart:
    return Chart(
        title="Revenue by campaign",
        kind=ChartKind.BARS,
        categories=tuple(name[:24] for name in CAMPAIGNS),
        series=(Series("Revenue", (1234567.89, 1123456.78, 1012345.67, 901234.56)),),
        unit="EUR",
    )


def _email(
    fmt: ReportFormat,
    tiles: Sequence[HeadlineTile],
    contents: Contents,
    rows: int,
    filters: str = "All campaigns and agents",
) -> EmailMessage:
    rendered = report_rendered(
        run_details(format=fmt),
        title="Campaign ROI",
        rows=rows,
        headlines=list(tiles),
        filters_summary=filters,
    )
    return compose(
        rendered,
        "ops@example.com",
        branding=BRANDING,
        from_address="reports@example.com",
        contents=contents,
        now=datetime(2026, 11, 27, 8, tzinfo=UTC),
        logo=LOGO,
    )


@functools.cache
def _cases() -> dict[str, Case]:
    """The emails, built once (drawing the chart costs a second of matplotlib)."""
    roi, narrow, chart = _roi_table(), _narrow_table(), _chart()
    csv = Attachment("campaign-roi.csv", "text/csv; charset=utf-8", b"Campaign\r\n")
    image = Attachment("chart-1.png", "image/png", charts.png(chart, BRANDING.brand_colour))
    wide = Contents(
        attached=(csv,),
        inline_html=html.fragment([roi], [chart], definitions=BRANDING.definitions_link()),
        images=((html.chart_cid(0), image),),
    )
    pdf = Contents(attached=(Attachment("campaign-roi.pdf", "application/pdf", b"%PDF-1.7\n"),))
    return {
        "wide-table": Case(
            _email(ReportFormat.HTML, TILES, wide, roi.total),
            TILES,
            html.dropped_columns(roi),
            charts=1,
            # Six columns of figures are wider than a phone: the table scrolls in its box.
            fits_phone=False,
        ),
        "narrow-table": Case(
            _email(
                ReportFormat.HTML,
                (),
                Contents(
                    inline_html=html.fragment([narrow], definitions=BRANDING.definitions_link())
                ),
                2,
            ),
            (),
        ),
        "pdf-tiles-only": Case(_email(ReportFormat.PDF, TILES[:4], pdf, 4, LONG_FILTER), TILES[:4]),
    }


def _assert_tiles(layout: browser.Layout, tiles: Sequence[HeadlineTile]) -> None:
    boxes = layout.measured["tiles"]
    assert len(boxes) == len(tiles)
    assert all(box.left >= 0 and box.right <= layout.viewport_width for box in boxes)
    rows = len({box.top for box in boxes})
    for top in {box.top for box in boxes}:
        bottoms = [box.bottom for box in boxes if box.top == top]
        assert max(bottoms) - min(bottoms) < 0.5, f"the tiles of a row stand at {bottoms}"
    if layout.viewport_width == PHONE:
        assert rows >= 2, "the tiles did not wrap on a phone"
    else:
        assert rows == -(-len(tiles) // 4), "four tiles to a row in the frame"
    for tile in tiles:
        assert f">{tile.label}<" in layout.dom
        assert f">{tile.value}<" in layout.dom
        if tile.previous is not None:
            assert f"prev. {tile.previous}" in layout.dom
    assert "▲ +7.1 %" in layout.dom
    assert "▼ \u22123.6 %" in layout.dom


@pytest.mark.parametrize("width", [PHONE, DESKTOP])
@pytest.mark.parametrize("name", ["wide-table", "narrow-table", "pdf-tiles-only"])
def test_the_email_fits_the_window_with_nothing_scrolling_sideways(
    name: str, width: int, capsys: pytest.CaptureFixture[str]
) -> None:
    case = _cases()[name]
    document = browser.email_document(case.message)
    path = SHOTS / f"{name}-{width}.png"
    started = time.monotonic()
    layout = browser.screenshot(document, width, path, measure=MEASURE)
    tables = layout.measured["table boxes"]
    scrolls = [box.scroll_width > box.client_width for box in tables]
    with capsys.disabled():
        print(
            f"\n  {path}: {layout.scroll_height} px tall, measured and shot in"
            f" {time.monotonic() - started:.2f} s (the shot {layout.seconds:.2f} s);"
            f" table boxes scrolling: {scrolls}"
        )

    assert not layout.overflows, f"{layout.scroll_width} px wide in a {width} px window"
    assert not layout.broken_images
    assert all(box.width <= min(width, FRAME_PX) for box in layout.measured["frame"])
    if case.tiles:
        _assert_tiles(layout, case.tiles)
    else:
        assert not layout.measured["tiles"]
    # The inline table fits the frame; on a phone only a wide one scrolls, in its own box.
    assert not any(scrolls) or (width == PHONE and not case.fits_phone)
    charts_shown = layout.measured["charts"]
    assert len(charts_shown) == case.charts
    assert all(box.width <= html.CONTENT_PX and box.right <= width for box in charts_shown)
    if case.dropped:
        names = ", ".join(c.label for c in case.dropped)
        assert f"{len(case.dropped)} more columns are in the attached CSV: {names}." in layout.dom
    else:
        assert "more column" not in layout.dom


def test_the_text_part_has_a_line_per_tile() -> None:
    text = _cases()["wide-table"].message.get_body(("plain",))
    assert text is not None
    lines = str(text.get_content()).splitlines()
    assert "Calls: 48,210 (prev. 45,002, ▲ +7.1 %)" in lines
    assert "Revenue: 4,938,271.56 (prev. 5,120,300.00, ▼ \u22123.6 %)" in lines
    assert "ROI %: 234.4 % (prev. 234.4 %, 0.0 %)" in lines
    assert "Active agents: 37" in lines
