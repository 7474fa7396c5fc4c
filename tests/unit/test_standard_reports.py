"""Every figure of the 14 standard reports, computed in memory from the hand-checked dataset.

The dataset (tests/report_dataset.py) is small enough to work out by hand:
every expected figure below was, following the definitions in `docs/reports.md`,
and the arithmetic is written next to each expectation. The reports read it
through `MemoryCallData`, which FerretDB is held to in
tests/integration/test_standard_reports.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from herald.services.renderer.calldata.records import Campaign
from herald.services.renderer.formats.cells import display_row, rounding_note
from herald.services.renderer.formats.csv_writer import RowCounter, csv_chunks
from herald.services.renderer.reports.model import Cell, Figure, ReportData, Row, Table, rows_of
from herald.services.renderer.reports.model import ColumnKind as K
from herald.services.renderer.reports.standard.abandonment import trailing
from herald.shared.contract.catalog import STANDARD_REPORTS
from herald.shared.contract.messages import DataWindow
from herald.shared.contract.tenant_settings import TenantCompliance
from tests.report_dataset import DATA, MemoryCallData, computed, local, request

D = Decimal
#: The window is Tue 10 - Thu 12 June 2025, three local days: every report with tiles names
#: the three days before as the period its tiles' "prev." figures are from.
PREVIOUS_3_DAYS = "Previous period: 7\u20139 Jun 2025 (the 3 days before)"


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

OUTBOUND_KEYS = (
    "campaign",
    "dialed",
    "answered",
    "no_answer",
    "busy_failed",
    "abandoned",
    "contact_rate",
    "abandon_pct",
    "period_abandon_pct",
    "flag",
    "conversions",
    "conversion_pct",
    "talk_minutes",
    "aht",
)
INBOUND_KEYS = (
    "campaign",
    "offered",
    "answered",
    "abandoned",
    "abandon_pct",
    "service_level_pct",
    "conversions",
    "conversion_pct",
    "talk_minutes",
    "aht",
)
ABOVE = "above 3 %"

# The trailing 30 days of the window 10-12 June run from 14 May to 12 June (local days):
#   Solar: answered p01 k01 k02 k09 k10 k18 k19 = 7, abandoned p03 k08 = 2 (h01 12 May and
#     h02 13 May are before it): 2 / 9 = 22.22 -> 22.2.
#   Insurance: answered p02 k04 k12 k17 k21 k24 = 6, abandoned h04 (20 May): 1 / 7 = 14.3.
SOLAR = ("Solar Outbound", 11, 6, 2, 2, 1, D("54.5"), D("14.3"), D("22.2"), ABOVE, 3,
         D("50.0"), D("19.5"), D("241"))  # fmt: skip
INSURANCE = ("Insurance Outbound", 7, 5, 0, 2, 0, D("71.4"), D("0.0"), D("14.3"), ABOVE, 3,
             D("60.0"), D("21.7"), D("336"))  # fmt: skip
SUPPORT = ("Support Inbound", 7, 4, 3, D("42.9"), D("42.9"), 0, D("0.0"), D("12.8"),
           D("245"))  # fmt: skip


async def campaign_summary(*args: Any, **kwargs: Any) -> tuple[Table, Table, ReportData]:
    data = await fetch("campaign_summary", *args, **kwargs)
    outbound, inbound = data.tables
    assert (outbound.title, keys(outbound)) == ("Outbound", OUTBOUND_KEYS)
    assert (inbound.title, keys(inbound)) == ("Inbound", INBOUND_KEYS)
    return outbound, inbound, data


async def test_campaign_summary() -> None:
    outbound, inbound, data = await campaign_summary()
    assert await rows(outbound) == [
        # Solar: k01 k02 k03 k08 k09 k10 k11 k18 k19 k20 k25 = 11 dialed; answered k01 k02
        # k09 k10 k18 k19 = 6; no answer k03 k20 = 2; busy/failed k11 k25 = 2; abandoned
        # k08 = 1. Contact 6 / 11 = 54.55 -> 54.5; abandon 1 / (6 + 1) = 14.29 -> 14.3;
        # over the trailing 30 days 22.2 (above), above 3 %; sales k01 k09 k19 = 3, 3 / 6 =
        # 50.0; talk 300+120+360+90+60+240 = 1170 s = 19.5 min; handle
        # 360+180+405+120+80+300 = 1445, / 6 = 240.83 -> 241 s, rounded once.
        SOLAR,
        # Insurance: k04 k05 k12 k13 k17 k21 k24 = 7; answered k04 k12 k17 k21 k24 = 5;
        # busy/failed k05 k13 = 2. Contact 5 / 7 = 71.43 -> 71.4; abandon 0 / 5 = 0.0, but
        # 14.3 over the trailing 30 days, above 3 %; sales k04 k17 k24 = 3, 3 / 5 = 60.0;
        # talk 420+150+300+100+330 = 1300 s = 21.67 -> 21.7 min; handle
        # 570+180+420+120+390 = 1680, / 5 = 336.
        INSURANCE,
    ]
    # The inbound campaign has no dialed or contact rate: it is not an outbound row at all.
    # 18 dialed, 11 answered, 2 no answer, 4 busy/failed, 1 abandoned: contact 11 / 18 =
    # 61.1; abandon 1 / 12 = 8.33 -> 8.3 (no trailing rate or flag: those are per
    # campaign); 6 / 11 = 54.5; talk 2470 s = 41.17 -> 41.2 min; 3125 / 11 = 284.09 -> 284.
    assert outbound.totals == (
        "Total", 18, 11, 2, 4, 1, D("61.1"), D("8.3"), None, None, 6, D("54.5"), D("41.2"),
        D("284"),
    )  # fmt: skip
    # Support: k06 k07 k14 k15 k16 k22 k23 offered = 7; answered k06 k14 k15 k22 = 4;
    # abandoned k07 k16 k23 = 3, 3 / 7 = 42.9; answered within 20 s k06 (15) k15 (10) k22
    # (20), not k14 (25): 3 / 7 = 42.9; no sales; talk 200+240+180+150 = 770 s = 12.8 min;
    # handle 260+300+240+181 = 981, / 4 = 245.25 -> 245.
    assert await rows(inbound) == [SUPPORT]
    assert inbound.totals == ("Total", *SUPPORT[1:])
    assert data.notes == (
        "Outbound abandon % = abandoned / (answered + abandoned) outbound calls: of the calls "
        "a person answered, those no agent took. Over the window, and over the 30 days ending "
        "with it (the trailing period); flagged when that is above 3 %. Inbound abandon % = "
        "abandoned / offered; service level = answered within 20 s / offered.",
        PREVIOUS_3_DAYS,
    )


async def test_campaign_summary_flags_only_a_campaign_above_the_tenants_threshold() -> None:
    """At 20 %: Solar's trailing 22.2 % is above it, Insurance's 14.3 % is not."""
    outbound, _inbound, data = await campaign_summary(
        compliance=TenantCompliance(abandon_threshold_pct=20)
    )
    assert [(row[0], row[8], row[9]) for row in await rows(outbound)] == [
        ("Solar Outbound", D("22.2"), "above 20 %"),
        ("Insurance Outbound", D("14.3"), ""),
    ]
    assert "flagged when that is above 20 %" in data.notes[0]


async def test_campaign_summary_over_a_trailing_24_hours() -> None:
    """The 24 hours before 13 June 00:00 are the 12th: k18 k19 (Solar), k21 k24
    (Insurance) answered, nothing abandoned: 0.0, not flagged."""
    outbound, _inbound, data = await campaign_summary(
        compliance=TenantCompliance(abandon_period="24h")
    )
    assert [(row[0], row[8], row[9]) for row in await rows(outbound)] == [
        ("Solar Outbound", D("0.0"), ""),
        ("Insurance Outbound", D("0.0"), ""),
    ]
    assert "over the 24 hours ending with it" in data.notes[0]


@pytest.mark.parametrize("zoned", [True, False])
def test_trailing_24_hours_are_24_hours_across_a_clock_change(zoned: bool) -> None:
    """New York falls back on 2 November 2025: the day before 3 November's midnight has
    25 hours, and 24 of them trail it, however the window's end is given (a zoned time
    counts hours on the wall clock)."""
    zone = ZoneInfo("America/New_York")
    end = datetime(2025, 11, 3, tzinfo=zone)
    end = end if zoned else end.astimezone(UTC)
    window = DataWindow(start=end - timedelta(days=3), end=end, timezone=zone.key)
    start, until = trailing(window, zone, TenantCompliance(abandon_period="24h"))
    assert until.timestamp() == end.timestamp()
    assert until.timestamp() - start.timestamp() == 24 * 3600


async def test_campaign_summary_by_campaign() -> None:
    outbound, inbound, _ = await campaign_summary(campaigns=("c1", "c3"))
    assert await rows(outbound) == [SOLAR]
    assert outbound.totals == ("Total", *SOLAR[1:8], None, None, *SOLAR[10:])
    assert await rows(inbound) == [SUPPORT]


async def test_campaign_summary_by_agent_leaves_abandon_rates_empty() -> None:
    """Abandoned calls reach no agent: an agent's abandon rate would always read 0."""
    outbound, inbound, data = await campaign_summary(agents=("a3",))
    # Chloe's Insurance calls k04 k12 k21 k24, all answered: contact 100.0; sales k04 k24
    # = 2, 2 / 4 = 50.0; talk 420+150+100+330 = 1000 s = 16.67 -> 16.7 min; handle
    # 570+180+120+390 = 1260, / 4 = 315.
    chloe = (4, 4, 0, 0, 0, D("100.0"), None, None, None, 2, D("50.0"), D("16.7"),
             D("315"))  # fmt: skip
    assert await rows(outbound) == [("Insurance Outbound", *chloe)]
    assert outbound.totals == ("Total", *chloe)
    # Her Support call k15, waited 10 s: service level 100.0; talk 180 s = 3.0 min.
    k15 = (1, 1, 0, None, D("100.0"), 0, D("0.0"), D("3.0"), D("240"))
    assert await rows(inbound) == [("Support Inbound", *k15)]
    assert inbound.totals == ("Total", *k15)
    assert data.notes[-2:] == (
        "Agent filter: abandoned calls reach no agent, so abandon rates are left empty.",
        PREVIOUS_3_DAYS,
    )


async def test_campaign_summary_over_one_day() -> None:
    """11 June; its trailing 30 days run from 13 May: Solar answered p01 k01 k02 k09 k10,
    abandoned h02 p03 k08: 3 / 8 = 37.5; Insurance answered p02 k04 k12 k17, abandoned
    h04: 1 / 5 = 20.0."""
    outbound, inbound, _ = await campaign_summary(local(6, 11), local(6, 12))
    assert await rows(outbound) == [
        # k09 k10 answered, k11 failed: contact 2 / 3 = 66.67 -> 66.7; sale k09, 1 / 2 =
        # 50.0; talk 360 + 90 = 450 s = 7.5 min; handle (405 + 120) / 2 = 262.5 -> 263.
        ("Solar Outbound", 3, 2, 0, 1, 0, D("66.7"), D("0.0"), D("37.5"), ABOVE, 1,
         D("50.0"), D("7.5"), D("263")),
        # k12 k17 answered, k13 failed; sale k17; talk 150 + 300 = 450 s; handle
        # (180 + 420) / 2 = 300.
        ("Insurance Outbound", 3, 2, 0, 1, 0, D("66.7"), D("0.0"), D("20.0"), ABOVE, 1,
         D("50.0"), D("7.5"), D("300")),
    ]  # fmt: skip
    # 6 dialed, 4 answered, 2 failed: 66.7; 0 / 4 = 0.0; 2 / 4 = 50.0; talk 900 s = 15.0
    # min; handle 1125 / 4 = 281.25 -> 281.
    assert outbound.totals == (
        "Total", 6, 4, 0, 2, 0, D("66.7"), D("0.0"), None, None, 2, D("50.0"), D("15.0"),
        D("281"),
    )  # fmt: skip
    # k14 k15 answered, k16 abandoned: 1 / 3 = 33.3; within 20 s k15 only: 1 / 3 = 33.3;
    # talk 240 + 180 = 420 s = 7.0 min; handle (300 + 240) / 2 = 270.
    assert await rows(inbound) == [
        ("Support Inbound", 3, 2, 1, D("33.3"), D("33.3"), 0, D("0.0"), D("7.0"), D("270"))
    ]


async def test_campaign_summary_over_a_window_cutting_local_days() -> None:
    """Noon to noon: each day is cut, so its calls are grouped from their start times. The
    trailing 30 days run from 13 May 12:00, after h02: Solar answered p01 k01 k02 k09 k10
    k18 k19, abandoned p03 k08: 2 / 9 = 22.2; Insurance answered p02 k04 k12 k17 k21 (not
    k24, at 15:20), abandoned h04: 1 / 6 = 16.67 -> 16.7."""
    outbound, inbound, _ = await campaign_summary(local(6, 11, 12), local(6, 12, 12))
    assert await rows(outbound) == [
        # k18 k19 answered, k20 no answer: contact 2 / 3 = 66.7; sale k19, 1 / 2 = 50.0;
        # talk 60 + 240 = 300 s = 5.0 min; handle (80 + 300) / 2 = 190.
        ("Solar Outbound", 3, 2, 1, 0, 0, D("66.7"), D("0.0"), D("22.2"), ABOVE, 1,
         D("50.0"), D("5.0"), D("190")),
        # k17 (14:10 on the 11th) and k21, both answered; sale k17; talk 300 + 100 = 400 s
        # = 6.67 -> 6.7 min; handle (420 + 120) / 2 = 270.
        ("Insurance Outbound", 2, 2, 0, 0, 0, D("100.0"), D("0.0"), D("16.7"), ABOVE, 1,
         D("50.0"), D("6.7"), D("270")),
    ]  # fmt: skip
    # 5 dialed, 4 answered: 80.0; 2 / 4 = 50.0; talk 700 s = 11.67 -> 11.7 min; handle
    # 80 + 300 + 420 + 120 = 920, / 4 = 230.
    assert outbound.totals == (
        "Total", 5, 4, 1, 0, 0, D("80.0"), D("0.0"), None, None, 2, D("50.0"), D("11.7"),
        D("230"),
    )  # fmt: skip
    # k22 answered (waited exactly 20 s: within), k23 abandoned: 1 / 2 = 50.0 both.
    assert await rows(inbound) == [
        ("Support Inbound", 2, 1, 1, D("50.0"), D("50.0"), 0, D("0.0"), D("2.5"), D("181"))
    ]


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

# Sessions over the window (10-12 June), login / pause / talk + wrap, and occupancy =
# (talk + wrap) / (login - pause):
#   Alice a1: 36000 / 5400 / 5100 + 1500 = 6600:    6600 / 30600 = 21.57 -> 21.6
#   Bob   a2: 28800 / 2700 / 5400 + 1500 = 6900:    6900 / 26100 = 26.44 -> 26.4
#   Chloe a3: 72000 / 9000 / 11700 + 4500 = 16200: 16200 / 63000 = 25.71 -> 25.7
#   Dan   a4: 36000 / 3900 / 6000 + 1800 = 7800:    7800 / 32100 = 24.30 -> 24.3
#   all:     172800 / 21000 / 37500:               37500 / 151800 = 24.70 -> 24.7
ALICE = ("Alice Martin", "Team North", 3, 720, 0, 125, D("282"), 2, D("66.7"), D("0.20"),
         D("21.6"))  # fmt: skip
BOB = ("Bob Keller", "Team North", 3, 450, 50, 100, D("200"), 1, D("33.3"), D("0.13"),
       D("26.4"))  # fmt: skip
CHLOE = ("Chloe Durand", "Team South", 5, 1180, 90, 230, D("300"), 2, D("40.0"), D("0.10"),
         D("25.7"))  # fmt: skip
DAN = ("Dan Weber", "Team South", 4, 890, 65, 206, D("290"), 1, D("25.0"), D("0.10"),
       D("24.3"))  # fmt: skip
SESSION_NOTE = (
    "Session time (login, ready, talk, wrap, pause) counts only its part inside the window "
    "(Europe/Berlin), each session cut at the window's bounds. Occupancy % = (talk + wrap) "
    "/ (login - pause), all from sessions. Team is each agent's current team."
)


async def test_agent_performance() -> None:
    data = await fetch("agent_performance")
    (table,) = data.tables
    assert keys(table) == ("agent", "team", *HANDLING_KEYS)
    assert await rows(table) == [
        # Alice: k01 k09 k18. Talk 300+360+60 = 720, hold 0, wrap 60+45+20 = 125; handle 845,
        # / 3 = 281.67 -> 282; sales k01 k09, 2 / 3 = 66.67 -> 66.7; 2 / 10 h = 0.20.
        ALICE,
        # Bob (now in Team North): k02 k10 k19. Talk 120+90+240 = 450, hold 30+20 = 50,
        # wrap 30+30+40 = 100; handle 600, / 3 = 200; sale k19, 1 / 3 = 33.3; 1 / 8 h =
        # 0.125 -> 0.13.
        BOB,
        # Chloe: k04 k12 k15 k21 k24. Talk 420+150+180+100+330 = 1180, hold 60+30 = 90,
        # wrap 90+30+30+20+60 = 230; handle 1500, / 5 = 300; sales k04 k24, 2 / 5 = 40.0;
        # 2 / 20 h = 0.10.
        CHLOE,
        # Dan: k06 k14 k17 k22. Talk 200+240+300+150 = 890, hold 20+45 = 65, wrap
        # 40+60+75+31 = 206; handle 1161, / 4 = 290.25 -> 290; sale k17, 1 / 4 = 25.0;
        # 1 / 10 h = 0.10.
        DAN,
    ]
    # 15 handled; talk 3240, hold 205, wrap 661; handle 4106 / 15 = 273.73 -> 274; 6 / 15 =
    # 40.0; 6 / 48 h = 0.125 -> 0.13; occupancy 24.7.
    assert table.totals == (
        "Total", "", 15, 3240, 205, 661, D("274"), 6, D("40.0"), D("0.13"), D("24.7"),
    )  # fmt: skip
    assert data.notes == (
        "An agent has a row when logged in during the window or with a handled call in it.",
        SESSION_NOTE,
        PREVIOUS_3_DAYS,
    )


async def test_agent_performance_by_agent() -> None:
    table = await only_table("agent_performance", agents=("a2", "a4"))
    assert await rows(table) == [BOB, DAN]
    # 7 handled; talk 1340, hold 115, wrap 306; handle 600 + 1161 = 1761, / 7 = 251.57 ->
    # 252; 2 / 7 = 28.57 -> 28.6; login 28800 + 36000 = 64800 s = 18 h, 2 / 18 = 0.11;
    # occupancy (6900 + 7800) / (26100 + 32100) = 25.26 -> 25.3.
    assert table.totals == (
        "Total", "", 7, 1340, 115, 306, D("252"), 2, D("28.6"), D("0.11"), D("25.3"),
    )  # fmt: skip


@pytest.mark.parametrize("report_id", ["agent_performance", "team_performance"])
async def test_an_agent_filter_matching_nothing_gives_an_empty_table_with_zero_totals(
    report_id: str,
) -> None:
    table = await only_table(report_id, agents=("nobody",))
    assert await rows(table) == []
    assert table.totals is not None
    assert table.totals[2:] == (0, 0, 0, 0, None, 0, None, None, None)


async def test_agent_performance_by_campaign_narrows_calls_and_says_why_not_sessions() -> None:
    data = await fetch("agent_performance", campaigns=("c3",))
    (table,) = data.tables
    # Only agents with a handled Support call: Alice and Bob, logged in, took none. Sales
    # per logged-in hour is empty (logged-in time has no campaign); occupancy is the
    # agents' whole, as in the unfiltered report.
    assert await rows(table) == [
        # Chloe: k15, handle 240.
        ("Chloe Durand", "Team South", 1, 180, 30, 30, D("240"), 0, D("0.0"), None,
         D("25.7")),
        # Dan: k06 k14 k22. Talk 200+240+150 = 590, hold 20, wrap 40+60+31 = 131; handle
        # 741, / 3 = 247.
        ("Dan Weber", "Team South", 3, 590, 20, 131, D("247"), 0, D("0.0"), None,
         D("24.3")),
    ]  # fmt: skip
    # handle 981 / 4 = 245.25 -> 245; occupancy (16200 + 7800) / (63000 + 32100) = 25.24.
    assert table.totals == (
        "Total", "", 4, 770, 50, 161, D("245"), 0, D("0.0"), None, D("25.2"),
    )  # fmt: skip
    assert data.notes[0] == (
        "Campaign filter: call figures cover the chosen campaigns and only agents with a "
        "handled call of them have a row. Sessions have no campaign, so occupancy covers all "
        "their time and sales per logged-in hour is left empty."
    )


async def test_agent_performance_over_one_day() -> None:
    table = await only_table("agent_performance", local(6, 12), local(6, 13))
    assert await rows(table) == [
        # Alice k18: handle 80; login 7200 s = 2 h, pause 600: 0 / 2 = 0.00; (900 + 300) /
        # 6600 = 18.18 -> 18.2.
        ("Alice Martin", "Team North", 1, 60, 0, 20, D("80"), 0, D("0.0"), D("0.00"),
         D("18.2")),
        # Bob k19: handle 300; login 10800 s = 3 h, pause 1200: 1 / 3 = 0.33;
        # (2400 + 600) / 9600 = 31.25 -> 31.3.
        ("Bob Keller", "Team North", 1, 240, 20, 40, D("300"), 1, D("100.0"), D("0.33"),
         D("31.3")),
        # Chloe k21 k24: talk 100 + 330 = 430, wrap 20 + 60 = 80, handle 510, / 2 = 255;
        # sale k24, 1 / 2 = 50.0; login 14400 s = 4 h: 1 / 4 = 0.25; (2700 + 900) / 12600
        # = 28.57 -> 28.6.
        ("Chloe Durand", "Team South", 2, 430, 0, 80, D("255"), 1, D("50.0"), D("0.25"),
         D("28.6")),
        # Dan k22: handle 181; login 7200, pause 900: (1500 + 300) / 6300 = 28.57 -> 28.6.
        ("Dan Weber", "Team South", 1, 150, 0, 31, D("181"), 0, D("0.0"), D("0.00"),
         D("28.6")),
    ]  # fmt: skip
    # handle 80+300+510+181 = 1071, / 5 = 214.2 -> 214; 2 / 5 = 40.0; login 39600 s = 11 h,
    # 2 / 11 = 0.18; (7500 + 2100) / (39600 - 4500) = 27.35 -> 27.4.
    assert table.totals == (
        "Total", "", 5, 880, 20, 171, D("214"), 2, D("40.0"), D("0.18"), D("27.4"),
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
    "occupancy_pct",
)


async def test_agent_time() -> None:
    data = await fetch("agent_time")
    (table,) = data.tables
    assert keys(table) == AGENT_TIME_KEYS
    assert await rows(table) == [
        # ready 9000+9600+5400 = 24000, talk 1800+2400+900 = 5100, wrap 600+600+300 = 1500;
        # break 1800+1800 = 3600, lunch 1200, personal 600; (5100 + 1500) / 36000 = 18.33;
        # occupancy as Agent Performance's: 21.6.
        ("Alice Martin", "Team North", 36000, 24000, 5100, 1500, 5400, 3600, 1200, 0, 0, 600,
         D("18.3"), D("21.6")),
        # ready 7200+5400+6600 = 19200, talk 1800+1200+2400 = 5400, wrap 600+300+600 = 1500;
        # break 300+600 = 900, training 1200, meeting 600; 6900 / 28800 = 23.96 -> 24.0.
        ("Bob Keller", "Team North", 28800, 19200, 5400, 1500, 2700, 900, 0, 1200, 600, 0,
         D("24.0"), D("26.4")),
        # ready 18000+19800+9000 = 46800, talk 5400+3600+2700 = 11700, wrap 1800+1800+900 =
        # 4500; break 1800, lunch 3600+3600 = 7200; 16200 / 72000 = 22.5.
        ("Chloe Durand", "Team South", 72000, 46800, 11700, 4500, 9000, 1800, 7200, 0, 0, 0,
         D("22.5"), D("25.7")),
        # ready 10800+9000+4500 = 24300, talk 1800+2700+1500 = 6000, wrap 600+900+300 = 1800;
        # break 1200+900 = 2100, lunch 900, meeting 900; 7800 / 36000 = 21.67 -> 21.7.
        ("Dan Weber", "Team South", 36000, 24300, 6000, 1800, 3900, 2100, 900, 0, 900, 0,
         D("21.7"), D("24.3")),
    ]  # fmt: skip
    # (28200 + 9300) / 172800 = 21.70 -> 21.7; occupancy 24.7.
    assert table.totals == (
        "Total", "", 172800, 114300, 28200, 9300, 21000, 8400, 9300, 1200, 1500, 600,
        D("21.7"), D("24.7"),
    )  # fmt: skip
    assert data.notes == (
        "An agent has a row when logged in during the window. Utilisation % = "
        "(talk + wrap) / login.",
        SESSION_NOTE,
        PREVIOUS_3_DAYS,
    )


async def test_agent_time_by_agent_and_day() -> None:
    table = await only_table("agent_time", agents=("a3",))
    chloe = ("Chloe Durand", "Team South", 72000, 46800, 11700, 4500, 9000, 1800, 7200, 0, 0, 0)
    assert await rows(table) == [(*chloe, D("22.5"), D("25.7"))]
    assert table.totals == ("Total", "", *chloe[2:], D("22.5"), D("25.7"))

    table = await only_table("agent_time", local(6, 12), local(6, 13))
    assert await rows(table) == [
        # (900 + 300) / 7200 = 16.67 -> 16.7; 1200 / (7200 - 600) = 18.18 -> 18.2
        ("Alice Martin", "Team North", 7200, 5400, 900, 300, 600, 0, 0, 0, 0, 600, D("16.7"),
         D("18.2")),
        # (2400 + 600) / 10800 = 27.78 -> 27.8; 3000 / 9600 = 31.25 -> 31.3
        ("Bob Keller", "Team North", 10800, 6600, 2400, 600, 1200, 600, 0, 0, 600, 0,
         D("27.8"), D("31.3")),
        # (2700 + 900) / 14400 = 25.0; 3600 / 12600 = 28.57 -> 28.6
        ("Chloe Durand", "Team South", 14400, 9000, 2700, 900, 1800, 1800, 0, 0, 0, 0,
         D("25.0"), D("28.6")),
        # (1500 + 300) / 7200 = 25.0; 1800 / 6300 = 28.57 -> 28.6
        ("Dan Weber", "Team South", 7200, 4500, 1500, 300, 900, 0, 900, 0, 0, 0, D("25.0"),
         D("28.6")),
    ]  # fmt: skip
    # (7500 + 2100) / 39600 = 24.24 -> 24.2; 9600 / 35100 = 27.35 -> 27.4
    assert table.totals == (
        "Total", "", 39600, 25500, 7500, 2100, 4500, 2400, 900, 0, 600, 600, D("24.2"),
        D("27.4"),
    )  # fmt: skip


async def test_agent_time_counts_the_part_of_sessions_inside_a_window_cutting_days() -> None:
    """Noon 11 June to noon 12 June. Chloe's spans: on the 11th lunch 12:00-13:00, talk
    13:00-13:30, wrap 13:30-13:45, ready 13:45-16:00 (8100); on the 12th ready 09:00-10:00,
    talk 10:00-10:45, wrap 10:45-11:00, break 11:00-11:30, ready 11:30-12:00 (1800)."""
    data = await fetch("agent_time", local(6, 11, 12), local(6, 12, 12), agents=("a3",))
    (table,) = data.tables
    # login 14400 + 10800 = 25200; ready 8100 + 3600 + 1800 = 13500; talk 1800 + 2700 =
    # 4500; wrap 900 + 900 = 1800; pause 3600 + 1800 = 5400. Utilisation 6300 / 25200 =
    # 25.0; occupancy 6300 / 19800 = 31.82 -> 31.8.
    chloe = (25200, 13500, 4500, 1800, 5400, 1800, 3600, 0, 0, 0, D("25.0"), D("31.8"))
    assert await rows(table) == [("Chloe Durand", "Team South", *chloe)]
    # Noon to noon: the previous period is the 24 hours before, not a calendar day.
    assert data.notes[2:] == (
        "Previous period: Tue 10 Jun 2025 12:00 \u2013 Wed 11 Jun 2025 12:00 (the 1 day before)",
    )

    # The others' sessions have no state times: the two days count whole, and it says so.
    data = await fetch("agent_time", local(6, 11, 12), local(6, 12, 12))
    assert data.notes[-2] == (
        "6 agent-day(s) on a day the window cuts have no state times and count whole."
    )


# -- 4. Team Performance ------------------------------------------------------------------


async def test_team_performance_adds_up_agent_performance_by_its_team_column() -> None:
    table = await only_table("team_performance")
    assert keys(table) == ("team", "agents", *HANDLING_KEYS)
    assert await rows(table) == [
        # North, the current team of Alice and Bob (Bob's k02 was taken in South, and counts
        # here all the same): 2 agents with a handled call, 6 handled. Talk 720 + 450 =
        # 1170, hold 50, wrap 225; handle 845 + 600 = 1445, / 6 = 240.83 -> 241; sales
        # 3, 3 / 6 = 50.0; login 64800 s = 18 h, 3 / 18 = 0.17; occupancy
        # (6600 + 6900) / (30600 + 26100) = 23.81 -> 23.8.
        ("Team North", 2, 6, 1170, 50, 225, D("241"), 3, D("50.0"), D("0.17"), D("23.8")),
        # South: Chloe and Dan, 9 handled. Talk 1180 + 890 = 2070, hold 155, wrap 436;
        # handle 1500 + 1161 = 2661, / 9 = 295.67 -> 296; 3 / 9 = 33.3; 108000 s = 30 h,
        # 3 / 30 = 0.10; (16200 + 7800) / (63000 + 32100) = 25.24 -> 25.2.
        ("Team South", 2, 9, 2070, 155, 436, D("296"), 3, D("33.3"), D("0.10"), D("25.2")),
    ]  # fmt: skip
    # As Agent Performance's totals.
    assert table.totals == (
        "Total", 4, 15, 3240, 205, 661, D("274"), 6, D("40.0"), D("0.13"), D("24.7"),
    )  # fmt: skip


async def test_team_performance_by_agent() -> None:
    table = await only_table("team_performance", agents=("a2",))
    bob = (1, 3, 450, 50, 100, D("200"), 1, D("33.3"), D("0.13"), D("26.4"))
    assert await rows(table) == [("Team North", *bob)]
    assert table.totals == ("Total", *bob)


# -- 5. Disposition Summary ---------------------------------------------------------------


async def test_disposition_summary() -> None:
    table = await only_table("disposition_summary")
    assert keys(table) == ("disposition", "calls", "share_pct", "total_time", "average_time")
    assert await rows(table) == [
        # Shares of 25 calls; time = handle time; average over all the disposition's calls.
        ("(none)", 1, D("4.0"), 0, D("0")),  # k11
        ("Abandoned", 4, D("16.0"), 0, D("0")),  # k07 k08 k16 k23
        ("Busy", 2, D("8.0"), 0, D("0")),  # k05 k25
        ("Callback", 3, D("12.0"), 440, D("147")),  # k02 k12 k18: 180+180+80, / 3 = 146.67
        ("DNC", 1, D("4.0"), 0, D("0")),  # k13
        ("No answer", 2, D("8.0"), 0, D("0")),  # k03 k20
        ("No interest", 2, D("8.0"), 240, D("120")),  # k10 k21: 120 + 120
        # k06 k14 k15 k22: 260+300+240+181 = 981, / 4 = 245.25 -> 245
        ("Resolved", 4, D("16.0"), 981, D("245")),
        # k01 k04 k09 k17 k19 k24: 360+570+405+420+300+390 = 2445, / 6 = 407.5 -> 408
        ("Sale", 6, D("24.0"), 2445, D("408")),
    ]
    # 4106 / 25 = 164.24 -> 164
    assert table.totals == ("Total", 25, D("100.0"), 4106, D("164"))


async def test_disposition_summary_by_agent() -> None:
    table = await only_table("disposition_summary", agents=("a1",))
    assert await rows(table) == [
        ("Callback", 1, D("33.3"), 80, D("80")),  # k18, 1 / 3 = 33.33
        ("Sale", 2, D("66.7"), 765, D("383")),  # k01 k09: 360 + 405 = 765, / 2 = 382.5
    ]
    assert table.totals == ("Total", 3, D("100.0"), 845, D("282"))  # 845 / 3 = 281.67


# -- 6. Hourly Activity -------------------------------------------------------------------

HOURLY_KEYS = ("hour", "dialed", "answered", "abandoned", "conversions", "average_wait")


async def test_hourly_activity() -> None:
    data = await fetch("hourly_activity")
    (table,) = data.tables
    assert keys(table) == HOURLY_KEYS
    assert data.notes == (
        "Hours are local to Europe/Berlin, the zone calls are recorded in.",
        PREVIOUS_3_DAYS,
    )
    assert await rows(table) == [
        # Local hours. Average wait = wait of all the hour's calls / (answered + abandoned).
        ("00:00", 1, 1, 0, 1, D("2")),  # k01 (22:30 UTC): 2 / 1
        # k02 k03 k09 k10 k11 k18 k19; answered k02 k09 k10 k18 k19; sales k09 k19;
        # wait 3+2+4+2+1 = 12, / 5 = 2.4 -> 2
        ("09:00", 7, 5, 0, 2, D("2")),
        # k04 k05 k06 k12 k13 k20 k21; answered k04 k06 k12 k21; sale k04; wait
        # 1+15+2+2 = 20, / 4 = 5
        ("10:00", 7, 4, 0, 1, D("5")),
        # k07 k08 k14 k15 k16 k22 k23; answered k14 k15 k22; abandoned k07 k08 k16 k23;
        # wait 45+5+25+10+60+20+35 = 200, / 7 = 28.57 -> 29
        ("11:00", 7, 3, 4, 0, D("29")),
        ("14:00", 1, 1, 0, 1, D("3")),  # k17
        ("15:00", 1, 1, 0, 1, D("2")),  # k24
        ("23:00", 1, 0, 0, 0, None),  # k25, busy: nothing to divide by
    ]
    # wait 2+12+20+200+3+2 = 239, / 19 = 12.58 -> 13
    assert table.totals == ("Total", 25, 15, 4, 6, D("13"))


async def test_hourly_activity_filtered() -> None:
    table = await only_table("hourly_activity", campaigns=("c3",))
    assert await rows(table) == [
        ("10:00", 1, 1, 0, 0, D("15")),  # k06
        # k07 k14 k15 k16 k22 k23: wait 45+25+10+60+20+35 = 195, / 6 = 32.5 -> 33
        ("11:00", 6, 3, 3, 0, D("33")),
    ]
    assert table.totals == ("Total", 7, 4, 3, 0, D("30"))  # 210 / 7

    table = await only_table("hourly_activity", agents=("a1",))
    assert await rows(table) == [
        ("00:00", 1, 1, 0, 1, D("2")),  # k01
        ("09:00", 2, 2, 0, 1, D("2")),  # k09 k18: (2 + 2) / 2
    ]
    assert table.totals == ("Total", 3, 3, 0, 2, D("2"))

    table = await only_table("hourly_activity", local(6, 10), local(6, 11))
    assert await rows(table) == [
        ("00:00", 1, 1, 0, 1, D("2")),  # k01
        ("09:00", 2, 1, 0, 0, D("3")),  # k02 k03
        ("10:00", 3, 2, 0, 1, D("8")),  # k04 k05 k06: (1 + 15) / 2
        ("11:00", 2, 0, 2, 0, D("25")),  # k07 k08: (45 + 5) / 2
    ]
    # (2 + 3 + 16 + 50) / 6 = 11.83 -> 12
    assert table.totals == ("Total", 8, 4, 2, 2, D("12"))


async def test_hourly_activity_over_a_window_cutting_local_days() -> None:
    table = await only_table("hourly_activity", local(6, 11, 12), local(6, 12, 12))
    assert await rows(table) == [
        ("09:00", 2, 2, 0, 1, D("2")),  # k18 k19: (2 + 1) / 2 = 1.5, half up
        ("10:00", 2, 1, 0, 0, D("2")),  # k20 k21
        ("11:00", 2, 1, 1, 0, D("28")),  # k22 k23: (20 + 35) / 2 = 27.5
        ("14:00", 1, 1, 0, 1, D("3")),  # k17, on the 11th
    ]
    # (3 + 2 + 55 + 3) / 6 = 10.5 -> 11
    assert table.totals == ("Total", 7, 5, 1, 2, D("11"))


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

# Outbound calls before the window: abandoned h03 (11 May, outside every trailing 30 days),
# h01 (12 May, in 10 June's only), h02 (13 May, in 10 and 11 June's), h04 (20 May,
# Insurance); p01 answered (8 June), p03 abandoned (9 June), p02 answered (Insurance,
# 9 June). p04 and every Support call are inbound: not in this report.
D10, D11, D12 = date(2025, 6, 10), date(2025, 6, 11), date(2025, 6, 12)
COMPLIANCE_ROWS = [
    # Solar.
    # 10th: k01 k02 answered, k08 abandoned: 1 / 3 = 33.3; k01 outside hours. Trailing
    # from 12 May: answered p01 + 2 = 3, abandoned h01 h02 p03 k08 = 4: 4 / 7 = 57.1.
    ("Solar Outbound", D10, 2, 1, D("33.3"), D("57.1"), ABOVE, 1, 0),
    # 11th: k09 k10 answered. From 13 May: answered 1 + 2 + 2 = 5, abandoned h02 p03 k08 =
    # 3: 3 / 8 = 37.5.
    ("Solar Outbound", D11, 2, 0, D("0.0"), D("37.5"), ABOVE, 0, 0),
    # 12th: k18 k19 answered; k25 outside hours. From 14 May: answered 7, abandoned p03
    # k08 = 2: 2 / 9 = 22.2.
    ("Solar Outbound", D12, 2, 0, D("0.0"), D("22.2"), ABOVE, 1, 0),
    # Insurance.
    # 10th: k04. Trailing: h04 abandoned; p02 k04 answered: 1 / 3 = 33.3.
    ("Insurance Outbound", D10, 1, 0, D("0.0"), D("33.3"), ABOVE, 0, 0),
    # 11th: k12 k17; k13 a DNC hit. Trailing 1 / 5 = 20.0.
    ("Insurance Outbound", D11, 2, 0, D("0.0"), D("20.0"), ABOVE, 0, 1),
    # 12th: k21 k24. Trailing 1 / 7 = 14.3.
    ("Insurance Outbound", D12, 2, 0, D("0.0"), D("14.3"), ABOVE, 0, 0),
]


async def test_compliance() -> None:
    data = await fetch("compliance")
    (table,) = data.tables
    assert keys(table) == (
        "campaign",
        "day",
        "answered",
        "abandoned",
        "abandon_pct",
        "period_abandon_pct",
        "flag",
        "outside_hours",
        "dnc_hits",
    )
    # Every trailing rate is above the default 3 %.
    assert await rows(table) == COMPLIANCE_ROWS
    # 11 outbound answered, 1 abandoned (k08): 1 / 12 = 8.3; outside hours k01 k25; DNC k13.
    assert table.totals == ("Total", None, 11, 1, D("8.3"), None, None, 2, 1)
    assert data.notes == (
        "Outbound calls only, per campaign and day (local to Europe/Berlin, the zone calls "
        "are recorded in). Abandon % = abandoned / (answered + abandoned): of the calls a "
        "person answered, those no agent took. Trailing: the same over the day and the 29 "
        "before it (30 days); flagged when above 3 %.",
    )


async def test_compliance_flags_against_the_unrounded_trailing_rate() -> None:
    """At 22.2 %: Solar's 12th, 2 / 9 = 22.22 %, shows as 22.2 and is above it; Insurance's
    20.0 and 14.3 are not."""
    table = await only_table("compliance", compliance=TenantCompliance(abandon_threshold_pct=22.2))
    assert [(row[0], row[1], row[5], row[6]) for row in await rows(table)] == [
        ("Solar Outbound", D10, D("57.1"), "above 22.2 %"),
        ("Solar Outbound", D11, D("37.5"), "above 22.2 %"),
        ("Solar Outbound", D12, D("22.2"), "above 22.2 %"),
        ("Insurance Outbound", D10, D("33.3"), "above 22.2 %"),
        ("Insurance Outbound", D11, D("20.0"), ""),
        ("Insurance Outbound", D12, D("14.3"), ""),
    ]


async def test_compliance_over_24_hours_is_each_day_alone() -> None:
    data = await fetch("compliance", compliance=TenantCompliance(abandon_period="24h"))
    (table,) = data.tables
    # Solar's 10th: 1 / 3 = 33.3, above 3 %; every other day abandoned nothing.
    assert [(row[0], row[1], row[4], row[5], row[6]) for row in await rows(table)] == [
        ("Solar Outbound", D10, D("33.3"), D("33.3"), ABOVE),
        ("Solar Outbound", D11, D("0.0"), D("0.0"), ""),
        ("Solar Outbound", D12, D("0.0"), D("0.0"), ""),
        ("Insurance Outbound", D10, D("0.0"), D("0.0"), ""),
        ("Insurance Outbound", D11, D("0.0"), D("0.0"), ""),
        ("Insurance Outbound", D12, D("0.0"), D("0.0"), ""),
    ]
    assert "Trailing: the same over the day alone (24 hours)" in data.notes[0]


async def test_compliance_by_campaign_and_day() -> None:
    table = await only_table("compliance", campaigns=("c2",))
    assert await rows(table) == COMPLIANCE_ROWS[3:]
    assert table.totals == ("Total", None, 5, 0, D("0.0"), None, None, 0, 1)

    # The 12th alone: its trailing rates still reach back 29 days, through the 10th and 11th.
    table = await only_table("compliance", local(6, 12), local(6, 13))
    assert await rows(table) == [COMPLIANCE_ROWS[2], COMPLIANCE_ROWS[5]]
    # 4 answered, nothing abandoned; k25 outside hours.
    assert table.totals == ("Total", None, 4, 0, D("0.0"), None, None, 1, 0)


# -- 10. Hangup Causes and Carriers ----------------------------------------------------------


async def test_hangup_causes() -> None:
    table = await only_table("hangup_causes")
    assert keys(table) == ("carrier", "cause", "calls", "share_pct", "average_duration", "cost")
    assert await rows(table) == [
        # Shares of 25 calls; average duration = (ring + wait + talk + hold) / calls.
        ("(none)", "network_error", 1, D("4.0"), D("0"), Z),  # k11
        # k07 k08 k16 k23: 45 + 17 + 60 + 35 = 157, / 4 = 39.25 -> 39; 2+3+3+2 cents
        ("Telco", "caller_hangup", 4, D("16.0"), D("39"), D("0.10")),
        ("Telco", "no_answer", 2, D("8.0"), D("30"), Z),  # k03 k20: 30 + 30
        # k01 k02 k06 k09 k10 k14 k15 k18 k19 k22: 312+161+235+371+101+265+220+70+267+170
        # = 2172, / 10 = 217.2 -> 217; 12+6+5+14+4+6+5+3+10+4 = 69 cents
        ("Telco", "normal", 10, D("40.0"), D("217"), D("0.69")),
        ("Telco", "user_busy", 1, D("4.0"), D("0"), Z),  # k25
        ("Voxa", "call_rejected", 1, D("4.0"), D("0"), Z),  # k13
        # k04 k12 k17 k21 k24: 487+157+354+109+337 = 1444, / 5 = 288.8 -> 289; 20+7+15+4+12
        # = 58 cents
        ("Voxa", "normal", 5, D("20.0"), D("289"), D("0.58")),
        ("Voxa", "user_busy", 1, D("4.0"), D("0"), Z),  # k05
    ]
    # 157 + 60 + 2172 + 1444 = 3833, / 25 = 153.32 -> 153; 10 + 69 + 58 = 137 cents
    assert table.totals == ("Total", "", 25, D("100.0"), D("153"), D("1.37"))


async def test_hangup_causes_by_campaign() -> None:
    table = await only_table("hangup_causes", campaigns=("c3",))
    assert await rows(table) == [
        # k07 k16 k23: 45 + 60 + 35 = 140, / 3 = 46.67 -> 47; 3 of 7 = 42.86 -> 42.9
        ("Telco", "caller_hangup", 3, D("42.9"), D("47"), D("0.07")),
        # k06 k14 k15 k22: 235 + 265 + 220 + 170 = 890, / 4 = 222.5 -> 223; 5+6+5+4 = 20
        # cents
        ("Telco", "normal", 4, D("57.1"), D("223"), D("0.20")),
    ]
    # 1030 / 7 = 147.14 -> 147; 27 cents
    assert table.totals == ("Total", "", 7, D("100.0"), D("147"), D("0.27"))


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
        ("q-billing", 2, 1, 1, D("0.0"), D("25"), 60),
        # k06 (15 s), k15 (10 s), k22 (20 s) answered, all within 20 s; k07 (45), k23 (35)
        # abandoned: SL 3 / 5 = 60.0; ASA (15 + 10 + 20) / 3 = 15; longest 45.
        ("q-support", 5, 3, 2, D("60.0"), D("15"), 45),
    ]
    # SL 3 / 7 = 42.86 -> 42.9; ASA (25 + 45) / 4 = 17.5 -> 18; longest 60.
    assert table.totals == ("Total", 7, 4, 3, D("42.9"), D("18"), 60)


async def test_inbound_queues_over_one_day() -> None:
    table = await only_table("inbound_queues", local(6, 11), local(6, 12))
    assert await rows(table) == [
        ("q-billing", 2, 1, 1, D("0.0"), D("25"), 60),  # k14, k16
        ("q-support", 1, 1, 0, D("100.0"), D("10"), 10),  # k15
    ]
    # SL 1 / 3 = 33.3; ASA (25 + 10) / 2 = 17.5 -> 18
    assert table.totals == ("Total", 3, 2, 1, D("33.3"), D("18"), 60)


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
        # x 18.00/h = 722.5 cents, shown 7.23; total 774.5, shown 7.75; net 45000 - 774.5 =
        # 44225.5, shown 442.26; ROI 44225.5 / 774.5 = 5710.20 -> 5710.2 %; CPA 774.5 / 3 =
        # 258.2 cents -> 2.58; Alice and Bob handled its calls: 450.00 / 2.
        ("Solar Outbound", 3, D("450.00"), D("0.52"), D("7.23"), D("7.75"), D("442.26"),
         D("5710.2"), D("2.58"), D("225.00")),
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
    # From the unrounded cents: revenue 1300.00; cost 137; labour 722.5 + 1120 + 327 =
    # 2169.5, shown 21.70; total 2306.5, shown 23.07; net 127693.5, shown 1276.94; ROI
    # 127693.5 / 2306.5 = 5536.245 -> 5536.2 %; CPA 2306.5 / 6 = 384.42 cents -> 3.84; four
    # agents: 1300.00 / 4 = 325.00. The rows as shown add up to each summed total.
    assert by_campaign.totals == (
        "Total", 6, D("1300.00"), D("1.37"), D("21.70"), D("23.07"), D("1276.94"), D("5536.2"),
        D("3.84"), D("325.00"),
    )  # fmt: skip
    assert rounding_note(by_campaign) is None
    assert keys(by_agent) == ("agent", "campaign", *MONEY_KEYS)
    assert await rows(by_agent) == [
        # Alice, k01 k09 k18: cost 12+14+3 = 29; labour 845 s x 18.00/h = 422.5, shown
        # 4.23; total 451.5, shown 4.52; net 30000 - 451.5 = 29548.5, shown 295.49;
        # 29548.5 / 451.5 = 6544.52 -> 6544.5 %; 451.5 / 2 = 225.75 -> 2.26.
        ("Alice Martin", "Solar Outbound", 2, D("300.00"), D("0.29"), D("4.23"), D("4.52"),
         D("295.49"), D("6544.5"), D("2.26")),
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


def _priced(campaign_id: str, cents_per_hour: int) -> MemoryCallData:
    """The dataset with one campaign's agent hour at another price."""
    return replace(
        DATA,
        dimension_docs=[
            (kind, doc | {"cost_per_agent_hour_cents": cents_per_hour})
            if kind is Campaign and doc["campaign_id"] == campaign_id
            else (kind, doc)
            for kind, doc in DATA.dimension_docs
        ],
    )


async def test_roi_totals_add_up_the_unrounded_labour_and_a_footnote_says_why() -> None:
    """Support's agent hour at 18.00 like Solar's: its 981 s cost 490.5 cents, Solar's
    1445 s 722.5. Each row shows its half cent rounded up; the total adds the cents first."""
    data = await computed(request("roi"), _priced("c3", 1800))
    by_campaign, _by_agent = data.tables
    # Support: labour 490.5, shown 4.91; total 27 + 490.5 = 517.5, shown 5.18; net -517.5,
    # shown -5.18 (half away from zero).
    assert (await rows(by_campaign))[2] == (
        "Support Inbound", 0, D("0.00"), D("0.27"), D("4.91"), D("5.18"), D("-5.18"),
        D("-100.0"), None, D("0.00"),
    )  # fmt: skip
    # Labour 722.5 + 1120 + 490.5 = 2333 -> 23.33, the rows 7.23 + 11.20 + 4.91 = 23.34;
    # total 137 + 2333 = 2470 -> 24.70, the rows 7.75 + 11.78 + 5.18 = 24.71; net 130000 -
    # 2470 = 127530 -> 1275.30, as the rows' 442.26 + 838.22 - 5.18; 127530 / 2470 =
    # 5163.16 -> 5163.2 %; CPA 2470 / 6 = 411.67 cents -> 4.12.
    assert by_campaign.totals == (
        "Total", 6, D("1300.00"), D("1.37"), D("23.33"), D("24.70"), D("1275.30"), D("5163.2"),
        D("4.12"), D("325.00"),
    )  # fmt: skip
    assert rounding_note(by_campaign) == (
        "Totals are computed from unrounded values, so the rounded rows of Labour cost, "
        "Total cost do not add up to them exactly."
    )


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


async def headline_figures(table: Table) -> list[tuple[Cell, ...]]:
    """The headline rows as (metric, kind, this period, previous period, change %): the two
    figures of a row bring the kind they read by, not their column's."""
    figures: list[tuple[Cell, ...]] = []
    for label, this, previous, change in await rows(table):
        assert isinstance(this, Figure)
        assert isinstance(previous, Figure)
        assert this.column == previous.column
        figures.append((label, this.column.kind, this.value, previous.value, change))
    return figures


async def test_executive_dashboard() -> None:
    data = await fetch("executive_dashboard")
    headlines, by_campaign = data.tables
    assert keys(headlines) == HEADLINE_KEYS
    # The previous period is 7-9 June: p01 (Solar, answered, handle 150), p02 (Insurance,
    # answered, a sale of 200.00, handle 240), p03 (Solar, abandoned), p04 (Support,
    # abandoned). Cost: calls 5 + 2 + 8 + 1 = 16 cents; labour 150 s x 18.00/h = 75 and
    # 240 s x 24.00/h = 160: 251 cents. Net 20000 - 251 = 19749. This period's money is
    # the ROI Report's total.
    assert await headline_figures(headlines) == [
        ("Calls", K.INTEGER, 25, 4, D("525.0")),  # (25 - 4) / 4
        # 15 / 25; 2 / 4; +10 / 50
        ("Contact rate %", K.PERCENT, D("60.0"), D("50.0"), D("20.0")),
        ("Conversions", K.INTEGER, 6, 1, D("500.0")),
        ("Revenue", K.MONEY, D("1300.00"), D("200.00"), D("550.0")),
        ("Cost", K.MONEY, D("23.07"), D("2.51"), D("819.1")),  # 20.56 / 2.51 = 8.1912
        ("Net", K.MONEY, D("1276.94"), D("197.49"), D("546.6")),  # 1079.45 / 197.49 = 5.4658
        # 19749 / 251 = 7868.13 -> 7868.1 %; (5536.2 - 7868.1) / 7868.1 = -0.29637
        ("ROI %", K.PERCENT, D("5536.2"), D("7868.1"), D("-29.6")),
        # 1.33 / 2.51 = 0.52988
        ("Cost per acquisition", K.MONEY, D("3.84"), D("2.51"), D("53.0")),
        ("Active agents", K.INTEGER, 4, 2, D("100.0")),  # a1 a2 a3 a4; a1 a3
    ]
    # Each figure reads by its kind, in the PDF and the email as in the CSV (plain numbers).
    shown = await rows(headlines)
    contact, revenue = shown[1], shown[3]
    assert display_row(headlines.columns, contact) == [
        "Contact rate %", "60.0 %", "50.0 %", "20.0 %",
    ]  # fmt: skip
    assert display_row(headlines.columns, revenue) == [
        "Revenue", "1,300.00", "200.00", "550.0 %",
    ]  # fmt: skip
    csv = b"".join([chunk async for chunk in csv_chunks(data, RowCounter())]).decode()
    assert "\r\nContact rate %,60.0,50.0,20.0\r\n" in csv
    assert "\r\nRevenue,1300.00,200.00,550.0\r\n" in csv
    assert headlines.totals is None
    assert keys(by_campaign) == DASHBOARD_CAMPAIGN_KEYS
    assert await rows(by_campaign) == [
        # Figures as in the Campaign Summary and the ROI report.
        ("Solar Outbound", 11, D("54.5"), 3, D("450.00"), D("7.75"), D("442.26"),
         D("5710.2")),
        ("Insurance Outbound", 7, D("71.4"), 3, D("850.00"), D("11.78"), D("838.22"),
         D("7115.6")),
        ("Support Inbound", 7, D("57.1"), 0, D("0.00"), D("3.54"), D("-3.54"), D("-100.0")),
    ]  # fmt: skip


async def test_executive_dashboard_by_campaign() -> None:
    data = await fetch("executive_dashboard", campaigns=("c3",))
    headlines, by_campaign = data.tables
    # Support only. The previous period holds p04 alone: 1 call, abandoned, 1 cent.
    assert await headline_figures(headlines) == [
        ("Calls", K.INTEGER, 7, 1, D("600.0")),
        ("Contact rate %", K.PERCENT, D("57.1"), D("0.0"), None),  # nothing to divide by
        ("Conversions", K.INTEGER, 0, 0, None),
        ("Revenue", K.MONEY, D("0.00"), D("0.00"), None),
        ("Cost", K.MONEY, D("3.54"), D("0.01"), D("35300.0")),  # (3.54 - 0.01) / 0.01
        # (this - previous) / |previous|, as docs/reports.md defines it: -3.53 / 0.01.
        ("Net", K.MONEY, D("-3.54"), D("-0.01"), D("-35300.0")),
        ("ROI %", K.PERCENT, D("-100.0"), D("-100.0"), D("0.0")),
        ("Cost per acquisition", K.MONEY, None, None, None),
        ("Active agents", K.INTEGER, 2, 0, None),  # Chloe and Dan
    ]
    assert await rows(by_campaign) == [
        ("Support Inbound", 7, D("57.1"), 0, D("0.00"), D("3.54"), D("-3.54"), D("-100.0")),
    ]


async def test_executive_dashboard_over_one_day() -> None:
    """The 12th, against the 11th."""
    data = await fetch("executive_dashboard", local(6, 12), local(6, 13))
    headlines, by_campaign = data.tables
    # 12th: k18-k25, 8 calls, answered k18 k19 k21 k22 k24 = 5, sales k19 k24 = 2, revenue
    # 150 + 300 = 450.00. Calls cost 3+10+4+4+2+12 = 35. Labour, unrounded: Solar k18 k19
    # 380 s x 18.00/h = 190; Insurance k21 k24 510 s x 24.00/h = 340; Support k22 181 s x
    # 12.00/h = 60.33. Total 35 + 590.33 = 625.33 -> 6.25; net 45000 - 625.33 = 44374.67
    # -> 443.75; ROI 44374.67 / 625.33 = 7096.16 -> 7096.2 %; CPA 312.67 cents -> 3.13;
    # agents a1 a2 a3 a4.
    # 11th: k09-k17, 9 calls, answered 6, sales k09 k17, revenue 150 + 250 = 400.00. Calls
    # cost 14+4+7+6+5+3+15 = 54. Labour: Solar 525 s x 18.00/h = 262.5; Insurance 600 s x
    # 24.00/h = 400; Support 540 s x 12.00/h = 180. Total 54 + 842.5 = 896.5 -> 8.97; net
    # 40000 - 896.5 = 39103.5 -> 391.04; ROI 39103.5 / 896.5 = 4361.80 -> 4361.8 %; CPA
    # 448.25 cents -> 4.48; agents a1 a2 a3 a4.
    assert await headline_figures(headlines) == [
        ("Calls", K.INTEGER, 8, 9, D("-11.1")),  # -1 / 9
        # 5 / 8; 6 / 9; -4.2 / 66.7
        ("Contact rate %", K.PERCENT, D("62.5"), D("66.7"), D("-6.3")),
        ("Conversions", K.INTEGER, 2, 2, D("0.0")),
        ("Revenue", K.MONEY, D("450.00"), D("400.00"), D("12.5")),
        ("Cost", K.MONEY, D("6.25"), D("8.97"), D("-30.3")),  # -2.72 / 8.97 = -0.3032
        ("Net", K.MONEY, D("443.75"), D("391.04"), D("13.5")),  # 52.71 / 391.04 = 0.1348
        ("ROI %", K.PERCENT, D("7096.2"), D("4361.8"), D("62.7")),  # 2734.4 / 4361.8 = 0.6269
        # -1.35 / 4.48 = -0.3013
        ("Cost per acquisition", K.MONEY, D("3.13"), D("4.48"), D("-30.1")),
        ("Active agents", K.INTEGER, 4, 4, D("0.0")),
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
        # k22 k23: cost 6 + 60.33 = 66.33 -> 0.66.
        ("Support Inbound", 2, D("50.0"), 0, D("0.00"), D("0.66"), D("-0.66"), D("-100.0")),
    ]  # fmt: skip
