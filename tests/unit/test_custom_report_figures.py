"""Custom report figures computed in memory, each worked out by hand from a small dataset.

The definitions are those of tests/report_dataset.py; FerretDB is held to the
same in-memory reads in tests/integration/test_custom_reports.py. The dataset
(UTC data zone, days D1 = 2026-03-02 and D2 = 2026-03-03):

    #   day hh:mm  campaign agent(team) dir  status     wait talk hold wrap sale revenue queue
    1   D1  09:10  c1       a1 (t1)     out  answered     5  100    0   20    1   5000
    2   D1  09:20  c1       a1 (t1)     out  no_answer
    3   D1  10:05  c1       a2 (t1)     out  answered     8  200   30   10
    4   D1  10:40  c1       -           out  busy
    5   D1  11:00  c2       a3 (t2)     in   answered    10   60    0    0                 q1
    6   D1  11:30  c2       -           in   abandoned   40                               q1
    7   D2  09:00  c1       a1 (t1)     out  answered     2  300    0   30    1   7000
    8   D2  09:30  c1       a2 (t1)     out  failed
    9   D2  10:00  c1       a2 (t1)     out  answered     3   50    0    0
    10  D2  14:00  c2       a3 (t2)     in   answered    30  120   20    0                 q1
    11  D2  14:30  c2       -           in   abandoned   15                               q1
    12  D2  15:00  c2       a3 (t2)     in   answered     5   90    0    0    1   3000     q2

Handle time (talk + hold + wrap of answered calls): #1 120, #3 240, #5 60, #7 330,
#9 50, #10 140, #12 90. Within the 20 s service level: answered #1, #3, #5, #7, #9, #12.
Sessions (login, talk, wrap, pauses): a1 D1 28800 3600 1800 break 1800; a2 D1 14400 3000
600 lunch 1800; a3 D1 28800 7200 1800 training 2700 + break 900; a1 D2 28800 5400 1800.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from herald.services.renderer.calldata.records import (
    Agent,
    AgentSession,
    Call,
    Campaign,
    PauseReason,
    Team,
)
from herald.services.renderer.reports.model import ColumnKind, ReportData, ReportUnavailable, Row
from tests.report_dataset import (
    BY_CAMPAIGN,
    BY_CAMPAIGN_DAY,
    BY_HOUR,
    INBOUND_QUEUES,
    TEAM_TIME,
    TENANT,
    TOP_CONVERTERS,
    MemoryCallData,
    Record,
    computed_custom,
    custom_report,
    custom_request,
    metric,
)

K = ColumnKind
D = Decimal
UTC_ZONE = ZoneInfo("UTC")
D1, D2 = date(2026, 3, 2), date(2026, 3, 3)
START = datetime(2026, 3, 2, tzinfo=UTC)
END = START + timedelta(days=2)
TEAMS = {"a1": "t1", "a2": "t1", "a3": "t2"}


def _call(n: int, day: date, hhmm: str, campaign: str, status: str, **fields: Any) -> Call:
    hour, minute = map(int, hhmm.split(":"))
    agent = fields.get("agent_id")
    return Call(
        tenant_id=TENANT,
        call_id=f"call{n}",
        started_at=datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC),
        direction="inbound" if "queue_id" in fields else "outbound",
        campaign_id=campaign,
        status=status,
        team_id=TEAMS.get(agent) if agent else None,
        **fields,
    )


CALLS = [
    _call(1, D1, "09:10", "c1", "answered", agent_id="a1", wait_s=5, talk_s=100, wrap_s=20,
          sale=1, revenue_cents=5000),
    _call(2, D1, "09:20", "c1", "no_answer", agent_id="a1"),
    _call(3, D1, "10:05", "c1", "answered", agent_id="a2", wait_s=8, talk_s=200, hold_s=30,
          wrap_s=10),
    _call(4, D1, "10:40", "c1", "busy"),
    _call(5, D1, "11:00", "c2", "answered", agent_id="a3", wait_s=10, talk_s=60, queue_id="q1"),
    _call(6, D1, "11:30", "c2", "abandoned", wait_s=40, queue_id="q1"),
    _call(7, D2, "09:00", "c1", "answered", agent_id="a1", wait_s=2, talk_s=300, wrap_s=30,
          sale=1, revenue_cents=7000),
    _call(8, D2, "09:30", "c1", "failed", agent_id="a2"),
    _call(9, D2, "10:00", "c1", "answered", agent_id="a2", wait_s=3, talk_s=50),
    _call(10, D2, "14:00", "c2", "answered", agent_id="a3", wait_s=30, talk_s=120, hold_s=20,
          queue_id="q1"),
    _call(11, D2, "14:30", "c2", "abandoned", wait_s=15, queue_id="q1"),
    _call(12, D2, "15:00", "c2", "answered", agent_id="a3", wait_s=5, talk_s=90, sale=1,
          revenue_cents=3000, queue_id="q2"),
]  # fmt: skip


def _session(
    agent: str, day: date, login: int, talk: int, wrap: int, **pauses: int
) -> AgentSession:
    return AgentSession(
        tenant_id=TENANT,
        agent_id=agent,
        team_id=TEAMS[agent],
        day=day,
        login_s=login,
        talk_s=talk,
        wrap_s=wrap,
        pauses={PauseReason(reason): seconds for reason, seconds in pauses.items()},
    )


SESSIONS = [
    _session("a1", D1, 28800, 3600, 1800, **{"break": 1800}),
    _session("a2", D1, 14400, 3000, 600, lunch=1800),
    _session("a3", D1, 28800, 7200, 1800, training=2700, **{"break": 900}),
    _session("a1", D2, 28800, 5400, 1800),
]
DIMENSIONS: list[Record] = [
    Campaign(tenant_id=TENANT, campaign_id="c1", name="Sales"),
    Campaign(tenant_id=TENANT, campaign_id="c2", name="Support"),
    Team(tenant_id=TENANT, team_id="t1", name="Red"),
    Team(tenant_id=TENANT, team_id="t2", name="Blue"),
    *(Agent(tenant_id=TENANT, agent_id=a, name=n, team_id=TEAMS[a]) for a, n in
      (("a1", "Ann"), ("a2", "Bob"), ("a3", "Cid"))),
]  # fmt: skip
DATA = MemoryCallData.of(CALLS, [*DIMENSIONS, *SESSIONS], UTC_ZONE)


async def _run(
    definition: dict[str, Any],
    *,
    start: datetime = START,
    end: datetime = END,
    campaigns: tuple[str, ...] = (),
    agents: tuple[str, ...] = (),
) -> ReportData:
    report = custom_report(definition)
    ask = custom_request(
        report, start=start, end=end, campaigns=campaigns, agents=agents, timezone="UTC"
    )
    return await computed_custom(report, ask, DATA)


def _rows(data: ReportData) -> list[Row]:
    (table,) = data.tables
    assert isinstance(table.rows, list)
    return table.rows


def _totals(data: ReportData) -> Row | None:
    return data.tables[0].totals


def _columns(data: ReportData) -> list[tuple[str, ColumnKind]]:
    return [(c.key, c.kind) for c in data.tables[0].columns]


# -- metrics: counts, sums, money and ratios ----------------------------------------------


async def test_one_dimension_with_sums_money_and_ratios() -> None:
    data = await _run(BY_CAMPAIGN)
    assert data.title == "Calls by campaign"
    assert _columns(data) == [
        ("campaign_id", K.TEXT),
        ("calls", K.INTEGER),
        ("talk", K.DURATION),
        ("revenue", K.MONEY),
        ("contact_rate", K.PERCENT),
        ("revenue_per_sale", K.MONEY),
    ]
    # c1: calls #1-4, #7-9 = 7; answered #1,3,7,9 = 4 -> 57.14 %; talk 100+200+300+50 = 650;
    #     revenue 5000+7000 = 120.00 over 2 sales -> 60.00.
    # c2: calls #5,6,10,11,12 = 5; answered #5,10,12 = 3 -> 60 %; talk 60+120+90 = 270;
    #     revenue 30.00 over 1 sale.
    # Total: 12 calls, 7 answered -> 58.33 %; talk 920; 150.00 over 3 sales -> 50.00.
    assert _rows(data) == [
        ("Sales", 7, 650, D("120.00"), D("57.1"), D("60.00")),
        ("Support", 5, 270, D("30.00"), D("60.0"), D("30.00")),
    ]
    assert _totals(data) == ("Total", 12, 920, D("150.00"), D("58.3"), D("50.00"))
    assert data.notes == (
        "Contact rate = answered / calls, in %.",
        "Revenue per sale = revenue_cents / sale.",
    )


async def test_a_ratio_with_nothing_to_divide_by_is_empty() -> None:
    by_agent = BY_CAMPAIGN | {
        "dimensions": ["agent_id"],
        "metrics": [
            metric("revenue", "sum", "revenue_cents"),
            metric("revenue_per_sale", "ratio", "revenue_per_sale"),
            metric("aht", "ratio", "aht_s"),
            metric("abandon_rate", "ratio", "abandon_rate"),
        ],
    }
    data = await _run(by_agent)
    assert [key for key, _ in _columns(data)] == [
        "agent_id",
        "revenue",
        "revenue_per_sale",
        "aht",
        "abandon_rate",
    ]
    # Revenue, revenue / sales, handle / answered, abandoned / (answered + abandoned):
    # Ann #1, 2, 7: 120.00, 2 sales -> 60.00; 450 / 2 = 225; 0 / 2 = 0 %.
    # Bob #3, 8, 9: 0.00 and no sale -> empty; 290 / 2 = 145; 0 / 2 = 0 %.
    # Cid #5, 10, 12: 30.00 over 1 sale; 290 / 3 = 96.67 -> 97 s; 0 / 3 = 0 %.
    # No agent #4, 6, 11: nothing sold, nothing answered -> empty, empty; 2 / 2 = 100 %.
    # Total: 150.00 over 3 -> 50.00; 1030 / 7 = 147.14 -> 147 s; 2 / 9 = 22.22 %.
    assert _rows(data) == [
        ("Ann", D("120.00"), D("60.00"), D("225"), D("0.0")),
        ("Bob", D("0.00"), None, D("145"), D("0.0")),
        ("Cid", D("30.00"), D("30.00"), D("97"), D("0.0")),
        ("(none)", D("0.00"), None, None, D("100.0")),
    ]
    assert _totals(data) == ("Total", D("150.00"), D("50.00"), D("147"), D("22.2"))


async def test_no_calls_give_no_rows_and_zero_or_empty_totals() -> None:
    for data in (
        await _run(BY_CAMPAIGN, start=END, end=END + timedelta(days=1)),
        await _run(BY_CAMPAIGN, campaigns=("c9",)),
    ):
        assert _rows(data) == []
        assert _totals(data) == ("Total", 0, 0, D("0.00"), None, None)
    sessions = await _run(TEAM_TIME, start=END, end=END + timedelta(days=1))
    assert _rows(sessions) == []
    assert _totals(sessions) == ("Total", 0, 0, 0, None)


# -- dimensions -----------------------------------------------------------------------------


async def test_two_dimensions() -> None:
    data = await _run(BY_CAMPAIGN_DAY)
    assert _columns(data)[:2] == [("campaign_id", K.TEXT), ("day", K.DATE)]
    assert _columns(data)[-1] == ("aht", K.DURATION)
    # AHT = handle / answered. c1 D1: #1-4, answered #1,3, handle 120+240 -> 180;
    # c1 D2: #7-9, answered #7,9, 330+50 -> 190; c2 D1: #5,6, answered #5, 60 -> 60;
    # c2 D2: #10-12, answered #10,12, 140+90 -> 115. Total: 1030 / 7 = 147.14 -> 147.
    assert _rows(data) == [
        ("Sales", D1, 4, 2, D("180")),
        ("Sales", D2, 3, 2, D("190")),
        ("Support", D1, 2, 1, D("60")),
        ("Support", D2, 3, 2, D("115")),
    ]
    assert _totals(data) == ("Total", "", 12, 7, D("147"))
    assert data.notes == (
        "Aht = handle_s / answered.",
        "Days and hours are local to UTC, the zone of the data.",
    )


async def test_hours() -> None:
    data = await _run(BY_HOUR)
    # Average wait = waits / (answered + abandoned), to the second (half up); conversion =
    # sales / answered.
    # 09: #1, 2, 7, 8; answered #1, 7; waits 5+2 = 7 / 2 = 3.5 -> 4; 2 sales / 2 = 100 %.
    # 10: #3, 4, 9; answered #3, 9; 8+3 = 11 / 2 = 5.5 -> 6; 0 / 2 = 0 %.
    # 11: #5, 6; answered #5, abandoned #6; 10+40 = 50 / 2 = 25; 0 / 1 = 0 %.
    # 14: #10, 11; answered #10, abandoned #11; 30+15 = 45 / 2 = 22.5 -> 23; 0 / 1 = 0 %.
    # 15: #12; 5 / 1 = 5; 1 / 1 = 100 %.
    # Total: 12 calls, 2 abandoned; 118 / (7 + 2) = 13.11 -> 13; 3 / 7 = 42.86 %.
    assert _rows(data) == [
        ("09:00", 4, 0, D("4"), D("100.0")),
        ("10:00", 3, 0, D("6"), D("0.0")),
        ("11:00", 2, 1, D("25"), D("0.0")),
        ("14:00", 2, 1, D("23"), D("0.0")),
        ("15:00", 1, 0, D("5"), D("100.0")),
    ]
    assert _totals(data) == ("Total", 12, 2, D("13"), D("42.9"))


async def test_a_dimension_sorts_by_the_name_shown() -> None:
    by_name = TOP_CONVERTERS | {"sort": {"by": "agent_id", "descending": True}, "limit": 10}
    data = await _run(by_name)
    assert [row[0] for row in _rows(data)] == ["Cid", "Bob", "Ann", "(none)"]


# -- filters ---------------------------------------------------------------------------------


async def test_the_window_filters_apply_too() -> None:
    only_c2 = await _run(BY_CAMPAIGN, campaigns=("c2",))
    assert _rows(only_c2) == [("Support", 5, 270, D("30.00"), D("60.0"), D("30.00"))]
    # Agent a1: #1, #2 (c1, D1) and #7 (c1, D2): 3 calls, 2 answered -> 66.67 %;
    # talk 100+300 = 400; revenue 120.00 over 2 sales -> 60.00.
    only_a1 = await _run(BY_CAMPAIGN, agents=("a1",))
    assert _rows(only_a1) == [("Sales", 3, 400, D("120.00"), D("66.7"), D("60.00"))]


async def test_a_fixed_filter_on_an_ad_hoc_grouping() -> None:
    data = await _run(INBOUND_QUEUES)
    # Inbound: #5, 6, 10, 11, 12 (the outbound calls, queue-less, are filtered out).
    # q1: #5, 6, 10, 11 = 4 offered; answered #5, 10; abandoned #6, 11 -> 2 / 4 = 50 %;
    #     within 20 s: #5 only -> 1 / 4 = 25 %; ASA = waits of answered (10 + 30) / 2 = 20.
    # q2: #12: 1 offered, answered, 0 abandoned -> 0 %; waited 5 s -> 100 %; ASA 5.
    # Total: 5 offered, 3 answered; 2 / 5 = 40 % abandoned; 2 / 5 = 40 % in SL; 45 / 3 = 15.
    assert _rows(data) == [
        ("q1", 4, 2, D("50.0"), D("25.0"), D("20")),
        ("q2", 1, 1, D("0.0"), D("100.0"), D("5")),
    ]
    assert _totals(data) == ("Total", 5, 3, D("40.0"), D("40.0"), D("15"))
    assert "Fixed filters: Direction = inbound." in data.notes


async def test_fixed_filters_on_ids_of_fields_not_shown() -> None:
    answered_support = INBOUND_QUEUES | {
        "metrics": [metric("offered", "count"), metric("answered", "sum", "answered")],
        "filters": {"campaign_id": ["c2"], "status": ["answered", "busy"]},
    }
    data = await _run(answered_support)
    # c2 and answered (none busy): q1 #5, 10; q2 #12.
    assert _rows(data) == [("q1", 2, 2), ("q2", 1, 1)]
    assert _totals(data) == ("Total", 3, 3)
    assert data.notes == ("Fixed filters: Campaign = c2; Status = answered, busy.",)


async def test_a_fixed_filter_on_a_dimension() -> None:
    data = await _run(BY_HOUR | {"filters": {"hour": [9, 14]}})
    # Hours 09 and 14 as above. Total: 6 calls, 1 abandoned; waits 7 + 45 = 52 over
    # 3 answered + 1 abandoned = 13; 2 sales / 3 answered = 66.67 %.
    assert _rows(data) == [
        ("09:00", 4, 0, D("4"), D("100.0")),
        ("14:00", 2, 1, D("23"), D("0.0")),
    ]
    assert _totals(data) == ("Total", 6, 1, D("13"), D("66.7"))
    assert "Fixed filters: Hour = 9, 14." in data.notes


async def test_a_window_that_cuts_a_day() -> None:
    # From D1 10:00: #3-6 of D1, all of D2.
    # c1: #3, 4, 7, 8, 9 = 5; answered #3, 7, 9 -> 60 %; talk 200+300+50 = 550;
    #     revenue 70.00 (#7) over 1 sale. c2: all five, as over the whole window.
    # Total: 10 calls, 6 answered -> 60 %; talk 820; 100.00 over 2 sales -> 50.00.
    data = await _run(BY_CAMPAIGN, start=START + timedelta(hours=10))
    assert _rows(data) == [
        ("Sales", 5, 550, D("70.00"), D("60.0"), D("70.00")),
        ("Support", 5, 270, D("30.00"), D("60.0"), D("30.00")),
    ]
    assert _totals(data) == ("Total", 10, 820, D("100.00"), D("60.0"), D("50.00"))


# -- sort and limit --------------------------------------------------------------------------


async def test_sort_and_limit_keep_the_totals_whole() -> None:
    data = await _run(TOP_CONVERTERS)
    # Conversion = sales / answered. a1 (Ann): #1, 2, 7; 2 sales / 2 answered = 100 %,
    # handle 120+330 = 450. a3 (Cid): #5, 10, 12; 1 / 3 = 33.3 %, handle 60+140+90 = 290.
    # a2 (Bob): #3, 8, 9; 0 / 2 = 0 %, handle 240+50 = 290. No agent: #4, 6, 11, none
    # answered (no rate, sorted last). The limit of 2 keeps Ann and Cid; the totals are
    # over all 12 calls: handle 1030, 3 sales / 7 answered = 42.86 %.
    assert _rows(data) == [("Ann", 3, 450, D("100.0")), ("Cid", 3, 290, D("33.3"))]
    assert _totals(data) == ("Total", 12, 1030, D("42.9"))
    assert "Showing the first 2 of 4 rows; the totals cover all 4." in data.notes

    data = await _run(TOP_CONVERTERS | {"sort": {"by": "conversion"}, "limit": 10})
    assert [row[0] for row in _rows(data)] == ["Bob", "Cid", "Ann", "(none)"]
    assert not any(note.startswith("Showing") for note in data.notes)


async def test_rows_that_tie_keep_their_order() -> None:
    # Every agent, and the calls without one, have 3 calls: agent order, no agent last.
    by_calls = TOP_CONVERTERS | {"sort": {"by": "calls", "descending": True}, "limit": 10}
    data = await _run(by_calls)
    assert [row[0] for row in _rows(data)] == ["Ann", "Bob", "Cid", "(none)"]


# -- agent sessions --------------------------------------------------------------------------


async def test_the_sessions_dataset() -> None:
    data = await _run(TEAM_TIME)
    # t1 (Red): a1 D1, a2 D1, a1 D2 = 3 agent-days; login 28800+14400+28800 = 72000;
    #     pause 1800+1800 = 3600; talk+wrap 5400+3600+7200 = 16200 -> 22.5 %.
    # t2 (Blue): a3 D1: login 28800; pause 2700+900 = 3600; 9000 / 28800 = 31.25 -> 31.3 %.
    # Total: 4; 100800; 7200; 25200 / 100800 = 25 %.
    assert _rows(data) == [("Red", 3, 72000, 3600, D("22.5")), ("Blue", 1, 28800, 3600, D("31.3"))]
    assert _totals(data) == ("Total", 4, 100800, 7200, D("25.0"))
    # Agent a1 only: 2 days, login 57600, (5400 + 7200) / 57600 = 21.875 -> 21.9 %.
    only_a1 = await _run(TEAM_TIME, agents=("a1",))
    assert _rows(only_a1) == [("Red", 2, 57600, 1800, D("21.9"))]
    with pytest.raises(ReportUnavailable, match="sessions, which have no campaign"):
        await _run(TEAM_TIME, campaigns=("c1",))


async def test_sessions_by_agent_and_day_count_a_cut_day_whole() -> None:
    agent_days = TEAM_TIME | {
        "dimensions": ["agent_id", "day"],
        "metrics": [
            metric("login", "sum", "login_s"),
            metric("pause_share", "ratio", "pause_share"),
            metric("utilisation", "ratio", "utilisation"),
        ],
    }
    whole = await _run(agent_days)
    # Login; pause / login; (talk + wrap) / login:
    # Ann D1 28800: 1800 -> 6.25 %, 5400 -> 18.75 %. Ann D2 28800: 0 %, 7200 -> 25 %.
    # Bob D1 14400: 1800 -> 12.5 %, 3600 -> 25 %. Cid D1 28800: 3600 -> 12.5 %, 9000 -> 31.25 %.
    # Total: 100800; 7200 -> 7.14 %; 25200 -> 25 %.
    assert _rows(whole) == [
        ("Ann", D1, 28800, D("6.3"), D("18.8")),
        ("Ann", D2, 28800, D("0.0"), D("25.0")),
        ("Bob", D1, 14400, D("12.5"), D("25.0")),
        ("Cid", D1, 28800, D("12.5"), D("31.3")),
    ]
    assert _totals(whole) == ("Total", "", 100800, D("7.1"), D("25.0"))
    assert "Sessions are whole local days: a day the window cuts counts whole." not in whole.notes
    cut = await _run(agent_days, start=START + timedelta(hours=12))
    assert cut.tables == whole.tables
    assert cut.notes == (
        *whole.notes,
        "Sessions are whole local days: a day the window cuts counts whole.",
    )
