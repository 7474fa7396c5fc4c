"""Report charts: vector SVG for the PDF, PNG for the email, and text for screen readers.

Drawn with matplotlib's object-oriented API (`Figure`, never pyplot: no global
figure registry to leak into, no GUI backend), sized in CSS pixels so a chart
reads the same in the PDF and in the email. matplotlib is imported on first
draw, not with this module: it costs about 1.5 s and 50 MB, which only the render
pool's workers should pay (`warm_up`), not the service that imports `alt_text`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import logging
import math
import textwrap
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from herald.services.renderer.formats.faces import FAMILY, LOCAL_FAMILY
from herald.services.renderer.reports.chart import Chart, ChartKind, Series

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

#: Okabe and Ito's colour-blind-safe palette, for the series after the brand-coloured first.
OKABE_ITO = ("#e69f00", "#56b4e9", "#009e73", "#0072b2", "#d55e00", "#cc79a7", "#f0e442", "#000000")
#: A share chart shows this many largest categories and sums the rest into one "Other" bar.
SHARE_TOP = 10
OTHER = "Other"
#: The width a chart is laid out for, in CSS pixels: the email's content column.
WIDTH_PX = 592
#: Every category's number is read out up to this many categories; past it, a summary.
ALT_ALL_UP_TO = 12
ALT_FIRST = 5
ALT_MAX_CHARS = 1500
NO_DATA = "No data for this period"

_CSS_DPI = 96
_TITLE_PT = 11
_TICK_PT = 8
_LABEL_PT = 9
#: Space around the chart, and between the title and the plot, in CSS pixels.
_PAD_PX = 4
_TITLE_GAP_PX = 10
#: A tick's length plus its label's distance from it (matplotlib's 3.5 pt each), in CSS pixels.
_TICK_PX = 7 * 4 / 3
_BAR_LABEL_PAD_PT = 3
_LABEL_CHARS = 32
_LEGEND_COLUMNS = 4
_LEGEND_PT = 8
#: The value axis's labels and unit, left of the plot, in CSS pixels.
_VALUE_AXIS_PX = 70
#: How far (per channel) a PNG chart's palette colour may be from white or a series' colour
#: and be taken for it.
_SNAP = 2
_WHITE = "#ffffff"
#: After the PDF's face and DejaVu Sans, the faces for what they have no glyph for:
#: Chinese, Japanese and Korean (WenQuanYi Micro Hei), emoji and symbols (Symbola, in
#: outline). Tenants name campaigns and agents in any script; the project's set-up and
#: image install both (Debian's fonts-wqy-microhei, fonts-symbola), and the PDF's text
#: finds them through Fontconfig.
FALLBACK_FAMILIES = ("WenQuanYi Micro Hei", "Symbola")
#: Deterministic output: fixed SVG ids, no creation date, real text in the PDF's face.
_RC: dict[RcKeyType, Any] = {
    "font.family": [FAMILY, "DejaVu Sans", *FALLBACK_FAMILIES],
    "font.size": 9,
    "svg.fonttype": "none",
    "svg.hashsalt": "herald",
    "axes.labelsize": _LABEL_PT,
    "axes.labelcolor": "#444444",
    "axes.edgecolor": "#999999",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.axisbelow": True,
    "grid.color": "#e6e6e6",
    "xtick.labelsize": _TICK_PT,
    "ytick.labelsize": _TICK_PT,
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    "legend.frameon": False,
    "legend.fontsize": _LEGEND_PT,
}


def svg(chart: Chart, brand: str) -> str:
    """The chart as a standalone SVG document with real text, for the PDF (WeasyPrint)."""
    with _drawn(chart, brand, WIDTH_PX) as figure:
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
        return out.getvalue()


def png(chart: Chart, brand: str, width_px: int = WIDTH_PX) -> bytes:
    """The chart as a PNG for the email, twice `width_px` wide so it is crisp on 2x screens.

    In a palette of 256 colours: a chart's few flat colours and their smoothed edges fit
    in it, so the email carries a quarter of the bytes (13 KB for a 30-day trend, 52 KB
    in full colour), and the chart takes 7 % less CPU (encoding a palette is cheaper
    than quantizing is dear). The quantizer's tables raise a worker's peak by about
    5 MB. The palette averages alike colours: white and the series' colours are made
    exact again (`_snapped`), so the background is the email's and the first series
    the brand's own colour.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    with _drawn(chart, brand, width_px) as figure:
        figure.set_dpi(2 * _CSS_DPI)
        # Drawn on Agg's canvas and read where it lies: `savefig` would copy its 2.4 MB
        # out, and that copy was the worker's peak. (The canvas has no types.)
        canvas: Any = FigureCanvasAgg(figure)
        canvas.draw()
        pixels = canvas.buffer_rgba()
        height, width = pixels.shape[:2]
        drawn = Image.frombuffer("RGBA", (width, height), pixels, "raw", "RGBA", 0, 1)
        image = drawn.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    exact = [_WHITE, *_colours(brand, len(chart.series))]
    image.putpalette(_snapped(image.getpalette() or [], exact))
    out = io.BytesIO()
    image.save(out, format="png")
    return out.getvalue()


def _snapped(palette: list[int], exact: Sequence[str]) -> list[int]:
    """`palette` (flat RGB) with each colour within `_SNAP` (per channel) of one of `exact`
    made that colour."""
    from PIL import ImageColor

    wanted = [ImageColor.getrgb(colour) for colour in exact]
    snapped: list[int] = []
    for i in range(0, len(palette), 3):
        colour = tuple(palette[i : i + 3])
        near = (
            w for w in wanted if max(abs(a - b) for a, b in zip(w, colour, strict=True)) <= _SNAP
        )
        snapped.extend(next(near, colour))
    return snapped


def alt_text(chart: Chart) -> str:
    """What a screen reader says instead of the image: the title, the unit and the numbers."""
    unit = f" ({chart.unit})" if chart.unit else ""
    head = f"{_KIND_TEXT[chart.kind]}: {chart.title}{unit}."
    if not _has_data(chart):
        return f"{head} {NO_DATA}."
    if chart.kind is ChartKind.SHARE:
        chart = shares(chart)
        parts = [_share_text(chart, series) for series in chart.series]
    elif len(chart.categories) <= ALT_ALL_UP_TO:
        parts = [_all_text(chart, series) for series in chart.series]
    else:
        parts = [_summary_text(chart, series) for series in chart.series]
    text = " ".join([head, *parts])
    return text if len(text) <= ALT_MAX_CHARS else text[: ALT_MAX_CHARS - 1] + "…"


def shares(chart: Chart) -> Chart:
    """A share chart's `SHARE_TOP` largest categories (by the first series), the rest as "Other"."""
    first = chart.series[0].values if chart.series else ()
    order = sorted(
        range(len(chart.categories)),
        key=lambda i: (first[i] is None, -(first[i] or 0.0)),
    )
    top, rest = order[:SHARE_TOP], order[SHARE_TOP:]
    if len(rest) == 1:
        top, rest = order, []
    categories = tuple(chart.categories[i] for i in top) + ((OTHER,) if rest else ())
    series = tuple(
        Series(
            s.name,
            tuple(s.values[i] for i in top) + ((_sum(s.values[i] for i in rest),) if rest else ()),
        )
        for s in chart.series
    )
    return dataclasses.replace(chart, categories=categories, series=series)


def warm_up() -> None:
    """For a render worker's initializer: import matplotlib and draw once before the first job."""
    tiny = Chart("warm", ChartKind.BARS, ("a", "b"), (Series("x", (1.0, 2.0)),))
    svg(tiny, OKABE_ITO[0])
    png(tiny, OKABE_ITO[0])


_KIND_TEXT = {
    ChartKind.TREND: "Line chart",
    ChartKind.BARS: "Bar chart",
    ChartKind.SHARE: "Share chart",
}


@contextlib.contextmanager
def _drawn(chart: Chart, brand: str, width_px: int) -> Iterator[Figure]:
    """A drawn figure, under Herald's chart style until it is saved.

    Not cleared after: `Figure.clear` builds fresh axes (8 % of a chart's cost), and
    the render pool collects what each job leaves behind (`worker.collected`)."""
    import matplotlib

    _quiet_fallback_weights()
    _know_the_pdf_face()
    with matplotlib.rc_context(_RC):
        yield _draw(chart, _colours(brand, len(chart.series)), width_px)


class _FallbackWeightNote(logging.Filter):
    """Drops matplotlib's note that a fallback face has no bold: neither has one, and the
    note came once per worker and text size. That a face is missing still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        weight_note = str(record.msg).startswith("findfont: Failed to find font weight")
        return not (weight_note and len(args) > 1 and args[1] in FALLBACK_FAMILIES)


@functools.cache
def _quiet_fallback_weights() -> None:
    logging.getLogger("matplotlib.font_manager").addFilter(_FallbackWeightNote())


@functools.cache
def _know_the_pdf_face() -> None:
    """Gives matplotlib the PDF's face (`faces.FAMILY`): the Liberation Sans files it knows,
    under the PDF's name for them.

    A chart's SVG names the family its text was measured in, and WeasyPrint draws it in
    that family: with a family of its own (DejaVu Sans, or Liberation Sans by that name)
    each PDF embedded two more fonts, subset at every render (2 MB more at the peak of
    a 1,000-row PDF with a chart). Where Liberation Sans is missing,
    matplotlib says the family is not found and the text falls back to DejaVu Sans.
    """
    from matplotlib import font_manager

    known = font_manager.fontManager.ttflist
    known += [dataclasses.replace(f, name=FAMILY) for f in known if f.name == LOCAL_FAMILY]


def _draw(chart: Chart, colours: Sequence[str], width_px: int) -> Figure:
    from matplotlib.figure import Figure

    for series in chart.series:
        if len(series.values) != len(chart.categories):
            raise ValueError(
                f"chart {chart.title!r}: series {series.name!r} has {len(series.values)} values "
                f"for {len(chart.categories)} categories"
            )
    if chart.kind is ChartKind.SHARE and _has_data(chart):
        chart = shares(chart)
    lying = _lying(chart, width_px)
    height_px = _height(chart, width_px, lying)
    figure = Figure(figsize=(width_px / _CSS_DPI, height_px / _CSS_DPI))
    title = _fill(chart.title, int((width_px - 2 * _PAD_PX) / _char_px(_TITLE_PT)))
    figure.text(
        _PAD_PX / width_px,
        1 - _PAD_PX / height_px,
        title,
        ha="left",
        va="top",
        fontsize=_TITLE_PT,
        fontweight="bold",
    )
    axes = figure.add_subplot()
    top = _PAD_PX + _line_px(_TITLE_PT) * (title.count("\n") + 1) + _TITLE_GAP_PX
    if not _has_data(chart):
        axes.set_axis_off()
        axes.text(
            0.5, 0.5, NO_DATA, ha="center", va="center", color="#666666", transform=axes.transAxes
        )
        _place(figure, width_px, height_px, _Margins(top, _PAD_PX, _PAD_PX, _PAD_PX))
        return figure
    if lying:
        values = _lying_bars(axes, chart, colours)
    else:
        if chart.kind is ChartKind.TREND:
            _lines(axes, chart, colours)
        else:
            _bars(axes, chart, colours)
        _category_axis(axes, chart, _step(chart, width_px))
        _value_axis(axes, chart)
    legend = 0.0
    if len(chart.series) > 1:
        columns = min(len(chart.series), _LEGEND_COLUMNS)
        figure.legend(loc="lower center", bbox_to_anchor=(0.5, _PAD_PX / height_px), ncols=columns)
        legend = math.ceil(len(chart.series) / columns) * _line_px(_LEGEND_PT) * 1.5 + _PAD_PX
    margins = _lying_margins(axes, values, width_px) if lying else _standing_margins(axes, chart)
    _place(
        figure,
        width_px,
        height_px,
        dataclasses.replace(margins, top=top + margins.top, bottom=margins.bottom + legend),
    )
    return figure


@dataclasses.dataclass(frozen=True, slots=True)
class _Margins:
    """Room around the plot for what sits beside it, in CSS pixels."""

    top: float
    right: float
    bottom: float
    left: float


def _place(figure: Figure, width_px: float, height_px: float, margins: _Margins) -> None:
    """Margins measured from the labels that fill them: a layout engine would draw each chart
    twice to find them, which was half of a chart's cost."""
    figure.subplots_adjust(
        left=margins.left / width_px,
        right=1 - margins.right / width_px,
        bottom=margins.bottom / height_px,
        top=1 - margins.top / height_px,
    )


def _standing_margins(axes: Axes, chart: Chart) -> _Margins:
    """Value labels (and the unit beside them) on the left, category labels below; the last
    category's label may reach past the plot by half its width."""
    axis = axes.yaxis
    values = axis.get_major_formatter().format_ticks(list(axis.get_majorticklocs()))
    names = [t.get_text() for t in axes.get_xticklabels()]
    unit = _line_px(_LABEL_PT) + 4 * 4 / 3 if chart.unit else 0.0
    return _Margins(
        top=_line_px(_TICK_PT) / 2,  # the highest value's label, centred on its tick
        right=_PAD_PX + max(_PAD_PX, _text_px(names[-1:], _TICK_PT) / 2),
        bottom=_PAD_PX + _TICK_PX + _line_px(_TICK_PT),
        left=_PAD_PX + unit + _text_px(values, _TICK_PT) + _TICK_PX,
    )


def _lying_margins(axes: Axes, values: _BarLabels, width_px: float) -> _Margins:
    """The category names on the left, the widest value right of the plot; below zero, the
    plot widens to hold it left of the lowest bar, clear of the names."""
    names = [t.get_text() for t in axes.get_yticklabels()]
    value = _BAR_LABEL_PAD_PT * 4 / 3 + _text_px(values.texts, _TICK_PT)
    margins = _Margins(
        top=0.0,
        right=_PAD_PX + value,
        bottom=_PAD_PX,
        left=_PAD_PX + _text_px(names, _TICK_PT) + _TICK_PX,
    )
    if values.below_zero:
        low, high = axes.get_xlim()
        plot = max(width_px - margins.left - margins.right - value, 1.0)
        axes.set_xlim(low - value / plot * (high - low), high)
    return margins


def _text_px(texts: Sequence[str], size_pt: float) -> float:
    """The widest of these texts in the chart's font, in CSS pixels, from the font's own metrics."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    font = FontProperties(family=_RC["font.family"], size=size_pt)
    widest = max(
        (text_to_path.get_text_width_height_descent(t, font, ismath=False)[0] for t in texts),
        default=0.0,
    )
    return float(widest) * _CSS_DPI / 72


def _lines(axes: Axes, chart: Chart, colours: Sequence[str]) -> None:
    """A line per series; a None leaves a gap, and a day between gaps gets a dot, which is
    all that shows of it. Only those: a dot on every day doubled what a PDF pays for the chart."""
    positions = range(len(chart.categories))
    for series, colour in zip(chart.series, colours, strict=True):
        values = [math.nan if v is None else v for v in series.values]
        lone = _lone(series.values)
        axes.plot(
            positions,
            values,
            color=colour,
            linewidth=1.8,
            marker="o" if lone else "",  # so the legend shows a dot only where the line has one
            markersize=3,
            markevery=lone or None,
            label=series.name,
        )


def _lone(values: Sequence[float | None]) -> list[int]:
    """The days with a value but none on either side."""
    present = [v is not None for v in values]
    return [
        i
        for i, here in enumerate(present)
        if here and not (i > 0 and present[i - 1]) and not (i + 1 < len(present) and present[i + 1])
    ]


def _bars(axes: Axes, chart: Chart, colours: Sequence[str]) -> None:
    """A group of bars per category, one per series; a None draws no bar."""
    width = 0.8 / len(chart.series)
    for n, (series, colour) in enumerate(zip(chart.series, colours, strict=True)):
        shown = [(i, v) for i, v in enumerate(series.values) if v is not None]
        offset = -0.4 + width * (n + 0.5)
        axes.bar(
            [i + offset for i, _ in shown],
            [v for _, v in shown],
            width,
            color=colour,
            label=series.name,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class _BarLabels:
    """The values written at the bars' ends, which the margins must hold."""

    texts: tuple[str, ...]
    #: A bar below zero ends on the left, its value between it and the names.
    below_zero: bool


def _lying_bars(axes: Axes, chart: Chart, colours: Sequence[str]) -> _BarLabels:
    """Horizontal bars in the chart's order, first at the top, each labelled: a share with
    its part of its series' total, other bars with their value. Names read level."""
    height = 0.8 / len(chart.series)
    values: list[float] = []
    labels: list[str] = []
    for n, (series, colour) in enumerate(zip(chart.series, colours, strict=True)):
        total = _sum(series.values) or 0.0
        shown = [(i, v) for i, v in enumerate(series.values) if v is not None]
        offset = -0.4 + height * (n + 0.5)
        bars = axes.barh(
            [i + offset for i, _ in shown],
            [v for _, v in shown],
            height,
            color=colour,
            label=series.name,
        )
        if chart.kind is ChartKind.SHARE:
            texts = [_percent(v, total) for _, v in shown]
        else:
            texts = [_value(v, chart.unit) for _, v in shown]
        axes.bar_label(bars, texts, padding=_BAR_LABEL_PAD_PT, fontsize=_TICK_PT)
        values += [v for _, v in shown]
        labels += texts
    axes.set_yticks(range(len(chart.categories)), [_short(c) for c in chart.categories])
    axes.tick_params(axis="y", length=0)
    axes.set_ylim(len(chart.categories) - 0.5, -0.5)
    low, high = min([0.0, *values]), max([0.0, *values])
    axes.set_xlim(low, high if high > low else 1.0)
    axes.xaxis.set_visible(False)
    axes.spines["bottom"].set_visible(False)
    return _BarLabels(tuple(labels), below_zero=low < 0)


def _category_axis(axes: Axes, chart: Chart, step: int) -> None:
    positions = range(0, len(chart.categories), step)
    axes.set_xticks(positions, [_short(chart.categories[i]) for i in positions])
    axes.set_xlim(-0.6, len(chart.categories) - 0.4)


def _value_axis(axes: Axes, chart: Chart) -> None:
    """From zero for counts, with grouped thousands and whole ticks when the data is whole."""
    from matplotlib.ticker import Formatter, MaxNLocator

    class Grouped(Formatter):
        """1,500 and 2.5: as many places as the ticks' step needs, never 1e9 or an offset."""

        places = 0

        def set_locs(self, locs: list[float]) -> None:
            self.places = _places(abs(locs[1] - locs[0])) if len(locs) > 1 else 0

        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:,.{self.places}f}"

    values = [v for s in chart.series for v in s.values if v is not None]
    whole = all(float(v).is_integer() for v in values)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=whole))
    axes.yaxis.set_major_formatter(Grouped())
    axes.grid(axis="y")
    if min(values) >= 0:
        axes.set_ylim(bottom=0)
    if chart.unit:
        axes.set_ylabel(chart.unit)


def _places(step: float) -> int:
    """The decimal places that tell ticks this far apart: 0 for 250, 1 for 2.5, 3 for 0.005."""
    places = 0
    while places < 9 and abs(step * 10**places - round(step * 10**places)) > 1e-6:
        places += 1
    return places


def _level_px(chart: Chart) -> float:
    """The width of the category labels set side by side, level."""
    longest = max((_width(_short(c)) for c in chart.categories), default=0)
    return len(chart.categories) * (longest + 1) * _char_px(_TICK_PT)


def _lying(chart: Chart, width_px: int) -> bool:
    """Shares lie on their side, and so do bars whose names do not fit side by side under
    them: a name turned on its end is hard to read, and a bar needs its name."""
    too_wide = _level_px(chart) > width_px - _VALUE_AXIS_PX
    return chart.kind is ChartKind.SHARE or (chart.kind is ChartKind.BARS and too_wide)


def _step(chart: Chart, width_px: int) -> int:
    """A trend too long for its day labels shows every k-th one."""
    return max(1, math.ceil(_level_px(chart) / (width_px - _VALUE_AXIS_PX)))


def _height(chart: Chart, width_px: int, lying: bool) -> float:
    """A chart on its side grows with its bars; one standing is in proportion to its width."""
    if not _has_data(chart):
        return 120
    if lying:
        row = max(22, 12 * len(chart.series) + 10)
        legend = 24 if len(chart.series) > 1 else 0
        return max(150, 60 + legend + row * len(chart.categories))
    return width_px * 0.45


def _char_px(size_pt: float) -> float:
    """A character's width, in CSS pixels: a little over Liberation Sans's and DejaVu Sans's
    averages, to be safe."""
    return size_pt * 4 / 3 * 0.65


def _width(text: str) -> int:
    """The text's width in `_char_px` characters: a wide one (Chinese, Japanese, Korean) is
    a whole em, so it counts twice."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _fill(text: str, width: int) -> str:
    """The text wrapped to `width` characters (`_width`), wide ones breaking anywhere."""
    return textwrap.fill(text, max(1, width * len(text) // max(_width(text), 1)))


def _line_px(size_pt: float) -> float:
    """A line of text's height, in CSS pixels."""
    return size_pt * 4 / 3 * 1.2


def _colours(brand: str, count: int) -> list[str]:
    """The brand first, then Okabe and Ito's colours (less the brand, if one), round again."""
    from matplotlib.colors import to_hex

    first = to_hex(brand)
    palette = [first, *(c for c in OKABE_ITO if c != first)]
    return [palette[n % len(palette)] for n in range(count)]


def _has_data(chart: Chart) -> bool:
    return any(v is not None for s in chart.series for v in s.values) and bool(chart.categories)


def _sum(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _short(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"


def _number(value: float) -> str:
    """Grouped thousands, at most two places or three digits: 1,234, 12.5, 0.00352; never -0."""
    if 0 < abs(value) < 0.01:
        return f"{value:.3g}"
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    return f"{_number(value)} %" if unit == "%" else _number(value)


def _percent(value: float, total: float) -> str:
    return f"{100 * value / total:.1f} %" if total else "0.0 %"


def _named(series: Series, text: str) -> str:
    return f"{series.name}: {text}." if series.name else f"{text}."


def _all_text(chart: Chart, series: Series) -> str:
    pairs = zip(chart.categories, series.values, strict=True)
    return _named(series, ", ".join(f"{c} {_value(v, chart.unit)}" for c, v in pairs))


def _summary_text(chart: Chart, series: Series) -> str:
    """Past a dozen categories: the range, the lowest, the highest, the total and the first few."""
    shown = [(c, v) for c, v in zip(chart.categories, series.values, strict=True) if v is not None]
    if not shown:
        return _named(series, "no data")
    low = min(shown, key=lambda cv: cv[1])
    high = max(shown, key=lambda cv: cv[1])
    values = [v for _, v in shown]
    overall = (
        f"average {_value(sum(values) / len(values), chart.unit)}"
        if chart.unit == "%"
        else f"total {_value(sum(values), chart.unit)}"
    )
    first = ", ".join(
        f"{c} {_value(v, chart.unit)}"
        for c, v in zip(chart.categories[:ALT_FIRST], series.values[:ALT_FIRST], strict=True)
    )
    return _named(
        series,
        f"{len(chart.categories)} values from {chart.categories[0]} to {chart.categories[-1]}; "
        f"lowest {_value(low[1], chart.unit)} ({low[0]}), highest {_value(high[1], chart.unit)} "
        f"({high[0]}), {overall}; first {ALT_FIRST}: {first}",
    )


def _share_text(chart: Chart, series: Series) -> str:
    total = _sum(series.values) or 0.0
    return _named(
        series,
        ", ".join(
            f"{c} no data"
            if v is None
            else f"{c} {_percent(v, total)}"
            if chart.unit == "%"
            else f"{c} {_value(v, chart.unit)} ({_percent(v, total)})"
            for c, v in zip(chart.categories, series.values, strict=True)
        ),
    )
