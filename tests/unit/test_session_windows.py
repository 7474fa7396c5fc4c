"""A seven-day New York window over UTC data: occupancy from sessions clipped to it, by hand.

The data zone is UTC; the schedule's week is Mon 15 - Sun 21 June 2026 in
America/New_York (EDT, UTC-4): [15 June 04:00Z, 22 June 04:00Z). It touches
eight UTC days, and cuts the first and the last. Sessions (UTC):

- Ann (Team East)
  - 15 June 01:00-05:00: ready 01:00-02:00, talk 02:00-03:30, break 03:30-04:00, wrap
    04:00-04:30, ready 04:30-05:00; inside the window only the wrap (1800) and the last
    ready (1800).
  - 15 June 13:00-21:00 and 16-20 June the same, the day "P": ready 13:00-14:00, talk
    14:00-16:00, lunch 16:00-17:00, wrap 17:00-17:30, talk 17:30-20:00, ready 20:00-21:00:
    login 28800, ready 7200, talk 16200, wrap 1800, lunch 3600.
  - 22 June 02:00-06:00: talk 02:00-03:00, break 03:00-03:30, ready 03:30-05:00, wrap
    05:00-06:00; inside: talk 3600, break 1800, ready 1800 (03:30-04:00).
  - In all: login 3600 + 6 x 28800 + 7200 = 183600; ready 1800 + 6 x 7200 + 1800 = 46800;
    talk 6 x 16200 + 3600 = 100800; wrap 1800 + 6 x 1800 = 12600; pause: break 1800,
    lunch 6 x 3600 = 21600, 23400.
    Occupancy (100800 + 12600) / (183600 - 23400) = 113400 / 160200 = 70.79 -> 70.8.
- Dee (no team)
  - 21 June 22:00-24:00: ready, then talk: 3600 each.
  - 22 June 00:00-06:00: talk 00:00-02:00, wrap 02:00-02:30, training 02:30-04:30, ready
    04:30-06:00; inside: talk 7200, wrap 1800, training 5400 (until 04:00).
  - In all: login 21600, ready 3600, talk 10800, wrap 1800, training 5400.
    Occupancy 12600 / 16200 = 77.78 -> 77.8.
- Ben: 22 June 10:00-14:00, ready: wholly after the window, so no row.

Counted by whole UTC days instead, Ann would read 122400 / 176400 = 69.4 %, Dee 58.3 %,
and Ben would have a row.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from herald.services.renderer.calldata.records import (
    Agent,
    AgentSession,
    Call,
    CallStatus,
    Campaign,
    Team,
)
from herald.services.renderer.reports.model import ReportData, Row, rows_of
from tests.report_dataset import (
    TENANT,
    MemoryCallData,
    Record,
    computed,
    request,
    timed_session,
)

D = Decimal
NEW_YORK = "America/New_York"
NY = ZoneInfo(NEW_YORK)
WEEK = (datetime(2026, 6, 15, tzinfo=NY), datetime(2026, 6, 22, tzinfo=NY))

#: The day "P": 13:00-21:00 UTC.
P = (
    ("ready", 3600),
    ("talk", 7200),
    ("pause", 3600, "lunch"),
    ("wrap", 1800),
    ("talk", 9000),
    ("ready", 3600),
)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


def _sessions() -> list[AgentSession]:
    ann_15 = timed_session(
        "a1",
        "t1",
        date(2026, 6, 15),
        utc(15, 1),
        ("ready", 3600),
        ("talk", 5400),
        ("pause", 1800, "break"),
        ("wrap", 1800),
        ("ready", 1800),
        ("off", 8 * 3600),
        *P,
    )
    ann_p = [timed_session("a1", "t1", date(2026, 6, d), utc(d, 13), *P) for d in range(16, 21)]
    ann_22 = timed_session(
        "a1",
        "t1",
        date(2026, 6, 22),
        utc(22, 2),
        ("talk", 3600),
        ("pause", 1800, "break"),
        ("ready", 5400),
        ("wrap", 3600),
    )
    dee = [
        timed_session("a4", None, date(2026, 6, 21), utc(21, 22), ("ready", 3600), ("talk", 3600)),
        timed_session(
            "a4",
            None,
            date(2026, 6, 22),
            utc(22, 0),
            ("talk", 7200),
            ("wrap", 1800),
            ("pause", 7200, "training"),
            ("ready", 5400),
        ),
    ]
    ben = [
        timed_session("a2", "t1", date(2026, 6, 22), utc(22, 10), ("ready", 14400)),
        # On a UTC day the window does not touch: never read.
        timed_session("a2", "t1", date(2026, 6, 14), utc(14, 10), ("ready", 14400)),
    ]
    return [ann_15, *ann_p, ann_22, *dee, *ben]


def _call(call_id: str, at: datetime, agent: str, talk: int, sale: int = 0) -> Call:
    """An outbound call answered by `agent`, wrap a tenth of its talk."""
    return Call(
        tenant_id=TENANT,
        call_id=call_id,
        started_at=at,
        direction="outbound",
        campaign_id="c1",
        agent_id=agent,
        status=CallStatus.ANSWERED,
        talk_s=talk,
        wrap_s=talk // 10,
        sale=sale,
        revenue_cents=1000 * sale,
    )


CALLS = [
    _call("n1", utc(15, 2, 30), "a1", 600, sale=1),  # 22:30 EDT on the 14th: before
    _call("n2", utc(16, 14, 10), "a1", 300, sale=1),
    _call("n3", utc(18, 15), "a1", 200),
    _call("n4", utc(22, 2, 15), "a1", 400, sale=1),  # 22:15 EDT on the 21st: inside
    _call("n5", utc(21, 23, 10), "a4", 500),
    _call("n6", utc(22, 5), "a1", 100),  # 01:00 EDT on the 22nd: after
]
DIMENSIONS: list[Record] = [
    Team(tenant_id=TENANT, team_id="t1", name="Team East"),
    Agent(tenant_id=TENANT, agent_id="a1", name="Ann", team_id="t1"),
    Agent(tenant_id=TENANT, agent_id="a2", name="Ben", team_id="t1"),
    Agent(tenant_id=TENANT, agent_id="a4", name="Dee"),
    Campaign(tenant_id=TENANT, campaign_id="c1", name="Outbound One"),
]
UTC_DATA = MemoryCallData.of(CALLS, [*DIMENSIONS, *_sessions()], ZoneInfo("UTC"))


async def week(report_id: str, **kwargs: Any) -> tuple[list[Row], Row | None, ReportData]:
    data = await computed(request(report_id, *WEEK, timezone=NEW_YORK, **kwargs), UTC_DATA)
    (table,) = data.tables
    return [row async for row in rows_of(table)], table.totals, data


async def test_agent_time_counts_session_time_inside_the_new_york_week() -> None:
    rows, totals, data = await week("agent_time")
    assert rows == [
        # login, ready, talk, wrap, pause, by reason (break lunch training meeting
        # personal), utilisation (talk + wrap) / login, occupancy.
        # Ann: 113400 / 183600 = 61.76 -> 61.8.
        ("Ann", "Team East", 183600, 46800, 100800, 12600, 23400, 1800, 21600, 0, 0, 0,
         D("61.8"), D("70.8")),
        # Dee: 12600 / 21600 = 58.33 -> 58.3.
        ("Dee", "(no team)", 21600, 3600, 10800, 1800, 5400, 0, 0, 5400, 0, 0, D("58.3"),
         D("77.8")),
    ]  # fmt: skip
    # 126000 / 205200 = 61.40 -> 61.4; 126000 / (205200 - 28800) = 71.43 -> 71.4.
    assert totals == (
        "Total", "", 205200, 50400, 111600, 14400, 28800, 1800, 21600, 5400, 0, 0, D("61.4"),
        D("71.4"),
    )  # fmt: skip
    assert "inside the window (America/New_York)" in data.notes[-2]
    assert data.notes[-1] == "Previous period: 8\u201314 Jun 2026 (the week before)"


async def test_agent_performance_gives_the_same_occupancy_for_the_same_agents() -> None:
    rows, totals, _ = await week("agent_performance")
    assert rows == [
        # Ann: n2 n3 n4 (n1 before, n6 after). Talk 300 + 200 + 400 = 900, wrap 90; handle
        # 990 / 3 = 330.0; sales n2 n4, 2 / 3 = 66.7; 2 / (183600 s = 51 h) = 0.04.
        ("Ann", "Team East", 3, 900, 0, 90, D("330.0"), 2, D("66.7"), D("0.04"), D("70.8")),
        # Dee: n5; 0 / 6 h = 0.00.
        ("Dee", "(no team)", 1, 500, 0, 50, D("550.0"), 0, D("0.0"), D("0.00"), D("77.8")),
    ]  # fmt: skip
    # 1540 / 4 = 385.0; 2 / 4 = 50.0; 2 / 57 h = 0.035 -> 0.04.
    assert totals == (
        "Total", "", 4, 1400, 0, 140, D("385.0"), 2, D("50.0"), D("0.04"), D("71.4"),
    )  # fmt: skip


async def test_team_performance_adds_the_same_agents_up_by_their_current_team() -> None:
    rows, totals, _ = await week("team_performance")
    assert rows == [
        ("Team East", 1, 3, 900, 0, 90, D("330.0"), 2, D("66.7"), D("0.04"), D("70.8")),
        ("(no team)", 1, 1, 500, 0, 50, D("550.0"), 0, D("0.0"), D("0.00"), D("77.8")),
    ]
    assert totals == ("Total", 2, 4, 1400, 0, 140, D("385.0"), 2, D("50.0"), D("0.04"), D("71.4"))


async def test_the_agent_filter_applies_to_the_clipped_days_too() -> None:
    rows, _, _ = await week("agent_time", agents=("a4", "a2"))
    assert [row[0] for row in rows] == ["Dee"]


async def test_a_session_without_state_times_on_a_cut_day_counts_whole_and_is_noted() -> None:
    legacy = AgentSession(
        tenant_id=TENANT, agent_id="a2", team_id="t1", day=date(2026, 6, 15), login_s=3600
    )
    data = MemoryCallData.of(CALLS, [*DIMENSIONS, legacy], ZoneInfo("UTC"))
    report = await computed(request("agent_time", *WEEK, timezone=NEW_YORK), data)
    (table,) = report.tables
    assert [row[:3] async for row in rows_of(table)] == [("Ben", "Team East", 3600)]
    assert report.notes[-2] == (
        "1 agent-day(s) on a day the window cuts have no state times and count whole."
    )
