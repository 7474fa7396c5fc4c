"""Report charts: valid SVG with real text, crisp PNG, brand colour, gaps, caps, alt text."""

from __future__ import annotations

import dataclasses
import io
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest

from herald.services.renderer.formats import charts
from herald.services.renderer.formats.faces import FAMILY
from herald.services.renderer.reports.chart import Chart, ChartKind, Series

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.text import Text

BRAND = "#2f5d8a"
DAYS = tuple(f"{d} Nov" for d in range(1, 32))
RISING = tuple(float(10 * d) for d in range(31))


def svg_texts(document: str) -> list[str]:
    """The SVG's text elements, as a reader (or a PDF's text layer) gets them."""
    root = ET.fromstring(document)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return ["".join(e.itertext()) for e in root.iter("{http://www.w3.org/2000/svg}text")]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def trend(values: tuple[float | None, ...] = RISING) -> Chart:
    return Chart(
        "Calls per day", ChartKind.TREND, DAYS[: len(values)], (Series("Inbound", values),), "calls"
    )


def bars(count: int, series: int = 1) -> Chart:
    categories = tuple(f"Agent {n:02d}" for n in range(count))
    return Chart(
        "Talk time by agent",
        ChartKind.BARS,
        categories,
        tuple(Series(f"S{s}", tuple(float(n + s) for n in range(count))) for s in range(series)),
        "minutes",
    )


def share(count: int) -> Chart:
    categories = tuple(f"Disposition {n:02d}" for n in range(count))
    # Disposition 00 is the largest, each next one smaller.
    return Chart(
        "Dispositions",
        ChartKind.SHARE,
        categories,
        (Series("Calls", tuple(float(100 - n) for n in range(count))),),
        "calls",
    )


@pytest.mark.parametrize(
    "chart",
    [trend(tuple(float(d) for d in range(5))), bars(5), share(5)],
    ids=["trend", "bars", "share"],
)
def test_each_kind_is_an_svg_with_its_title_and_labels_as_text(chart: Chart) -> None:
    texts = svg_texts(charts.svg(chart, BRAND))
    assert chart.title in texts
    assert set(chart.categories) <= set(texts)
    assert chart.unit in texts or chart.kind is ChartKind.SHARE


def test_svg_is_deterministic_and_names_its_font() -> None:
    first, second = charts.svg(bars(6, series=2), BRAND), charts.svg(bars(6, series=2), BRAND)
    assert first == second
    assert f"font-family: '{FAMILY}', 'DejaVu Sans'" in first  # the PDF's own face first
    assert "<dc:date>" not in first


@pytest.mark.parametrize("width_px", [592, 400])
def test_png_is_twice_as_wide_as_it_is_shown(width_px: int) -> None:
    width, height = png_size(charts.png(trend(), BRAND, width_px=width_px))
    assert width == 2 * width_px
    assert 0 < height < width


def test_png_is_paletted_with_a_white_background_and_the_exact_brand_colour() -> None:
    from PIL import Image

    data = charts.png(bars(6, series=2), BRAND)
    image = Image.open(io.BytesIO(data))
    assert image.mode == "P"
    colours = {colour for _, colour in image.convert("RGB").getcolors(256) or []}
    assert image.convert("RGB").getpixel((0, 0)) == (255, 255, 255)
    assert (0x2F, 0x5D, 0x8A) in colours
    assert (0xE6, 0x9F, 0x00) in colours  # the second series, Okabe and Ito's orange
    # Its near-whites are white: no faint box around the chart on the white of the email.
    assert not {c for c in colours if c != (255, 255, 255) and min(c) >= 253}
    assert len(data) < 30_000


def test_png_is_deterministic() -> None:
    assert charts.png(share(4), BRAND) == charts.png(share(4), BRAND)


def test_the_first_series_is_in_the_brand_colour_the_next_from_okabe_ito() -> None:
    document = charts.svg(bars(3, series=2), "#2F5D8A")
    assert document.count("fill: #2f5d8a") >= 3
    assert document.count(f"fill: {charts.OKABE_ITO[0]}") >= 3


def test_a_brand_colour_from_the_palette_is_not_used_twice() -> None:
    document = charts.svg(bars(3, series=2), charts.OKABE_ITO[0])
    assert f"fill: {charts.OKABE_ITO[1]}" in document


@pytest.mark.parametrize("kind", list(ChartKind))
def test_an_empty_chart_says_so(kind: ChartKind) -> None:
    for chart in (
        Chart("Nothing yet", kind, (), (), "calls"),
        Chart("All gaps", kind, ("a", "b"), (Series("x", (None, None)),), "calls"),
    ):
        texts = svg_texts(charts.svg(chart, BRAND))
        assert chart.title in texts
        assert charts.NO_DATA in texts
        assert png_size(charts.png(chart, BRAND))[0] == 2 * charts.WIDTH_PX
        assert charts.alt_text(chart).endswith(f"{charts.NO_DATA}.")


def test_a_missing_value_draws_no_bar() -> None:
    chart = Chart("Sales", ChartKind.BARS, ("a", "b", "c"), (Series("x", (1.0, None, 3.0)),))
    assert charts.svg(chart, BRAND).count("fill: #2f5d8a") == 2


def test_a_missing_day_leaves_a_gap_not_a_broken_path() -> None:
    document = charts.svg(trend((1.0, None, None, 4.0, None, 6.0)), BRAND)
    assert "nan" not in document.lower()
    assert "Calls per day" in svg_texts(document)


def test_only_a_day_between_gaps_gets_a_dot() -> None:
    """A lone day would not show at all as a line; a dot on every day costs the PDF twice."""

    def uses(values: tuple[float | None, ...]) -> int:
        return charts.svg(trend(values), BRAND).count("<use ")

    whole = uses((1.0, 2.0, 3.0, 4.0, 5.0, 6.0))
    assert uses((1.0, None, 3.0, 4.0, None, 6.0)) == whole + 2  # the first day and the last
    assert uses((1.0, 2.0, None, 4.0, 5.0, 6.0)) == whole


def test_the_legend_shows_a_dot_only_for_a_series_that_has_dots() -> None:
    gaps = Series("Gaps", (1.0, None, 3.0, None))
    chart = Chart("Calls", ChartKind.TREND, DAYS[:4], (Series("Whole", RISING[:4]), gaps))
    with charts._drawn(chart, BRAND, charts.WIDTH_PX) as figure:
        (legend,) = figure.legends
        markers = [handle.get_marker() for handle in legend.legend_handles]
    assert markers[0] in ("", "None")
    assert markers[1] == "o"


def test_value_ticks_keep_the_places_they_need_and_group_thousands() -> None:
    small = Chart("Rate", ChartKind.TREND, ("a", "b", "c"), (Series("", (0.001, 0.002, 0.0035)),))
    ticks = [t for t in svg_texts(charts.svg(small, BRAND)) if t.startswith("0.00")]
    assert len(set(ticks)) >= 3
    large = Chart("Calls", ChartKind.BARS, ("a", "b"), (Series("", (1500.0, 3.2e6)),))
    assert "1,600,000" in svg_texts(charts.svg(large, BRAND))


def test_a_series_of_the_wrong_length_is_refused() -> None:
    chart = Chart("Sales", ChartKind.BARS, ("a", "b"), (Series("x", (1.0,)),))
    with pytest.raises(ValueError, match="1 values for 2 categories"):
        charts.svg(chart, BRAND)


def test_a_month_of_days_shows_every_few_labels() -> None:
    texts = svg_texts(charts.svg(trend(), BRAND))
    shown = [day for day in DAYS if day in texts]
    assert "1 Nov" in shown
    assert 5 <= len(shown) < len(DAYS)


def test_forty_bars_keep_every_label() -> None:
    chart = bars(40)
    texts = svg_texts(charts.svg(chart, BRAND))
    assert set(chart.categories) <= set(texts)


def _rotated_texts(document: str) -> int:
    """Text turned on its end: matplotlib writes the rotation into the text's transform."""
    root = ET.fromstring(document)
    found = root.iter("{http://www.w3.org/2000/svg}text")
    return sum("rotate(-9" in (e.get("transform") or "") for e in found)


def test_bars_whose_names_do_not_fit_side_by_side_lie_on_their_side_names_level() -> None:
    names = ("Home Insurance Renewals", "Fibre Broadband Upgrade", "Solar Panel Leads")
    chart = Chart("Net by campaign", ChartKind.BARS, names, (Series("Net", (3.0, 2.0, 1.0)),))
    document = charts.svg(chart, BRAND)
    texts = svg_texts(document)
    # Whole names, level (only the value axis's unit, if any, stands on end), values labelled.
    assert set(names) <= set(texts)
    assert _rotated_texts(document) == 0
    assert {"3", "2", "1"} <= set(texts)
    # Short names still stand side by side under upright bars.
    hours = Chart("Calls by hour", ChartKind.BARS, ("08", "09", "10"), chart.series, "calls")
    assert _rotated_texts(charts.svg(hours, BRAND)) == 1  # the unit, beside the value axis


def test_a_share_chart_shows_the_top_ones_largest_first_and_the_rest_as_other() -> None:
    chart = share(15)
    capped = charts.shares(chart)
    top = chart.categories[: charts.SHARE_TOP]
    assert capped.categories == (*top, charts.OTHER)
    assert capped.series[0].values[-1] == sum(100.0 - n for n in range(charts.SHARE_TOP, 15))
    texts = svg_texts(charts.svg(chart, BRAND))
    assert set(top) | {charts.OTHER} <= set(texts)
    assert "Disposition 14" not in texts
    total = sum(100.0 - n for n in range(15))
    assert f"{100 * 100 / total:.1f} %" in texts


def test_a_share_chart_of_one_more_than_the_top_needs_no_other() -> None:
    chart = share(charts.SHARE_TOP + 1)
    assert charts.shares(chart).categories == chart.categories


def test_a_share_chart_orders_by_size_with_gaps_last() -> None:
    chart = Chart("Causes", ChartKind.SHARE, ("a", "b", "c"), (Series("n", (1.0, None, 5.0)),))
    assert charts.shares(chart).categories == ("c", "a", "b")


def test_alt_text_of_a_short_chart_reads_every_number() -> None:
    chart = Chart(
        "Sales by campaign",
        ChartKind.BARS,
        ("North", "South", "East"),
        (Series("Sales", (1200.0, None, 7.5)),),
        "sales",
    )
    text = charts.alt_text(chart)
    assert text.startswith("Bar chart: Sales by campaign (sales).")
    assert "North 1,200, South no data, East 7.5" in text


def test_alt_text_of_a_long_chart_reads_the_range_and_the_first_few() -> None:
    values = tuple(None if d == 3 else float(100 + d) for d in range(31))
    text = charts.alt_text(trend(values))
    assert "lowest 100 (1 Nov)" in text
    assert "highest 130 (31 Nov)" in text
    assert f"total {sum(v for v in values if v is not None):,.0f}" in text
    assert "1 Nov 100, 2 Nov 101, 3 Nov 102, 4 Nov no data" in text


def test_alt_text_of_a_rate_gives_an_average_not_a_total() -> None:
    chart = Chart("Abandon rate", ChartKind.TREND, DAYS, (Series("", (5.0,) * 31),), "%")
    text = charts.alt_text(chart)
    assert "average 5 %" in text
    assert "total" not in text


def test_alt_text_of_a_share_chart_reads_the_shares() -> None:
    text = charts.alt_text(share(15))
    assert "Disposition 00 100 (" in text
    assert f"{charts.OTHER} " in text
    assert "%" in text


def test_alt_text_stays_short_for_a_large_chart() -> None:
    chart = Chart(
        "A year",
        ChartKind.TREND,
        tuple(f"day {d}" for d in range(365)),
        tuple(Series(f"series {s}", tuple(float(d) for d in range(365))) for s in range(20)),
    )
    text = charts.alt_text(chart)
    assert len(text) <= charts.ALT_MAX_CHARS
    assert text.endswith("…")


def test_importing_the_module_leaves_matplotlib_to_the_first_draw() -> None:
    """The service imports `alt_text`; only the render workers should pay for matplotlib."""
    code = (
        "import sys, herald.services.renderer.formats.charts; sys.exit('matplotlib' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_warm_up_draws() -> None:
    charts.warm_up()


def _long_names_below_zero() -> Chart:
    names = ("Home Insurance Renewals", "Fibre Broadband Upgrade", "Solar Panel Leads North")
    return Chart("Net by campaign", ChartKind.BARS, names, (Series("Net", (-3000.5, 2e3, 1e6)),))


@pytest.mark.parametrize(
    "chart",
    [
        trend(),
        Chart(
            "Revenue per day for every campaign of the tenant, a title long enough to wrap twice "
            "across the width of the email's content column",
            ChartKind.TREND,
            tuple(f"2026-11-{d:02d}" for d in range(1, 31)),
            tuple(Series(n, tuple(12345678.5 * d for d in range(30))) for n in "ABCDE"),
            "EUR",
        ),
        bars(40, series=2),
        share(15),
        _long_names_below_zero(),
        Chart(
            "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW", ChartKind.SHARE, ("W" * 40,), (Series("", (9e9,)),)
        ),
        # An em a character, where Latin ones are counted at 0.65: the title wraps in time.
        dataclasses.replace(trend(), title="東京都の営業キャンペーンの月間通話件数と成約件数" * 2),
        Chart(
            "地域別",
            ChartKind.BARS,
            ("東京 キャンペーン", "서울 캠페인", "上海销售", "大阪", "福岡 🚀"),
            (Series("Calls", (5.0, 4.0, 3.0, 2.0, 1.0)),),
        ),
    ],
    ids=[
        "month",
        "wrapped-title-legend",
        "forty-bars",
        "share",
        "below-zero",
        "wide-glyphs",
        "cjk-title",
        "cjk-bars",
    ],
)
def test_every_text_is_inside_the_picture_and_none_overlaps(chart: Chart) -> None:
    """The margins are measured, not laid out by matplotlib: what they hold must fit."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.transforms import Bbox

    with charts._drawn(chart, BRAND, charts.WIDTH_PX) as figure:
        renderer = FigureCanvasAgg(figure).get_renderer()
        figure.draw(renderer)
        page = figure.bbox
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in _drawn_texts(figure)]
        for text, box in boxes:
            inside = Bbox.intersection(box, page)
            assert inside is not None, text
            assert (inside.width, inside.height) == pytest.approx((box.width, box.height)), text
        for n, (text, box) in enumerate(boxes):
            for other, other_box in boxes[n + 1 :]:
                assert not box.overlaps(other_box), (text, other)


def _drawn_texts(figure: Figure) -> list[Text]:
    """The texts a reader sees: the figure's and the legend's, the axes' own, their labels,
    and the tick labels within the axes' view (matplotlib keeps spare ones it does not draw)."""
    found = [*figure.texts, *(t for legend in figure.legends for t in legend.get_texts())]
    for axes in figure.axes:
        found += [*axes.texts, axes.xaxis.label, axes.yaxis.label]
        for axis in (axes.xaxis, axes.yaxis):
            if not axis.get_visible():
                continue
            low, high = sorted(axis.get_view_interval())
            found += [t.label1 for t in axis.get_major_ticks() if low <= t.get_loc() <= high]
    return [t for t in found if t.get_visible() and t.get_text()]
