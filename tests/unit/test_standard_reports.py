"""Every figure of the 14 standard reports, computed in memory from the hand-checked dataset.

The dataset (tests/report_dataset.py) is small enough to work out by hand:
every expected figure below was, following the definitions in `docs/reports.md`,
and the arithmetic is written next to each expectation. The reports read it
through `MemoryCallData`, which FerretDB is held to in
tests/integration/test_standard_reports.py.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from herald.services.renderer.reports.model import ReportData, Row, Table, rows_of
from herald.shared.contract.catalog import STANDARD_REPORTS
from tests.report_dataset import computed, local, request

D = Decimal


async def fetch(report_id: str, *args: Any, **kwargs: Any) -> ReportData:
    data = await computed(request(report_id, *args, **kwargs))
    assert data.title == STANDARD_REPORTS[report_id]
    return data


async def rows(table: Table) -> list[Row]:
    return [row async for row in rows_of(table)]


def keys(table: Table) -> tuple[str, ...]:
    return tuple(column.key for column in table.columns)


async def only_table(report_id: str, *args: Any, **kwargs: Any) -> Table:
    data = await fetch(report_id, *args, **kwargs)
    (table,) = data.tables
    return table


# -- 1. Campaign Summary ------------------------------------------------------------------

CAMPAIGN_SUMMARY_KEYS = (
    "campaign",
    "dialed",
    "answered",
    "no_answer",
    "busy_failed",
    "abandoned",
    "abandon_pct",
    "contact_rate",
    "conversions",
    "conversion_pct",
    "talk_minutes",
    "aht",
)


async def test_campaign_summary() -> None:
    table = await only_table("campaign_summary")
    assert keys(table) == CAMPAIGN_SUMMARY_KEYS
    assert await rows(table) == [
        # Solar: k01 k02 k03 k08 k09 k10 k11 k18 k19 k20 k25 = 11 dialed; answered k01 k02
        # k09 k10 k18 k19 = 6; no answer k03 k20 = 2; busy/failed k11 k25 = 2; abandoned
        # k08 = 1. Abandon 1 / (6 + 1) = 14.29 -> 14.3; contact 6 / 11 = 54.55 -> 54.5;
        # sales k01 k09 k19 = 3, 3 / 6 = 50.0; talk 300+120+360+90+60+240 = 1170 s = 19.5
        # min; handle 360+180+405+120+80+300 = 1445, / 6 = 240.83 -> 240.8.
        ("Solar Outbound", 11, 6, 2, 2, 1, D("14.3"), D("54.5"), 3, D("50.0"), D("19.5"),
         D("240.8")),
        # Insurance: k04 k05 k12 k13 k17 k21 k24 = 7; answered k04 k12 k17 k21 k24 = 5;
        # busy/failed k05 k13 = 2. Abandon 0 / 5 = 0.0; contact 5 / 7 = 71.43 -> 71.4;
        # sales k04 k17 k24 = 3, 3 / 5 = 60.0; talk 420+150+300+100+330 = 1300 s = 21.67
        # -> 21.7 min; handle 570+180+420+120+390 = 1680, / 5 = 336.0.
        ("Insurance Outbound", 7, 5, 0, 2, 0, D("0.0"), D("71.4"), 3, D("60.0"), D("21.7"),
         D("336.0")),
        # Support: k06 k07 k14 k15 k16 k22 k23 = 7; answered k06 k14 k15 k22 = 4;
        # abandoned k07 k16 k23 = 3. Abandon 3 / 7 = 42.86 -> 42.9; contact 4 / 7 = 57.14
        # -> 57.1; no sales, 0 / 4 = 0.0; talk 200+240+180+150 = 770 s = 12.83 -> 12.8 min;
        # handle 260+300+240+181 = 981, / 4 = 245.25 -> 245.3 (half up).
        ("Support Inbound", 7, 4, 0, 0, 3, D("42.9"), D("57.1"), 0, D("0.0"), D("12.8"),
         D("245.3")),
    ]  # fmt: skip
    # 25 dialed, 15 answered, 2 no answer, 4 busy/failed, 4 abandoned. Abandon 4 / 19 =
    # 21.05 -> 21.1; contact 15 / 25 = 60.0; 6 sales, 6 / 15 = 40.0; talk 1170+1300+770 =
    # 3240 s = 54.0 min; handle 1445+1680+981 = 4106, / 15 = 273.73 -> 273.7.
    assert table.totals == (
        "Total", 25, 15, 2, 4, 4, D("21.1"), D("60.0"), 6, D("40.0"), D("54.0"), D("273.7"),
    )  # fmt: skip


async def test_campaign_summary_by_campaign() -> None:
    table = await only_table("campaign_summary", campaigns=("c1", "c3"))
    assert await rows(table) == [
        ("Solar Outbound", 11, 6, 2, 2, 1, D("14.3"), D("54.5"), 3, D("50.0"), D("19.5"),
         D("240.8")),
        ("Support Inbound", 7, 4, 0, 0, 3, D("42.9"), D("57.1"), 0, D("0.0"), D("12.8"),
         D("245.3")),
    ]  # fmt: skip
    # 11 + 7 = 18 dialed, 6 + 4 = 10 answered, 2 no answer, 2 busy/failed, 1 + 3 = 4
    # abandoned. Abandon 4 / 14 = 28.57 -> 28.6; contact 10 / 18 = 55.56 -> 55.6; 3 sales,
    # 3 / 10 = 30.0; talk 1170 + 770 = 1940 s = 32.33 -> 32.3 min; handle 1445 + 981 =
    # 2426, / 10 = 242.6.
    assert table.totals == (
        "Total", 18, 10, 2, 2, 4, D("28.6"), D("55.6"), 3, D("30.0"), D("32.3"), D("242.6"),
    )  # fmt: skip


async def test_campaign_summary_by_agent() -> None:
    table = await only_table("campaign_summary", agents=("a3",))
    assert await rows(table) == [
        # Chloe's Insurance calls k04 k12 k21 k24, all answered: contact 100.0; abandon
        # 0 / 4 = 0.0; sales k04 k24 = 2, 2 / 4 = 50.0; talk 420+150+100+330 = 1000 s =
        # 16.67 -> 16.7 min; handle 570+180+120+390 = 1260, / 4 = 315.0.
        ("Insurance Outbound", 4, 4, 0, 0, 0, D("0.0"), D("100.0"), 2, D("50.0"), D("16.7"),
         D("315.0")),
        # Her Support call k15: talk 180 s = 3.0 min, handle 240.
        ("Support Inbound", 1, 1, 0, 0, 0, D("0.0"), D("100.0"), 0, D("0.0"), D("3.0"),
         D("240.0")),
    ]  # fmt: skip
    # 5 answered of 5; 2 / 5 = 40.0; talk 1180 s = 19.67 -> 19.7 min; handle 1500 / 5.
    assert table.totals == (
        "Total", 5, 5, 0, 0, 0, D("0.0"), D("100.0"), 2, D("40.0"), D("19.7"), D("300.0"),
    )  # fmt: skip


async def test_campaign_summary_over_one_day() -> None:
    table = await only_table("campaign_summary", local(6, 11), local(6, 12))
    assert await rows(table) == [
        # k09 k10 answered, k11 failed: contact 2 / 3 = 66.67 -> 66.7; sale k09, 1 / 2 =
        # 50.0; talk 360 + 90 = 450 s = 7.5 min; handle (405 + 120) / 2 = 262.5.
        ("Solar Outbound", 3, 2, 0, 1, 0, D("0.0"), D("66.7"), 1, D("50.0"), D("7.5"),
         D("262.5")),
        # k12 k17 answered, k13 failed; sale k17; talk 150 + 300 = 450 s; handle
        # (180 + 420) / 2 = 300.0.
        ("Insurance Outbound", 3, 2, 0, 1, 0, D("0.0"), D("66.7"), 1, D("50.0"), D("7.5"),
         D("300.0")),
        # k14 k15 answered, k16 abandoned: abandon 1 / 3 = 33.3; talk 240 + 180 = 420 s =
        # 7.0 min; handle (300 + 240) / 2 = 270.0.
        ("Support Inbound", 3, 2, 0, 0, 1, D("33.3"), D("66.7"), 0, D("0.0"), D("7.0"),
         D("270.0")),
    ]  # fmt: skip
    # 9 dialed, 6 answered, 2 busy/failed, 1 abandoned: abandon 1 / 7 = 14.29 -> 14.3;
    # contact 6 / 9 = 66.7; 2 / 6 = 33.33 -> 33.3; talk 1320 s = 22.0 min; handle
    # 525 + 600 + 540 = 1665, / 6 = 277.5.
    assert table.totals == (
        "Total", 9, 6, 0, 2, 1, D("14.3"), D("66.7"), 2, D("33.3"), D("22.0"), D("277.5"),
    )  # fmt: skip


async def test_campaign_summary_over_a_window_cutting_local_days() -> None:
    """Noon to noon: each day is cut, so its calls are grouped from their start times."""
    table = await only_table("campaign_summary", local(6, 11, 12), local(6, 12, 12))
    assert await rows(table) == [
        # k18 k19 answered, k20 no answer: contact 2 / 3 = 66.7; sale k19, 1 / 2 = 50.0;
        # talk 60 + 240 = 300 s = 5.0 min; handle (80 + 300) / 2 = 190.0.
        ("Solar Outbound", 3, 2, 1, 0, 0, D("0.0"), D("66.7"), 1, D("50.0"), D("5.0"),
         D("190.0")),
        # k17 (14:10 on the 11th) and k21, both answered; sale k17; talk 300 + 100 = 400 s
        # = 6.67 -> 6.7 min; handle (420 + 120) / 2 = 270.0.
        ("Insurance Outbound", 2, 2, 0, 0, 0, D("0.0"), D("100.0"), 1, D("50.0"), D("6.7"),
         D("270.0")),
        # k22 answered, k23 abandoned: abandon 1 / 2 = 50.0, contact 1 / 2 = 50.0; talk 150
        # s = 2.5 min; handle 181.
        ("Support Inbound", 2, 1, 0, 0, 1, D("50.0"), D("50.0"), 0, D("0.0"), D("2.5"),
         D("181.0")),
    ]  # fmt: skip
    # 7 dialed, 5 answered, 1 no answer, 1 abandoned: abandon 1 / 6 = 16.67 -> 16.7;
    # contact 5 / 7 = 71.43 -> 71.4; 2 / 5 = 40.0; talk 850 s = 14.17 -> 14.2 min; handle
    # 80 + 300 + 420 + 120 + 181 = 1101, / 5 = 220.2.
    assert table.totals == (
        "Total", 7, 5, 1, 0, 1, D("16.7"), D("71.4"), 2, D("40.0"), D("14.2"), D("220.2"),
    )  # fmt: skip


# -- 2. Agent Performance -----------------------------------------------------------------

HANDLING_KEYS = (
    "handled",
    "talk",
    "hold",
    "wrap",
    "aht",
    "conversions",
    "conversion_pct",
    "sales_per_hour",
    "occupancy_pct",
)

# Sessions over the window (10-12 June), login / pause:
#   Alice a1: 14400+14400+7200 = 36000 / 1800+1200+1800+600 = 5400
#   Bob   a2: 10800+7200+10800 = 28800 / 1200+300+600+600 = 2700
#   Chloe a3: 28800+28800+14400 = 72000 / 3600+3600+1800 = 9000
#   Dan   a4: 14400+14400+7200 = 36000 / 1200+900+900+900 = 3900
#   all:      172800 / 21000


async def test_agent_performance() -> None:
    table = await only_table("agent_performance")
    assert keys(table) == ("agent", "team", *HANDLING_KEYS)
    assert await rows(table) == [
        # Alice: k01 k09 k18. Talk 300+360+60 = 720, hold 0, wrap 60+45+20 = 125; handle 845,
        # / 3 = 281.67 -> 281.7; sales k01 k09, 2 / 3 = 66.67 -> 66.7; 2 / 10 h = 0.2;
        # occupancy 845 / (36000 - 5400) = 2.76 -> 2.8.
        ("Alice Martin", "Team North", 3, 720, 0, 125, D("281.7"), 2, D("66.7"), D("0.2"),
         D("2.8")),
        # Bob (now in Team North): k02 k10 k19. Talk 120+90+240 = 450, hold 30+20 = 50,
        # wrap 30+30+40 = 100; handle 600, / 3 = 200.0; sale k19, 1 / 3 = 33.3; 1 / 8 h =
        # 0.125 -> 0.1; occupancy 600 / (28800 - 2700) = 2.30 -> 2.3.
        ("Bob Keller", "Team North", 3, 450, 50, 100, D("200.0"), 1, D("33.3"), D("0.1"),
         D("2.3")),
        # Chloe: k04 k12 k15 k21 k24. Talk 420+150+180+100+330 = 1180, hold 60+30 = 90,
        # wrap 90+30+30+20+60 = 230; handle 1500, / 5 = 300.0; sales k04 k24, 2 / 5 = 40.0;
        # 2 / 20 h = 0.1; occupancy 1500 / 63000 = 2.38 -> 2.4.
        ("Chloe Durand", "Team South", 5, 1180, 90, 230, D("300.0"), 2, D("40.0"), D("0.1"),
         D("2.4")),
        # Dan: k06 k14 k17 k22. Talk 200+240+300+150 = 890, hold 20+45 = 65, wrap
        # 40+60+75+31 = 206; handle 1161, / 4 = 290.25 -> 290.3; sale k17, 1 / 4 = 25.0;
        # 1 / 10 h = 0.1; occupancy 1161 / 32100 = 3.62 -> 3.6.
        ("Dan Weber", "Team South", 4, 890, 65, 206, D("290.3"), 1, D("25.0"), D("0.1"),
         D("3.6")),
    ]  # fmt: skip
    # 15 handled; talk 3240, hold 205, wrap 661; handle 4106 / 15 = 273.7; 6 / 15 = 40.0;
    # 6 / 48 h = 0.125 -> 0.1; occupancy 4106 / (172800 - 21000) = 2.70 -> 2.7.
    assert table.totals == (
        "Total", "", 15, 3240, 205, 661, D("273.7"), 6, D("40.0"), D("0.1"), D("2.7"),
    )  # fmt: skip


async def test_agent_performance_by_agent() -> None:
    table = await only_table("agent_performance", agents=("a2", "a4"))
    assert await rows(table) == [
        ("Bob Keller", "Team North", 3, 450, 50, 100, D("200.0"), 1, D("33.3"), D("0.1"),
         D("2.3")),
        ("Dan Weber", "Team South", 4, 890, 65, 206, D("290.3"), 1, D("25.0"), D("0.1"),
         D("3.6")),
    ]  # fmt: skip
    # 7 handled; talk 1340, hold 115, wrap 306; handle 600 + 1161 = 1761, / 7 = 251.57 ->
    # 251.6; 2 / 7 = 28.57 -> 28.6; login 28800 + 36000 = 64800 s = 18 h, 2 / 18 = 0.11 ->
    # 0.1; occupancy 1761 / (64800 - 6600) = 3.03 -> 3.0.
    assert table.totals == (
        "Total", "", 7, 1340, 115, 306, D("251.6"), 2, D("28.6"), D("0.1"), D("3.0"),
    )  # fmt: skip


@pytest.mark.parametrize("report_id", ["agent_performance", "team_performance"])
async def test_an_agent_filter_matching_nothing_gives_an_empty_table_with_zero_totals(
    report_id: str,
) -> None:
    table = await only_table(report_id, agents=("nobody",))
    assert await rows(table) == []
    assert table.totals is not None
    assert table.totals[2:] == (0, 0, 0, 0, None, 0, None, None, None)


async def test_agent_performance_by_campaign_keeps_whole_sessions() -> None:
    table = await only_table("agent_performance", campaigns=("c3",))
    assert await rows(table) == [
        # Alice and Bob took no Support call; they logged in, so they are listed, with
        # their whole sessions: 0 / 10 h = 0.0, 0 / 30600 = 0.0.
        ("Alice Martin", "Team North", 0, 0, 0, 0, None, 0, None, D("0.0"), D("0.0")),
        ("Bob Keller", "Team North", 0, 0, 0, 0, None, 0, None, D("0.0"), D("0.0")),
        # Chloe: k15, handle 240; occupancy 240 / 63000 = 0.38 -> 0.4.
        ("Chloe Durand", "Team South", 1, 180, 30, 30, D("240.0"), 0, D("0.0"), D("0.0"),
         D("0.4")),
        # Dan: k06 k14 k22. Talk 200+240+150 = 590, hold 20, wrap 40+60+31 = 131; handle
        # 741, / 3 = 247.0; occupancy 741 / 32100 = 2.31 -> 2.3.
        ("Dan Weber", "Team South", 3, 590, 20, 131, D("247.0"), 0, D("0.0"), D("0.0"),
         D("2.3")),
    ]  # fmt: skip
    # handle 981 / 4 = 245.25 -> 245.3; occupancy 981 / 151800 = 0.65 -> 0.6.
    assert table.totals == (
        "Total", "", 4, 770, 50, 161, D("245.3"), 0, D("0.0"), D("0.0"), D("0.6"),
    )  # fmt: skip


async def test_agent_performance_over_one_day() -> None:
    table = await only_table("agent_performance", local(6, 12), local(6, 13))
    assert await rows(table) == [
        # Alice k18: handle 80; login 7200 s = 2 h, pause 600: 0 / 2 = 0.0; 80 / 6600 =
        # 1.21 -> 1.2.
        ("Alice Martin", "Team North", 1, 60, 0, 20, D("80.0"), 0, D("0.0"), D("0.0"),
         D("1.2")),
        # Bob k19: handle 300; login 10800 s = 3 h, pause 1200: 1 / 3 = 0.33 -> 0.3;
        # 300 / 9600 = 3.125 -> 3.1.
        ("Bob Keller", "Team North", 1, 240, 20, 40, D("300.0"), 1, D("100.0"), D("0.3"),
         D("3.1")),
        # Chloe k21 k24: talk 100 + 330 = 430, wrap 20 + 60 = 80, handle 510, / 2 = 255.0;
        # sale k24, 1 / 2 = 50.0; login 14400 s = 4 h: 1 / 4 = 0.25 -> 0.3; 510 / 12600 =
        # 4.05 -> 4.0.
        ("Chloe Durand", "Team South", 2, 430, 0, 80, D("255.0"), 1, D("50.0"), D("0.3"),
         D("4.0")),
        # Dan k22: handle 181; login 7200, pause 900: 181 / 6300 = 2.87 -> 2.9.
        ("Dan Weber", "Team South", 1, 150, 0, 31, D("181.0"), 0, D("0.0"), D("0.0"),
         D("2.9")),
    ]  # fmt: skip
    # handle 80+300+510+181 = 1071, / 5 = 214.2; 2 / 5 = 40.0; login 39600 s = 11 h,
    # 2 / 11 = 0.18 -> 0.2; pause 4500: 1071 / 35100 = 3.05 -> 3.1.
    assert table.totals == (
        "Total", "", 5, 880, 20, 171, D("214.2"), 2, D("40.0"), D("0.2"), D("3.1"),
    )  # fmt: skip


# -- 3. Agent Time and Pauses ---------------------------------------------------------------

AGENT_TIME_KEYS = (
    "agent",
    "team",
    "login",
    "ready",
    "talk",
    "wrap",
    "pause",
    "pause_break",
    "pause_lunch",
    "pause_training",
    "pause_meeting",
    "pause_personal",
    "utilisation_pct",
)


async def test_agent_time() -> None:
    table = await only_table("agent_time")
    assert keys(table) == AGENT_TIME_KEYS
    assert await rows(table) == [
        # ready 9000+9600+5400 = 24000, talk 1800+2400+900 = 5100, wrap 600+600+300 = 1500;
        # break 1800+1800 = 3600, lunch 1200, personal 600; (5100 + 1500) / 36000 = 18.33.
        ("Alice Martin", "Team North", 36000, 24000, 5100, 1500, 5400, 3600, 1200, 0, 0, 600,
         D("18.3")),
        # ready 7200+5400+6600 = 19200, talk 1800+1200+2400 = 5400, wrap 600+300+600 = 1500;
        # break 300+600 = 900, training 1200, meeting 600; 6900 / 28800 = 23.96 -> 24.0.
        ("Bob Keller", "Team North", 28800, 19200, 5400, 1500, 2700, 900, 0, 1200, 600, 0,
         D("24.0")),
        # ready 18000+19800+9000 = 46800, talk 5400+3600+2700 = 11700, wrap 1800+1800+900 =
        # 4500; break 1800, lunch 3600+3600 = 7200; 16200 / 72000 = 22.5.
        ("Chloe Durand", "Team South", 72000, 46800, 11700, 4500, 9000, 1800, 7200, 0, 0, 0,
         D("22.5")),
        # ready 10800+9000+4500 = 24300, talk 1800+2700+1500 = 6000, wrap 600+900+300 = 1800;
        # break 1200+900 = 2100, lunch 900, meeting 900; 7800 / 36000 = 21.67 -> 21.7.
        ("Dan Weber", "Team South", 36000, 24300, 6000, 1800, 3900, 2100, 900, 0, 900, 0,
         D("21.7")),
    ]  # fmt: skip
    # (28200 + 9300) / 172800 = 21.70 -> 21.7.
    assert table.totals == (
        "Total", "", 172800, 114300, 28200, 9300, 21000, 8400, 9300, 1200, 1500, 600,
        D("21.7"),
    )  # fmt: skip


async def test_agent_time_by_agent_and_day() -> None:
    table = await only_table("agent_time", agents=("a3",))
    chloe = ("Chloe Durand", "Team South", 72000, 46800, 11700, 4500, 9000, 1800, 7200, 0, 0, 0)
    assert await rows(table) == [(*chloe, D("22.5"))]
    assert table.totals == ("Total", "", *chloe[2:], D("22.5"))

    table = await only_table("agent_time", local(6, 12), local(6, 13))
    assert await rows(table) == [
        # (900 + 300) / 7200 = 16.67 -> 16.7
        ("Alice Martin", "Team North", 7200, 5400, 900, 300, 600, 0, 0, 0, 0, 600, D("16.7")),
        # (2400 + 600) / 10800 = 27.78 -> 27.8
        ("Bob Keller", "Team North", 10800, 6600, 2400, 600, 1200, 600, 0, 0, 600, 0,
         D("27.8")),
        # (2700 + 900) / 14400 = 25.0
        ("Chloe Durand", "Team South", 14400, 9000, 2700, 900, 1800, 1800, 0, 0, 0, 0,
         D("25.0")),
        # (1500 + 300) / 7200 = 25.0
        ("Dan Weber", "Team South", 7200, 4500, 1500, 300, 900, 0, 900, 0, 0, 0, D("25.0")),
    ]  # fmt: skip
    # (7500 + 2100) / 39600 = 24.24 -> 24.2
    assert table.totals == (
        "Total", "", 39600, 25500, 7500, 2100, 4500, 2400, 900, 0, 600, 600, D("24.2"),
    )  # fmt: skip


# -- 4. Team Performance ------------------------------------------------------------------


async def test_team_performance() -> None:
    table = await only_table("team_performance")
    assert keys(table) == ("team", "agents", *HANDLING_KEYS)
    assert await rows(table) == [
        # The calls' team North: k01 k09 k18 (Alice), k10 k19 (Bob): 2 agents. Talk
        # 300+360+90+60+240 = 1050, hold 20, wrap 60+45+30+20+40 = 195; handle 1265, / 5 =
        # 253.0; sales k01 k09 k19, 3 / 5 = 60.0. Sessions of its current agents Alice and
        # Bob: login 36000 + 28800 = 64800 s = 18 h, 3 / 18 = 0.17 -> 0.2; pause 5400 +
        # 2700 = 8100, 1265 / 56700 = 2.23 -> 2.2.
        ("Team North", 2, 5, 1050, 20, 195, D("253.0"), 3, D("60.0"), D("0.2"), D("2.2")),
        # South: Bob's k02 (then in South), Chloe's 5 and Dan's 4 calls: 3 agents, 10
        # handled. Talk 120+1180+890 = 2190, hold 30+90+65 = 185, wrap 30+230+206 = 466;
        # handle 180+1500+1161 = 2841, / 10 = 284.1; sales 2 + 1 = 3, 3 / 10 = 30.0.
        # Sessions of Chloe and Dan: 72000 + 36000 = 108000 s = 30 h, 3 / 30 = 0.1; pause
        # 9000 + 3900 = 12900, 2841 / 95100 = 2.99 -> 3.0.
        ("Team South", 3, 10, 2190, 185, 466, D("284.1"), 3, D("30.0"), D("0.1"), D("3.0")),
    ]  # fmt: skip
    # Agents a1 a2 a3 a4 = 4 (Bob once); as Agent Performance's totals.
    assert table.totals == (
        "Total", 4, 15, 3240, 205, 661, D("273.7"), 6, D("40.0"), D("0.1"), D("2.7"),
    )  # fmt: skip


async def test_team_performance_by_agent() -> None:
    table = await only_table("team_performance", agents=("a2",))
    assert await rows(table) == [
        # Bob's k10 k19: talk 330, hold 20, wrap 70, handle 420, / 2 = 210.0; sale k19,
        # 50.0; his sessions: 28800 s = 8 h, 1 / 8 = 0.125 -> 0.1; 420 / 26100 = 1.61 -> 1.6.
        ("Team North", 1, 2, 330, 20, 70, D("210.0"), 1, D("50.0"), D("0.1"), D("1.6")),
        # Bob's k02 under Team South, which has no session of his: no login to divide by.
        ("Team South", 1, 1, 120, 30, 30, D("180.0"), 0, D("0.0"), None, None),
    ]  # fmt: skip
    # handle 600 / 3 = 200.0; 1 / 3 = 33.3; 1 / 8 h -> 0.1; 600 / 26100 = 2.30 -> 2.3.
    assert table.totals == (
        "Total", 1, 3, 450, 50, 100, D("200.0"), 1, D("33.3"), D("0.1"), D("2.3"),
    )  # fmt: skip


# -- 5. Disposition Summary ---------------------------------------------------------------


async def test_disposition_summary() -> None:
    table = await only_table("disposition_summary")
    assert keys(table) == ("disposition", "calls", "share_pct", "total_time", "average_time")
    assert await rows(table) == [
        # Shares of 25 calls; time = handle time; average over all the disposition's calls.
        ("(none)", 1, D("4.0"), 0, D("0.0")),  # k11
        ("Abandoned", 4, D("16.0"), 0, D("0.0")),  # k07 k08 k16 k23
        ("Busy", 2, D("8.0"), 0, D("0.0")),  # k05 k25
        ("Callback", 3, D("12.0"), 440, D("146.7")),  # k02 k12 k18: 180+180+80, / 3
        ("DNC", 1, D("4.0"), 0, D("0.0")),  # k13
        ("No answer", 2, D("8.0"), 0, D("0.0")),  # k03 k20
        ("No interest", 2, D("8.0"), 240, D("120.0")),  # k10 k21: 120 + 120
        # k06 k14 k15 k22: 260+300+240+181 = 981, / 4 = 245.25 -> 245.3
        ("Resolved", 4, D("16.0"), 981, D("245.3")),
        # k01 k04 k09 k17 k19 k24: 360+570+405+420+300+390 = 2445, / 6 = 407.5
        ("Sale", 6, D("24.0"), 2445, D("407.5")),
    ]
    # 4106 / 25 = 164.24 -> 164.2
    assert table.totals == ("Total", 25, D("100.0"), 4106, D("164.2"))


async def test_disposition_summary_by_agent() -> None:
    table = await only_table("disposition_summary", agents=("a1",))
    assert await rows(table) == [
        ("Callback", 1, D("33.3"), 80, D("80.0")),  # k18, 1 / 3 = 33.33
        ("Sale", 2, D("66.7"), 765, D("382.5")),  # k01 k09: 360 + 405 = 765, / 2
    ]
    assert table.totals == ("Total", 3, D("100.0"), 845, D("281.7"))  # 845 / 3 = 281.67


# -- 6. Hourly Activity -------------------------------------------------------------------

HOURLY_KEYS = ("hour", "dialed", "answered", "abandoned", "conversions", "average_wait")


async def test_hourly_activity() -> None:
    data = await fetch("hourly_activity")
    (table,) = data.tables
    assert keys(table) == HOURLY_KEYS
    assert data.notes == ("Hours are local to Europe/Berlin, the zone calls are recorded in.",)
    assert await rows(table) == [
        # Local hours. Average wait = wait of all the hour's calls / (answered + abandoned).
        ("00:00", 1, 1, 0, 1, D("2.0")),  # k01 (22:30 UTC): 2 / 1
        # k02 k03 k09 k10 k11 k18 k19; answered k02 k09 k10 k18 k19; sales k09 k19;
        # wait 3+2+4+2+1 = 12, / 5 = 2.4
        ("09:00", 7, 5, 0, 2, D("2.4")),
        # k04 k05 k06 k12 k13 k20 k21; answered k04 k06 k12 k21; sale k04; wait
        # 1+15+2+2 = 20, / 4 = 5.0
        ("10:00", 7, 4, 0, 1, D("5.0")),
        # k07 k08 k14 k15 k16 k22 k23; answered k14 k15 k22; abandoned k07 k08 k16 k23;
        # wait 45+5+25+10+60+20+35 = 200, / 7 = 28.57 -> 28.6
        ("11:00", 7, 3, 4, 0, D("28.6")),
        ("14:00", 1, 1, 0, 1, D("3.0")),  # k17
        ("15:00", 1, 1, 0, 1, D("2.0")),  # k24
        ("23:00", 1, 0, 0, 0, None),  # k25, busy: nothing to divide by
    ]
    # wait 2+12+20+200+3+2 = 239, / 19 = 12.58 -> 12.6
    assert table.totals == ("Total", 25, 15, 4, 6, D("12.6"))


async def test_hourly_activity_filtered() -> None:
    table = await only_table("hourly_activity", campaigns=("c3",))
    assert await rows(table) == [
        ("10:00", 1, 1, 0, 0, D("15.0")),  # k06
        # k07 k14 k15 k16 k22 k23: wait 45+25+10+60+20+35 = 195, / 6 = 32.5
        ("11:00", 6, 3, 3, 0, D("32.5")),
    ]
    assert table.totals == ("Total", 7, 4, 3, 0, D("30.0"))  # 210 / 7

    table = await only_table("hourly_activity", agents=("a1",))
    assert await rows(table) == [
        ("00:00", 1, 1, 0, 1, D("2.0")),  # k01
        ("09:00", 2, 2, 0, 1, D("2.0")),  # k09 k18: (2 + 2) / 2
    ]
    assert table.totals == ("Total", 3, 3, 0, 2, D("2.0"))

    table = await only_table("hourly_activity", local(6, 10), local(6, 11))
    assert await rows(table) == [
        ("00:00", 1, 1, 0, 1, D("2.0")),  # k01
        ("09:00", 2, 1, 0, 0, D("3.0")),  # k02 k03
        ("10:00", 3, 2, 0, 1, D("8.0")),  # k04 k05 k06: (1 + 15) / 2
        ("11:00", 2, 0, 2, 0, D("25.0")),  # k07 k08: (45 + 5) / 2
    ]
    # (2 + 3 + 16 + 50) / 6 = 11.83 -> 11.8
    assert table.totals == ("Total", 8, 4, 2, 2, D("11.8"))


async def test_hourly_activity_over_a_window_cutting_local_days() -> None:
    table = await only_table("hourly_activity", local(6, 11, 12), local(6, 12, 12))
    assert await rows(table) == [
        ("09:00", 2, 2, 0, 1, D("1.5")),  # k18 k19: (2 + 1) / 2
        ("10:00", 2, 1, 0, 0, D("2.0")),  # k20 k21
        ("11:00", 2, 1, 1, 0, D("27.5")),  # k22 k23: (20 + 35) / 2
        ("14:00", 1, 1, 0, 1, D("3.0")),  # k17, on the 11th
    ]
    # (3 + 2 + 55 + 3) / 6 = 10.5
    assert table.totals == ("Total", 7, 5, 1, 2, D("10.5"))


# -- 7. List Penetration ------------------------------------------------------------------


async def test_list_penetration() -> None:
    table = await only_table("list_penetration")
    assert keys(table) == (
        "list",
        "campaign",
        "leads",
        "dialed",
        "contacted",
        "converted",
        "penetration_pct",
        "attempts_per_lead",
    )
    assert await rows(table) == [
        # 11 calls to leads 101 102 103 104 105 106 107 108 109 = 9 of 10 (90.0); answered
        # 101 102 105 107 = 4; sold 101 (twice) 102 = 2; 11 / 9 = 1.22 -> 1.2.
        ("Solar May", "Solar Outbound", 10, 9, 4, 2, D("90.0"), D("1.2")),
        # 7 calls to leads 201 202 203 204 205 206 = 6 of 8 (75.0); answered 201 203 205 206
        # = 4; sold 201 203 205 = 3; 7 / 6 = 1.17 -> 1.2.
        ("Insurance Leads", "Insurance Outbound", 8, 6, 4, 3, D("75.0"), D("1.2")),
    ]
    # 15 of 18 = 83.33 -> 83.3; 18 calls / 15 = 1.2.
    assert table.totals == ("Total", "", 18, 15, 8, 5, D("83.3"), D("1.2"))


async def test_list_penetration_by_campaign_and_day() -> None:
    table = await only_table("list_penetration", campaigns=("c2",))
    assert await rows(table) == [
        ("Insurance Leads", "Insurance Outbound", 8, 6, 4, 3, D("75.0"), D("1.2")),
    ]
    assert table.totals == ("Total", "", 8, 6, 4, 3, D("75.0"), D("1.2"))

    table = await only_table("list_penetration", local(6, 12), local(6, 13))
    assert await rows(table) == [
        # k18 (107) k19 (101) k20 (108) k25 (109): 4 leads, answered 107 101, sold 101.
        ("Solar May", "Solar Outbound", 10, 4, 2, 1, D("40.0"), D("1.0")),
        # k21 (206) k24 (203): both answered, 203 sold; 2 of 8 = 25.0.
        ("Insurance Leads", "Insurance Outbound", 8, 2, 2, 1, D("25.0"), D("1.0")),
    ]
    # 6 of 18 = 33.3; 6 calls / 6 leads.
    assert table.totals == ("Total", "", 18, 6, 4, 2, D("33.3"), D("1.0"))


# -- 8. CDR Report ------------------------------------------------------------------------


def dt(day: int, hour: int, minute: int) -> datetime:
    return datetime(2025, 6, day, hour, minute)


OB, IB = "outbound", "inbound"
Z = D("0.00")
CDR: dict[str, Row] = {
    str(row[1]): row
    for row in [
        # started, id, direction, campaign, list, lead, queue, agent, phone, status,
        # disposition, carrier, cause, wait, ring, talk, hold, wrap, cost, sale, revenue
        (dt(10, 0, 30), "k01", OB, "c1", "l1", "101", None, "a1", "+4930****01", "answered",
         "Sale", "Telco", "normal", 2, 10, 300, 0, 60, D("0.12"), True, D("150.00")),
        (dt(10, 9, 15), "k02", OB, "c1", "l1", "102", None, "a2", "+4930****02", "answered",
         "Callback", "Telco", "normal", 3, 8, 120, 30, 30, D("0.06"), False, Z),
        (dt(10, 9, 40), "k03", OB, "c1", "l1", "103", None, None, "+4930****03", "no_answer",
         "No answer", "Telco", "no_answer", 0, 30, 0, 0, 0, Z, False, Z),
        (dt(10, 10, 5), "k04", OB, "c2", "l2", "201", None, "a3", "+4930****04", "answered",
         "Sale", "Voxa", "normal", 1, 6, 420, 60, 90, D("0.20"), True, D("300.00")),
        (dt(10, 10, 20), "k05", OB, "c2", "l2", "202", None, None, "+4930****05", "busy",
         "Busy", "Voxa", "user_busy", 0, 0, 0, 0, 0, Z, False, Z),
        (dt(10, 10, 50), "k06", IB, "c3", None, None, "q-support", "a4", "+4930****06",
         "answered", "Resolved", "Telco", "normal", 15, 0, 200, 20, 40, D("0.05"), False, Z),
        (dt(10, 11, 10), "k07", IB, "c3", None, None, "q-support", None, "+4930****07",
         "abandoned", "Abandoned", "Telco", "caller_hangup", 45, 0, 0, 0, 0, D("0.02"), False,
         Z),
        (dt(10, 11, 30), "k08", OB, "c1", "l1", "104", None, None, "+4930****08", "abandoned",
         "Abandoned", "Telco", "caller_hangup", 5, 12, 0, 0, 0, D("0.03"), False, Z),
        (dt(11, 9, 5), "k09", OB, "c1", "l1", "102", None, "a1", "+4930****09", "answered",
         "Sale", "Telco", "normal", 2, 9, 360, 0, 45, D("0.14"), True, D("150.00")),
        (dt(11, 9, 25), "k10", OB, "c1", "l1", "105", None, "a2", "+4930****10", "answered",
         "No interest", "Telco", "normal", 4, 7, 90, 0, 30, D("0.04"), False, Z),
        (dt(11, 9, 50), "k11", OB, "c1", "l1", "106", None, None, "+4930****11", "failed",
         "", "", "network_error", 0, 0, 0, 0, 0, Z, False, Z),
        (dt(11, 10, 15), "k12", OB, "c2", "l2", "203", None, "a3", "+4930****12", "answered",
         "Callback", "Voxa", "normal", 2, 5, 150, 0, 30, D("0.07"), False, Z),
        (dt(11, 10, 40), "k13", OB, "c2", "l2", "204", None, None, "+4930****13", "failed",
         "DNC", "Voxa", "call_rejected", 0, 0, 0, 0, 0, Z, False, Z),
        (dt(11, 11, 5), "k14", IB, "c3", None, None, "q-billing", "a4", "+4930****14",
         "answered", "Resolved", "Telco", "normal", 25, 0, 240, 0, 60, D("0.06"), False, Z),
        (dt(11, 11, 20), "k15", IB, "c3", None, None, "q-support", "a3", "+4930****15",
         "answered", "Resolved", "Telco", "normal", 10, 0, 180, 30, 30, D("0.05"), False, Z),
        (dt(11, 11, 45), "k16", IB, "c3", None, None, "q-billing", None, "+4930****16",
         "abandoned", "Abandoned", "Telco", "caller_hangup", 60, 0, 0, 0, 0, D("0.03"), False,
         Z),
        (dt(11, 14, 10), "k17", OB, "c2", "l2", "205", None, "a4", "+4930****17", "answered",
         "Sale", "Voxa", "normal", 3, 6, 300, 45, 75, D("0.15"), True, D("250.00")),
        (dt(12, 9, 10), "k18", OB, "c1", "l1", "107", None, "a1", "+4930****18", "answered",
         "Callback", "Telco", "normal", 2, 8, 60, 0, 20, D("0.03"), False, Z),
        (dt(12, 9, 35), "k19", OB, "c1", "l1", "101", None, "a2", "+4930****19", "answered",
         "Sale", "Telco", "normal", 1, 6, 240, 20, 40, D("0.10"), True, D("150.00")),
        (dt(12, 10, 0), "k20", OB, "c1", "l1", "108", None, None, "+4930****20", "no_answer",
         "No answer", "Telco", "no_answer", 0, 30, 0, 0, 0, Z, False, Z),
        (dt(12, 10, 30), "k21", OB, "c2", "l2", "206", None, "a3", "+4930****21", "answered",
         "No interest", "Voxa", "normal", 2, 7, 100, 0, 20, D("0.04"), False, Z),
        (dt(12, 11, 0), "k22", IB, "c3", None, None, "q-support", "a4", "+4930****22",
         "answered", "Resolved", "Telco", "normal", 20, 0, 150, 0, 31, D("0.04"), False, Z),
        (dt(12, 11, 15), "k23", IB, "c3", None, None, "q-support", None, "+4930****23",
         "abandoned", "Abandoned", "Telco", "caller_hangup", 35, 0, 0, 0, 0, D("0.02"), False,
         Z),
        (dt(12, 15, 20), "k24", OB, "c2", "l2", "203", None, "a3", "+4930****24", "answered",
         "Sale", "Voxa", "normal", 2, 5, 330, 0, 60, D("0.12"), True, D("300.00")),
        (dt(12, 23, 30), "k25", OB, "c1", "l1", "109", None, None, "+4930****25", "busy",
         "Busy", "Telco", "user_busy", 0, 0, 0, 0, 0, Z, False, Z),
    ]
}  # fmt: skip


def cdr_rows(*call_ids: str) -> list[Row]:
    return [CDR[call_id] for call_id in call_ids]


async def test_cdr() -> None:
    data = await fetch("cdr")
    (table,) = data.tables
    assert keys(table) == (
        "started_at",
        "call_id",
        "direction",
        "campaign_id",
        "list_id",
        "lead_id",
        "queue_id",
        "agent_id",
        "phone",
        "status",
        "disposition",
        "carrier",
        "hangup_cause",
        "wait_s",
        "ring_s",
        "talk_s",
        "hold_s",
        "wrap_s",
        "cost",
        "sale",
        "revenue",
    )
    assert data.notes == ("Times are local to Europe/Berlin.",)
    # Every call of the tenant in the window, oldest first; none before (p04 at 23:45 on
    # the 9th), after (f01 at 00:15 on the 13th) or of the other tenant (o01).
    assert await rows(table) == list(CDR.values())
    assert table.totals is None


async def test_cdr_filtered() -> None:
    table = await only_table("cdr", campaigns=("c3",))
    assert await rows(table) == cdr_rows("k06", "k07", "k14", "k15", "k16", "k22", "k23")

    table = await only_table("cdr", agents=("a2",))
    assert await rows(table) == cdr_rows("k02", "k10", "k19")

    table = await only_table("cdr", local(6, 12), local(6, 13))
    assert await rows(table) == cdr_rows("k18", "k19", "k20", "k21", "k22", "k23", "k24", "k25")


async def test_cdr_shows_times_in_the_schedules_zone() -> None:
    """A UTC day is 02:00 to 02:00 in Berlin: k01 (00:30 local) falls on the 9th."""
    utc = ZoneInfo("UTC")
    table = await only_table(
        "cdr",
        datetime(2025, 6, 10, tzinfo=utc),
        datetime(2025, 6, 11, tzinfo=utc),
        timezone="UTC",
    )
    expected = [
        (dt(10, hour - 2, minute), *CDR[call_id][1:])
        for call_id, hour, minute in [
            ("k02", 9, 15),
            ("k03", 9, 40),
            ("k04", 10, 5),
            ("k05", 10, 20),
            ("k06", 10, 50),
            ("k07", 11, 10),
            ("k08", 11, 30),
        ]
    ]
    assert expected[0][0] == datetime(2025, 6, 10, 7, 15)
    assert await rows(table) == expected


# -- 9. Compliance and Abandonment ----------------------------------------------------------

# Calls before the window: abandoned h03 (11 May, outside every rolling window), h01 (12
# May, in 10 June's only), h02 (13 May, in 10 and 11 June's), h04 (20 May, Insurance);
# p01 answered (8 June), p03 abandoned (9 June), p02 answered (Insurance, 9 June), p04
# abandoned (Support, 9 June).


async def test_compliance() -> None:
    table = await only_table("compliance")
    assert keys(table) == (
        "campaign",
        "day",
        "answered",
        "abandoned",
        "abandon_pct",
        "rolling_abandon_pct",
        "over_threshold",
        "outside_hours",
        "dnc_hits",
    )
    d10, d11, d12 = date(2025, 6, 10), date(2025, 6, 11), date(2025, 6, 12)
    assert await rows(table) == [
        # Solar, threshold 30 %.
        # 10th: k01 k02 answered, k08 abandoned: 1 / 3 = 33.3; k01 outside hours. Rolling
        # from 12 May: answered p01 + 2 = 3, abandoned h01 h02 p03 k08 = 4: 4 / 7 = 57.1.
        ("Solar Outbound", d10, 2, 1, D("33.3"), D("57.1"), True, 1, 0),
        # 11th: k09 k10 answered. From 13 May: answered 1 + 2 + 2 = 5, abandoned h02 p03
        # k08 = 3: 3 / 8 = 37.5.
        ("Solar Outbound", d11, 2, 0, D("0.0"), D("37.5"), True, 0, 0),
        # 12th: k18 k19 answered; k25 outside hours. From 14 May: answered 7, abandoned
        # p03 k08 = 2: 2 / 9 = 22.2, under 30.
        ("Solar Outbound", d12, 2, 0, D("0.0"), D("22.2"), False, 1, 0),
        # Insurance, threshold 20 %.
        # 10th: k04. Rolling: h04 abandoned; p02 k04 answered: 1 / 3 = 33.3.
        ("Insurance Outbound", d10, 1, 0, D("0.0"), D("33.3"), True, 0, 0),
        # 11th: k12 k17; k13 a DNC hit. Rolling 1 / 5 = 20.0: not over 20.
        ("Insurance Outbound", d11, 2, 0, D("0.0"), D("20.0"), False, 0, 1),
        # 12th: k21 k24. Rolling 1 / 7 = 14.3.
        ("Insurance Outbound", d12, 2, 0, D("0.0"), D("14.3"), False, 0, 0),
        # Support, the default threshold 3 %.
        # 10th: k06 answered, k07 abandoned. Rolling with p04: 2 / 3 = 66.7.
        ("Support Inbound", d10, 1, 1, D("50.0"), D("66.7"), True, 0, 0),
        # 11th: k14 k15, k16: 1 / 3 = 33.3. Rolling 3 / 6 = 50.0.
        ("Support Inbound", d11, 2, 1, D("33.3"), D("50.0"), True, 0, 0),
        # 12th: k22, k23: 1 / 2 = 50.0. Rolling 4 / 8 = 50.0.
        ("Support Inbound", d12, 1, 1, D("50.0"), D("50.0"), True, 0, 0),
    ]
    # 15 answered, 4 abandoned: 4 / 19 = 21.1; outside hours k01 k25; DNC k13.
    assert table.totals == ("Total", None, 15, 4, D("21.1"), None, None, 2, 1)


async def test_compliance_by_campaign_and_day() -> None:
    table = await only_table("compliance", campaigns=("c2",))
    assert await rows(table) == [
        ("Insurance Outbound", date(2025, 6, 10), 1, 0, D("0.0"), D("33.3"), True, 0, 0),
        ("Insurance Outbound", date(2025, 6, 11), 2, 0, D("0.0"), D("20.0"), False, 0, 1),
        ("Insurance Outbound", date(2025, 6, 12), 2, 0, D("0.0"), D("14.3"), False, 0, 0),
    ]
    assert table.totals == ("Total", None, 5, 0, D("0.0"), None, None, 0, 1)

    # The 12th alone: its rolling rates still reach back 29 days, through the 10th and 11th.
    table = await only_table("compliance", local(6, 12), local(6, 13))
    assert await rows(table) == [
        ("Solar Outbound", date(2025, 6, 12), 2, 0, D("0.0"), D("22.2"), False, 1, 0),
        ("Insurance Outbound", date(2025, 6, 12), 2, 0, D("0.0"), D("14.3"), False, 0, 0),
        ("Support Inbound", date(2025, 6, 12), 1, 1, D("50.0"), D("50.0"), True, 0, 0),
    ]
    # 5 answered, 1 abandoned: 1 / 6 = 16.7; k25 outside hours.
    assert table.totals == ("Total", None, 5, 1, D("16.7"), None, None, 1, 0)


# -- 10. Hangup Causes and Carriers ----------------------------------------------------------


async def test_hangup_causes() -> None:
    table = await only_table("hangup_causes")
    assert keys(table) == ("carrier", "cause", "calls", "share_pct", "average_duration", "cost")
    assert await rows(table) == [
        # Shares of 25 calls; average duration = (ring + wait + talk + hold) / calls.
        ("(none)", "network_error", 1, D("4.0"), D("0.0"), Z),  # k11
        # k07 k08 k16 k23: 45 + 17 + 60 + 35 = 157, / 4 = 39.25 -> 39.3; 2+3+3+2 cents
        ("Telco", "caller_hangup", 4, D("16.0"), D("39.3"), D("0.10")),
        ("Telco", "no_answer", 2, D("8.0"), D("30.0"), Z),  # k03 k20: 30 + 30
        # k01 k02 k06 k09 k10 k14 k15 k18 k19 k22: 312+161+235+371+101+265+220+70+267+170
        # = 2172, / 10 = 217.2; 12+6+5+14+4+6+5+3+10+4 = 69 cents
        ("Telco", "normal", 10, D("40.0"), D("217.2"), D("0.69")),
        ("Telco", "user_busy", 1, D("4.0"), D("0.0"), Z),  # k25
        ("Voxa", "call_rejected", 1, D("4.0"), D("0.0"), Z),  # k13
        # k04 k12 k17 k21 k24: 487+157+354+109+337 = 1444, / 5 = 288.8; 20+7+15+4+12 = 58
        ("Voxa", "normal", 5, D("20.0"), D("288.8"), D("0.58")),
        ("Voxa", "user_busy", 1, D("4.0"), D("0.0"), Z),  # k05
    ]
    # 157 + 60 + 2172 + 1444 = 3833, / 25 = 153.32 -> 153.3; 10 + 69 + 58 = 137 cents
    assert table.totals == ("Total", "", 25, D("100.0"), D("153.3"), D("1.37"))


async def test_hangup_causes_by_campaign() -> None:
    table = await only_table("hangup_causes", campaigns=("c3",))
    assert await rows(table) == [
        # k07 k16 k23: 45 + 60 + 35 = 140, / 3 = 46.67 -> 46.7; 3 of 7 = 42.86 -> 42.9
        ("Telco", "caller_hangup", 3, D("42.9"), D("46.7"), D("0.07")),
        # k06 k14 k15 k22: 235 + 265 + 220 + 170 = 890, / 4 = 222.5; 5+6+5+4 = 20 cents
        ("Telco", "normal", 4, D("57.1"), D("222.5"), D("0.20")),
    ]
    # 1030 / 7 = 147.14 -> 147.1; 27 cents
    assert table.totals == ("Total", "", 7, D("100.0"), D("147.1"), D("0.27"))


# -- 11. Callbacks ------------------------------------------------------------------------


async def test_callbacks() -> None:
    table = await only_table("callbacks")
    assert keys(table) == ("agent", "scheduled", "completed", "missed", "completion_pct")
    assert await rows(table) == [
        ("Alice Martin", 2, 1, 1, D("50.0")),  # k09 (completed), k18
        ("Bob Keller", 1, 0, 1, D("0.0")),  # k02
        ("Chloe Durand", 2, 1, 1, D("50.0")),  # k12, k15 (completed)
        # Dan scheduled none: no row. p01 (Alice, 8 June) is before the window.
    ]
    assert table.totals == ("Total", 5, 2, 3, D("40.0"))  # 2 / 5


async def test_callbacks_filtered() -> None:
    table = await only_table("callbacks", campaigns=("c2",))
    assert await rows(table) == [("Chloe Durand", 1, 0, 1, D("0.0"))]  # k12
    assert table.totals == ("Total", 1, 0, 1, D("0.0"))

    table = await only_table("callbacks", agents=("a4",))
    assert await rows(table) == []
    assert table.totals == ("Total", 0, 0, 0, None)


# -- 12. Inbound Queues -------------------------------------------------------------------


async def test_inbound_queues() -> None:
    table = await only_table("inbound_queues")
    assert keys(table) == (
        "queue",
        "offered",
        "answered",
        "abandoned",
        "service_level_pct",
        "asa",
        "longest_wait",
    )
    assert await rows(table) == [
        # k14 answered after 25 s (over 20), k16 abandoned after 60: SL 0 / 2 = 0.0; ASA
        # 25 / 1; longest 60.
        ("q-billing", 2, 1, 1, D("0.0"), D("25.0"), 60),
        # k06 (15 s), k15 (10 s), k22 (20 s) answered, all within 20 s; k07 (45), k23 (35)
        # abandoned: SL 3 / 5 = 60.0; ASA (15 + 10 + 20) / 3 = 15.0; longest 45.
        ("q-support", 5, 3, 2, D("60.0"), D("15.0"), 45),
    ]
    # SL 3 / 7 = 42.86 -> 42.9; ASA (25 + 45) / 4 = 17.5; longest 60.
    assert table.totals == ("Total", 7, 4, 3, D("42.9"), D("17.5"), 60)


async def test_inbound_queues_over_one_day() -> None:
    table = await only_table("inbound_queues", local(6, 11), local(6, 12))
    assert await rows(table) == [
        ("q-billing", 2, 1, 1, D("0.0"), D("25.0"), 60),  # k14, k16
        ("q-support", 1, 1, 0, D("100.0"), D("10.0"), 10),  # k15
    ]
    # SL 1 / 3 = 33.3; ASA (25 + 10) / 2 = 17.5
    assert table.totals == ("Total", 3, 2, 1, D("33.3"), D("17.5"), 60)


# -- 13. ROI Report -----------------------------------------------------------------------

MONEY_KEYS = (
    "sales",
    "revenue",
    "call_cost",
    "labour_cost",
    "total_cost",
    "net",
    "roi_pct",
    "cpa",
)


async def test_roi() -> None:
    data = await fetch("roi")
    by_campaign, by_agent = data.tables
    assert (by_campaign.title, by_agent.title) == ("By campaign", "By agent")
    assert keys(by_campaign) == ("campaign", *MONEY_KEYS, "revenue_per_agent")
    assert await rows(by_campaign) == [
        # Solar: revenue 3 x 150.00; calls cost 12+6+3+14+4+3+10 = 52 cents; labour 1445 s
        # x 18.00/h = 722.5 -> 723 cents; total 775; net 45000 - 775 = 44225; ROI
        # 44225 / 775 = 5706.45 -> 5706.5 %; CPA 775 / 3 = 258.3 cents -> 2.58; Alice and
        # Bob handled its calls: 450.00 / 2.
        ("Solar Outbound", 3, D("450.00"), D("0.52"), D("7.23"), D("7.75"), D("442.25"),
         D("5706.5"), D("2.58"), D("225.00")),
        # Insurance: 300 + 250 + 300; cost 20+7+15+4+12 = 58; labour 1680 s x 24.00/h =
        # 1120; total 1178; net 83822; ROI 83822 / 1178 = 7115.62 -> 7115.6 %; CPA 1178 / 3
        # = 392.7 cents -> 3.93; Chloe and Dan: 850.00 / 2.
        ("Insurance Outbound", 3, D("850.00"), D("0.58"), D("11.20"), D("11.78"),
         D("838.22"), D("7115.6"), D("3.93"), D("425.00")),
        # Support: no revenue; cost 5+2+6+5+3+4+2 = 27; labour 981 s x 12.00/h = 327; total
        # 354, net -354: -100.0 %; no sale, no CPA; Dan and Chloe: 0 / 2.
        ("Support Inbound", 0, D("0.00"), D("0.27"), D("3.27"), D("3.54"), D("-3.54"),
         D("-100.0"), None, D("0.00")),
    ]  # fmt: skip
    # Revenue 1300.00; cost 137; labour 723 + 1120 + 327 = 2170; total 2307; net 127693;
    # ROI 127693 / 2307 = 5535.02 -> 5535.0 %; CPA 2307 / 6 = 384.5 cents -> 3.85 (half
    # up); four agents: 1300.00 / 4 = 325.00.
    assert by_campaign.totals == (
        "Total", 6, D("1300.00"), D("1.37"), D("21.70"), D("23.07"), D("1276.93"), D("5535.0"),
        D("3.85"), D("325.00"),
    )  # fmt: skip
    assert keys(by_agent) == ("agent", "campaign", *MONEY_KEYS)
    assert await rows(by_agent) == [
        # Alice, k01 k09 k18: cost 12+14+3 = 29; labour 845 s x 18.00/h = 422.5 -> 423;
        # total 452; net 30000 - 452 = 29548; 29548 / 452 = 6537.17 -> 6537.2 %; 452 / 2.
        ("Alice Martin", "Solar Outbound", 2, D("300.00"), D("0.29"), D("4.23"), D("4.52"),
         D("295.48"), D("6537.2"), D("2.26")),
        # Bob, k02 k10 k19: cost 6+4+10 = 20; labour 600 s x 18.00/h = 300; total 320; net
        # 14680; 14680 / 320 = 4587.5 %.
        ("Bob Keller", "Solar Outbound", 1, D("150.00"), D("0.20"), D("3.00"), D("3.20"),
         D("146.80"), D("4587.5"), D("3.20")),
        # Chloe, Insurance k04 k12 k21 k24: cost 20+7+4+12 = 43; labour 1260 s x 24.00/h =
        # 840; total 883; net 59117; 59117 / 883 = 6695.02 -> 6695.0 %; 883 / 2 = 441.5 ->
        # 4.42.
        ("Chloe Durand", "Insurance Outbound", 2, D("600.00"), D("0.43"), D("8.40"),
         D("8.83"), D("591.17"), D("6695.0"), D("4.42")),
        # Chloe, Support k15: cost 5; labour 240 s x 12.00/h = 80; total 85.
        ("Chloe Durand", "Support Inbound", 0, D("0.00"), D("0.05"), D("0.80"), D("0.85"),
         D("-0.85"), D("-100.0"), None),
        # Dan, Insurance k17: cost 15; labour 420 s x 24.00/h = 280; total 295; net 24705;
        # 24705 / 295 = 8374.58 -> 8374.6 %.
        ("Dan Weber", "Insurance Outbound", 1, D("250.00"), D("0.15"), D("2.80"), D("2.95"),
         D("247.05"), D("8374.6"), D("2.95")),
        # Dan, Support k06 k14 k22: cost 5+6+4 = 15; labour 741 s x 12.00/h = 247; total
        # 262.
        ("Dan Weber", "Support Inbound", 0, D("0.00"), D("0.15"), D("2.47"), D("2.62"),
         D("-2.62"), D("-100.0"), None),
    ]  # fmt: skip
    assert by_agent.totals is None


async def test_roi_by_agent() -> None:
    data = await fetch("roi", agents=("a4",))
    by_campaign, by_agent = data.tables
    dan_insurance = (1, D("250.00"), D("0.15"), D("2.80"), D("2.95"), D("247.05"), D("8374.6"),
                     D("2.95"))  # fmt: skip
    dan_support = (0, D("0.00"), D("0.15"), D("2.47"), D("2.62"), D("-2.62"), D("-100.0"), None)
    assert await rows(by_campaign) == [
        ("Insurance Outbound", *dan_insurance, D("250.00")),
        ("Support Inbound", *dan_support, D("0.00")),
    ]
    # Cost 30; labour 280 + 247 = 527; total 557; net 25000 - 557 = 24443; 24443 / 557 =
    # 4388.33 -> 4388.3 %; CPA 5.57; one agent.
    assert by_campaign.totals == (
        "Total", 1, D("250.00"), D("0.30"), D("5.27"), D("5.57"), D("244.43"), D("4388.3"),
        D("5.57"), D("250.00"),
    )  # fmt: skip
    assert await rows(by_agent) == [
        ("Dan Weber", "Insurance Outbound", *dan_insurance),
        ("Dan Weber", "Support Inbound", *dan_support),
    ]


# -- 14. Executive Dashboard ----------------------------------------------------------------

HEADLINE_KEYS = ("metric", "this_period", "previous_period", "change_pct")
DASHBOARD_CAMPAIGN_KEYS = (
    "campaign",
    "calls",
    "contact_rate",
    "conversions",
    "revenue",
    "cost",
    "net",
    "roi_pct",
)


async def test_executive_dashboard() -> None:
    data = await fetch("executive_dashboard")
    headlines, by_campaign = data.tables
    assert keys(headlines) == HEADLINE_KEYS
    # The previous period is 7-9 June: p01 (Solar, answered, handle 150), p02 (Insurance,
    # answered, a sale of 200.00, handle 240), p03 (Solar, abandoned), p04 (Support,
    # abandoned). Cost: calls 5 + 2 + 8 + 1 = 16 cents; labour 150 s x 18.00/h = 75 and
    # 240 s x 24.00/h = 160: 251 cents. Net 20000 - 251 = 19749.
    assert await rows(headlines) == [
        ("Calls", 25, 4, D("525.0")),  # (25 - 4) / 4
        ("Contact rate %", D("60.0"), D("50.0"), D("20.0")),  # 15 / 25; 2 / 4; +10 / 50
        ("Conversions", 6, 1, D("500.0")),
        ("Revenue", D("1300.00"), D("200.00"), D("550.0")),
        ("Cost", D("23.07"), D("2.51"), D("819.1")),  # 20.56 / 2.51 = 8.1912
        ("Net", D("1276.93"), D("197.49"), D("546.6")),  # 1079.44 / 197.49 = 5.4658
        # 19749 / 251 = 7868.13 -> 7868.1 %; (5535.0 - 7868.1) / 7868.1 = -0.29653
        ("ROI %", D("5535.0"), D("7868.1"), D("-29.7")),
        ("Cost per acquisition", D("3.85"), D("2.51"), D("53.4")),  # 1.34 / 2.51 = 0.5339
        ("Active agents", 4, 2, D("100.0")),  # a1 a2 a3 a4; a1 a3
    ]
    assert headlines.totals is None
    assert keys(by_campaign) == DASHBOARD_CAMPAIGN_KEYS
    assert await rows(by_campaign) == [
        # Figures as in the Campaign Summary and the ROI report.
        ("Solar Outbound", 11, D("54.5"), 3, D("450.00"), D("7.75"), D("442.25"),
         D("5706.5")),
        ("Insurance Outbound", 7, D("71.4"), 3, D("850.00"), D("11.78"), D("838.22"),
         D("7115.6")),
        ("Support Inbound", 7, D("57.1"), 0, D("0.00"), D("3.54"), D("-3.54"), D("-100.0")),
    ]  # fmt: skip


async def test_executive_dashboard_by_campaign() -> None:
    data = await fetch("executive_dashboard", campaigns=("c3",))
    headlines, by_campaign = data.tables
    # Support only. The previous period holds p04 alone: 1 call, abandoned, 1 cent.
    assert await rows(headlines) == [
        ("Calls", 7, 1, D("600.0")),
        ("Contact rate %", D("57.1"), D("0.0"), None),  # nothing to divide by
        ("Conversions", 0, 0, None),
        ("Revenue", D("0.00"), D("0.00"), None),
        ("Cost", D("3.54"), D("0.01"), D("35300.0")),  # (3.54 - 0.01) / 0.01
        # (this - previous) / |previous|, as docs/reports.md defines it: -3.53 / 0.01.
        ("Net", D("-3.54"), D("-0.01"), D("-35300.0")),
        ("ROI %", D("-100.0"), D("-100.0"), D("0.0")),
        ("Cost per acquisition", None, None, None),
        ("Active agents", 2, 0, None),  # Chloe and Dan
    ]
    assert await rows(by_campaign) == [
        ("Support Inbound", 7, D("57.1"), 0, D("0.00"), D("3.54"), D("-3.54"), D("-100.0")),
    ]


async def test_executive_dashboard_over_one_day() -> None:
    """The 12th, against the 11th."""
    data = await fetch("executive_dashboard", local(6, 12), local(6, 13))
    headlines, by_campaign = data.tables
    # 12th: k18-k25, 8 calls, answered k18 k19 k21 k22 k24 = 5, sales k19 k24 = 2, revenue
    # 150 + 300 = 450.00. Calls cost 3+10+4+4+2+12 = 35. Labour: Solar k18 k19 380 s x
    # 18.00/h = 190; Insurance k21 k24 510 s x 24.00/h = 340; Support k22 181 s x 12.00/h
    # = 60.33 -> 60. Total 35 + 590 = 625; net 45000 - 625 = 44375; ROI 7100.0 %; CPA 3.13
    # (312.5 cents, half up); agents a1 a2 a3 a4.
    # 11th: k09-k17, 9 calls, answered 6, sales k09 k17, revenue 150 + 250 = 400.00. Calls
    # cost 14+4+7+6+5+3+15 = 54. Labour: Solar 525 s x 18.00/h = 262.5 -> 263; Insurance
    # 600 s x 24.00/h = 400; Support 540 s x 12.00/h = 180. Total 54 + 843 = 897; net
    # 40000 - 897 = 39103; ROI 39103 / 897 = 4359.31 -> 4359.3 %; CPA 448.5 cents -> 4.49;
    # agents a1 a2 a3 a4.
    assert await rows(headlines) == [
        ("Calls", 8, 9, D("-11.1")),  # -1 / 9
        ("Contact rate %", D("62.5"), D("66.7"), D("-6.3")),  # 5 / 8; 6 / 9; -4.2 / 66.7
        ("Conversions", 2, 2, D("0.0")),
        ("Revenue", D("450.00"), D("400.00"), D("12.5")),
        ("Cost", D("6.25"), D("8.97"), D("-30.3")),  # -2.72 / 8.97 = -0.3032
        ("Net", D("443.75"), D("391.03"), D("13.5")),  # 52.72 / 391.03 = 0.1348
        ("ROI %", D("7100.0"), D("4359.3"), D("62.9")),  # 2740.7 / 4359.3 = 0.6287
        ("Cost per acquisition", D("3.13"), D("4.49"), D("-30.3")),  # -1.36 / 4.49 = -0.3029
        ("Active agents", 4, 4, D("0.0")),
    ]
    assert await rows(by_campaign) == [
        # k18 k19 k20 k25: 2 / 4 = 50.0; cost 13 + 190 = 203; net 15000 - 203 = 14797;
        # 14797 / 203 = 7289.16 -> 7289.2 %.
        ("Solar Outbound", 4, D("50.0"), 1, D("150.00"), D("2.03"), D("147.97"),
         D("7289.2")),
        # k21 k24: cost 16 + 340 = 356; net 30000 - 356 = 29644; 29644 / 356 = 8326.97 ->
        # 8327.0 %.
        ("Insurance Outbound", 2, D("100.0"), 1, D("300.00"), D("3.56"), D("296.44"),
         D("8327.0")),
        # k22 k23: cost 6 + 60 = 66.
        ("Support Inbound", 2, D("50.0"), 0, D("0.00"), D("0.66"), D("-0.66"), D("-100.0")),
    ]  # fmt: skip
