"""Headline tiles and charts of the standard reports, from the hand-checked dataset.

The dataset's window is Tue 10 - Thu 12 June 2025 (Berlin); its previous period is
the three local days before, 7 - 9 June, holding calls p01 - p04 only
(tests/report_dataset.py), so every previous figure below is worked out by hand.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from herald.services.renderer.formats.headlines import tiles
from herald.services.renderer.reports.chart import ChartKind
from herald.services.renderer.reports.model import (
    Cell,
    Column,
    ColumnKind,
    Figure,
    Headline,
    ReportData,
    Row,
)
from herald.services.renderer.reports.standard import REPORTS
from herald.services.renderer.reports.standard.charting import TableChart, table_chart
from herald.shared.contract.messages import HeadlineTile, Tone
from tests.report_dataset import computed, local, request

D = Decimal


async def report(report_id: str) -> ReportData:
    return await computed(request(report_id))


def figures(headlines: tuple[Headline, ...]) -> list[tuple[str, object, object]]:
    return [(h.label, h.value, h.previous) for h in headlines]


async def test_campaign_summary_tiles_set_each_total_beside_the_previous_period() -> None:
    data = await report("campaign_summary")
    assert figures(data.headlines) == [
        # Now: the outbound and inbound Total rows (tests/unit/test_standard_reports.py):
        # 18 outbound dialed, 11 answered, 1 abandoned, 6 sales; 7 inbound offered, 3 within
        # 20 s. Before: p01 p02 p03 dialed, p01 p02 answered, p03 abandoned, p02 a sale;
        # p04 offered and abandoned.
        ("Dialed", 18, 3),
        # Now 11 / 18 = 61.1; before 2 / 3 = 66.7.
        ("Contact rate %", D("61.1"), D("66.7")),
        # Now 1 / (11 + 1) = 8.3; before 1 / (2 + 1) = 33.3.
        ("Outbound abandon %", D("8.3"), D("33.3")),
        ("Outbound conversions", 6, 1),
        ("Offered", 7, 1),
        # Now 3 / 7 = 42.9; before 0 / 1 = 0.0.
        ("Service level %", D("42.9"), D("0.0")),
    ]
    shown = {t.label: t for t in tiles(data.headlines)}
    # The abandon rate fell from 33.3 to 8.3 %: (8.3 - 33.3) / 33.3 = -75.1 %, good news.
    assert shown["Outbound abandon %"] == HeadlineTile(
        label="Outbound abandon %",
        value="8.3 %",
        previous="33.3 %",
        change="\u221275.1 %",
        tone=Tone.GOOD,
    )
    # Dialing more is neither good nor bad: (18 - 3) / 3 = +500.0 %.
    assert shown["Dialed"].change == "+500.0 %"
    assert shown["Dialed"].tone is Tone.NEUTRAL
    assert shown["Outbound conversions"].tone is Tone.GOOD


async def test_executive_dashboard_tiles_come_from_its_headline_table() -> None:
    data = await report("executive_dashboard")
    table = data.tables[0]
    assert isinstance(table.rows, list)
    # The row's two figures, each with the column it reads by (its own kind).
    by_metric = {
        row[0]: (row[1].column, row[1].value, row[2].value)
        for row in table.rows
        if isinstance(row[1], Figure) and isinstance(row[2], Figure)
    }
    assert len(by_metric) == len(table.rows) == 9
    shown = [(h.label, h.column, h.value, h.previous) for h in data.headlines]
    assert shown == [(h.label, *by_metric[h.label]) for h in data.headlines]
    assert [h.label for h in data.headlines] == [
        "Calls",
        "Contact rate %",
        "Conversions",
        "Revenue",
        "Net",
        "ROI %",
    ]
    # The previous period is 7 - 9 June: p01 - p04, four calls, p02's sale of 200.00.
    previous = {h.label: h.previous for h in data.headlines}
    assert previous["Calls"] == 4
    assert previous["Conversions"] == 1
    assert previous["Revenue"] == D("200.00")


async def test_a_report_without_metrics_has_no_tiles_and_the_cdr_no_chart() -> None:
    cdr = await report("cdr")
    assert cdr.headlines == ()
    assert cdr.charts == ()


async def test_every_report_with_tiles_names_the_period_of_their_previous_figures() -> None:
    """Once, in its notes (the PDF's heading, every email's body); a report without tiles
    compares with nothing and says nothing of it."""
    for report_id in REPORTS:
        data = await report(report_id)
        named = [n for n in data.notes if n.startswith("Previous period:")]
        if data.headlines:
            assert named == ["Previous period: 7\u20139 Jun 2025 (the 3 days before)"], report_id
        else:
            assert named == [], report_id


async def test_every_other_standard_report_declares_a_chart() -> None:
    for report_id, definition in REPORTS.items():
        if report_id == "cdr":
            continue
        data = await report(report_id)
        assert len(data.charts) == len(definition.charts) >= 1, report_id
        for chart in data.charts:
            assert chart.categories, (report_id, chart.title)
            assert all(len(s.values) == len(chart.categories) for s in chart.series)


async def test_the_daily_trend_has_every_day_of_the_window_with_its_calls() -> None:
    data = await report("campaign_summary")
    trend = next(c for c in data.charts if c.kind is ChartKind.TREND)
    assert trend.categories == ("10 Jun", "11 Jun", "12 Jun")
    dialed, answered = trend.series
    # By local day: 10 June k01 - k08 (8 calls), 11 June k09 - k17 (9), 12 June k18 - k25 (8).
    assert dialed.values == (8.0, 9.0, 8.0)
    assert sum(v or 0 for v in answered.values) == 15


async def test_a_one_day_window_has_no_daily_trend_only_its_bars() -> None:
    data = await computed(request("campaign_summary", local(6, 11), local(6, 12)))
    assert [c.kind for c in data.charts] == [ChartKind.BARS]


async def test_a_one_day_window_in_another_zone_than_the_datas_has_no_trend_either() -> None:
    """11 June in New York is 06:00 on the 11th to 06:00 on the 12th in Berlin, the data's
    zone: two data days, one of them six hours, would make a two-point "trend"."""
    new_york = ZoneInfo("America/New_York")
    start = datetime(2025, 6, 11, tzinfo=new_york)
    ask = request("campaign_summary", start, start + timedelta(days=1), timezone=new_york.key)
    data = await computed(ask)
    assert [c.kind for c in data.charts] == [ChartKind.BARS]


async def test_bars_rank_campaigns_and_the_hourly_chart_keeps_hour_order() -> None:
    summary = await report("campaign_summary")
    bars = next(c for c in summary.charts if c.kind is ChartKind.BARS)
    values = bars.series[0].values
    assert list(values) == sorted(values, key=lambda v: -(v or 0))
    hourly = (await report("hourly_activity")).charts[0]
    assert list(hourly.categories) == sorted(hourly.categories)


def _hour_rows(spec: TableChart, columns: Sequence[Column]) -> list[Row]:
    """A row per hour of the day, the late ones the busiest: dialed 10 + hour."""
    keys = [column.key for column in columns]
    rows = []
    for hour in range(24):
        row: list[Cell] = [None] * len(columns)
        row[0] = f"{hour:02d}:00"
        for _, key in spec.values:
            row[keys.index(key)] = 10 + hour
        rows.append(tuple(row))
    return rows


def test_the_hourly_chart_shows_all_24_hours_and_a_ranked_chart_its_top_20() -> None:
    """Cut to 20 like a ranked chart, the hours' chart lost 20:00-23:00 and called the
    rest its "top 20"."""
    hourly = REPORTS["hourly_activity"]
    (spec,) = hourly.charts
    assert isinstance(spec, TableChart)
    columns = hourly.layouts[spec.table].columns
    rows = _hour_rows(spec, columns)
    chart = table_chart(spec, columns, rows)
    assert chart.categories == tuple(f"{hour:02d}:00" for hour in range(24))
    assert chart.title == spec.title
    ranked = table_chart(dataclasses.replace(spec, ranked=True), columns, rows)
    assert ranked.categories == tuple(f"{hour:02d}:00" for hour in range(23, 3, -1))
    assert ranked.title == f"{spec.title} (top 20 of 24)"


async def test_shares_of_dispositions_are_a_share_chart() -> None:
    chart = (await report("disposition_summary")).charts[0]
    assert chart.kind is ChartKind.SHARE
    assert "Sale" in chart.categories


def test_a_change_too_large_to_read_says_it_is_over_the_largest_shown() -> None:
    """A day's net from 0.01 to 150,000,000.00 is +1,499,999,999,900.0 %: more than a tile
    holds (the contract's 20 characters), and no more telling than "over 999,999 %"."""
    money = Column("net", "Net", ColumnKind.MONEY)
    up, down, fits = (
        tiles([Headline("Net", money, Decimal(now), Decimal(before))])[0]
        for now, before in (("150000000.00", "0.01"), ("-150000000.00", "0.01"), ("2", "1"))
    )
    assert up.change == ">+999,999 %"
    assert down.change == ">\u2212999,999 %"
    assert fits.change == "+100.0 %"
    assert (up.tone, down.tone) == (Tone.GOOD, Tone.BAD)
