"""Saved custom reports on the real server: stored, run by a schedule's request, checked by hand.

The dataset (UTC data zone, days D1 = 2026-03-02 and D2 = 2026-03-03):

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
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from typer.testing import CliRunner

from herald.cli.custom import custom_app
from herald.services.renderer.calldata.records import (
    Agent,
    AgentSession,
    Call,
    Campaign,
    Dimension,
    PauseReason,
    Team,
)
from herald.services.renderer.calldata.store import CallStore
from herald.services.renderer.reports import custom_store as custom_report_store
from herald.services.renderer.reports.custom_definitions import CustomReport
from herald.services.renderer.reports.model import ReportData, ReportRequest, ReportUnavailable, Row
from herald.services.renderer.reports.mongo_source import MongoSource
from herald.shared.contract.messages import DataWindow
from herald.shared.contract.schedule_spec import Filters, ReportRef
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings

pytestmark = pytest.mark.integration

TENANT = "acme"
ZONE = ZoneInfo("UTC")
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
DIMENSIONS: list[Dimension] = [
    Campaign(tenant_id=TENANT, campaign_id="c1", name="Sales"),
    Campaign(tenant_id=TENANT, campaign_id="c2", name="Support"),
    Team(tenant_id=TENANT, team_id="t1", name="Red"),
    Team(tenant_id=TENANT, team_id="t2", name="Blue"),
    *(Agent(tenant_id=TENANT, agent_id=a, name=n, team_id=TEAMS[a]) for a, n in
      (("a1", "Ann"), ("a2", "Bob"), ("a3", "Cid"))),
]  # fmt: skip


def _metric(key: str, kind: str, target: str | None = None) -> dict[str, Any]:
    extra = {} if target is None else {"field" if kind == "sum" else "ratio": target}
    return {"key": key, "label": key.replace("_", " ").capitalize(), "kind": kind, **extra}


BY_CAMPAIGN: dict[str, Any] = {
    "report_id": "by_campaign",
    "title": "Calls by campaign",
    "dataset": "calls",
    "dimensions": ["campaign_id"],
    "metrics": [
        _metric("calls", "count"),
        _metric("talk", "sum", "talk_s"),
        _metric("revenue", "sum", "revenue_cents"),
        _metric("contact_rate", "ratio", "contact_rate"),
        _metric("revenue_per_sale", "ratio", "revenue_per_sale"),
    ],
}
BY_CAMPAIGN_DAY: dict[str, Any] = {
    "report_id": "by_campaign_day",
    "title": "Calls by campaign and day",
    "dataset": "calls",
    "dimensions": ["campaign_id", "day"],
    "metrics": [
        _metric("calls", "count"),
        _metric("answered", "sum", "answered"),
        _metric("aht", "ratio", "aht_s"),
    ],
}
INBOUND_QUEUES: dict[str, Any] = {
    "report_id": "inbound_queues",
    "title": "Inbound by queue",
    "dataset": "calls",
    "dimensions": ["queue_id"],
    "metrics": [
        _metric("offered", "count"),
        _metric("answered", "sum", "answered"),
        _metric("abandon_rate", "ratio", "abandon_rate"),
        _metric("service_level", "ratio", "service_level"),
        _metric("asa", "ratio", "asa_s"),
    ],
    "filters": {"direction": ["inbound"]},
}
TOP_CONVERTERS: dict[str, Any] = {
    "report_id": "top_converters",
    "title": "Top converters",
    "dataset": "calls",
    "dimensions": ["agent_id"],
    "metrics": [
        _metric("calls", "count"),
        _metric("handle", "sum", "handle_s"),
        _metric("conversion", "ratio", "conversion_rate"),
    ],
    "sort": {"by": "conversion", "descending": True},
    "limit": 2,
}
TEAM_TIME: dict[str, Any] = {
    "report_id": "team_time",
    "title": "Team time",
    "dataset": "agent_sessions",
    "dimensions": ["team_id"],
    "metrics": [
        _metric("agent_days", "count"),
        _metric("login", "sum", "login_s"),
        _metric("pause", "sum", "pause_s"),
        _metric("utilisation", "ratio", "utilisation"),
    ],
}


@pytest.fixture
async def seeded(db: AsyncDatabase[Document]) -> AsyncDatabase[Document]:
    store = CallStore(db, ZONE)
    assert await store.ingest(CALLS) == len(CALLS)
    await store.put([*DIMENSIONS, *SESSIONS])
    return db


async def _save(db: AsyncDatabase[Document], definition: dict[str, Any]) -> str:
    report = CustomReport.model_validate({"tenant_id": TENANT, **definition})
    await custom_report_store.save(db[custom_report_store.CUSTOM_REPORTS], report)
    return report.report_id


async def _run(
    db: AsyncDatabase[Document],
    report_id: str,
    *,
    start: datetime = START,
    end: datetime = END,
    use_rollups: bool = True,
    **filters: list[str],
) -> ReportData:
    request = ReportRequest(
        TENANT,
        ReportRef(kind="custom", id=report_id),
        DataWindow(start=start, end=end, timezone="UTC"),
        Filters(**filters),
    )
    return await MongoSource(db, ZONE, use_rollups=use_rollups).fetch(request)


def _rows(data: ReportData) -> list[Row]:
    (table,) = data.tables
    assert isinstance(table.rows, list)
    return table.rows


def _totals(data: ReportData) -> Row | None:
    return data.tables[0].totals


def D(text: str) -> Decimal:
    return Decimal(text)


async def test_one_dimension_with_sums_money_and_ratios(seeded: AsyncDatabase[Document]) -> None:
    data = await _run(seeded, await _save(seeded, BY_CAMPAIGN))
    assert data.title == "Calls by campaign"
    assert [c.key for c in data.tables[0].columns] == [
        "campaign_id",
        "calls",
        "talk",
        "revenue",
        "contact_rate",
        "revenue_per_sale",
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
    assert "Contact rate = answered / calls, in %." in data.notes


async def test_the_window_filters_apply_too(seeded: AsyncDatabase[Document]) -> None:
    report_id = await _save(seeded, BY_CAMPAIGN)
    only_c2 = await _run(seeded, report_id, campaign_ids=["c2"])
    assert _rows(only_c2) == [("Support", 5, 270, D("30.00"), D("60.0"), D("30.00"))]
    # Agent a1: #1, #2 (c1, D1) and #7 (c1, D2): 3 calls, 2 answered -> 66.67 %;
    # talk 100+300 = 400; revenue 120.00 over 2 sales -> 60.00.
    only_a1 = await _run(seeded, report_id, agent_ids=["a1"])
    assert _rows(only_a1) == [("Sales", 3, 400, D("120.00"), D("66.7"), D("60.00"))]


async def test_two_dimensions(seeded: AsyncDatabase[Document]) -> None:
    data = await _run(seeded, await _save(seeded, BY_CAMPAIGN_DAY))
    # AHT = handle / answered. c1 D1: #1-4, answered #1,3, handle 120+240 -> 180;
    # c1 D2: #7-9, answered #7,9, 330+50 -> 190; c2 D1: #5,6, answered #5, 60 -> 60;
    # c2 D2: #10-12, answered #10,12, 140+90 -> 115. Total: 1030 / 7 = 147.14.
    assert _rows(data) == [
        ("Sales", D1, 4, 2, D("180.0")),
        ("Sales", D2, 3, 2, D("190.0")),
        ("Support", D1, 2, 1, D("60.0")),
        ("Support", D2, 3, 2, D("115.0")),
    ]
    assert _totals(data) == ("Total", "", 12, 7, D("147.1"))
    assert any(note.startswith("Days and hours are local to UTC") for note in data.notes)


async def test_a_fixed_filter_on_an_ad_hoc_grouping(
    seeded: AsyncDatabase[Document], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="herald.calldata"):
        data = await _run(seeded, await _save(seeded, INBOUND_QUEUES))
    # No registered grouping has queue and direction: raw calls, and no roll-up looked up.
    assert "roll-up" not in caplog.text
    # Inbound: #5, 6, 10, 11, 12 (the outbound calls, queue-less, are filtered out).
    # q1: #5, 6, 10, 11 = 4 offered; answered #5, 10; abandoned #6, 11 -> 2 / 4 = 50 %;
    #     within 20 s: #5 only -> 1 / 4 = 25 %; ASA = waits of answered (10 + 30) / 2 = 20.
    # q2: #12: 1 offered, answered, 0 abandoned -> 0 %; waited 5 s -> 100 %; ASA 5.
    # Total: 5 offered, 3 answered; 2 / 5 = 40 % abandoned; 2 / 5 = 40 % in SL; 45 / 3 = 15.
    assert _rows(data) == [
        ("q1", 4, 2, D("50.0"), D("25.0"), D("20.0")),
        ("q2", 1, 1, D("0.0"), D("100.0"), D("5.0")),
    ]
    assert _totals(data) == ("Total", 5, 3, D("40.0"), D("40.0"), D("15.0"))
    assert "Fixed filters: Direction = inbound." in data.notes


async def test_sort_and_limit_keep_the_totals_whole(seeded: AsyncDatabase[Document]) -> None:
    data = await _run(seeded, await _save(seeded, TOP_CONVERTERS))
    # Conversion = sales / answered. a1 (Ann): #1, 2, 7; 2 sales / 2 answered = 100 %,
    # handle 120+330 = 450. a3 (Cid): #5, 10, 12; 1 / 3 = 33.3 %, handle 60+140+90 = 290.
    # a2 (Bob): #3, 8, 9; 0 / 2 = 0 %, handle 240+50 = 290. No agent: #4, 6, 11, none
    # answered (no rate, sorted last). The limit of 2 keeps Ann and Cid; the totals are
    # over all 12 calls: handle 1030, 3 sales / 7 answered = 42.86 %.
    assert _rows(data) == [("Ann", 3, 450, D("100.0")), ("Cid", 3, 290, D("33.3"))]
    assert _totals(data) == ("Total", 12, 1030, D("42.9"))
    assert "Showing the first 2 of 4 rows; the totals cover all 4." in data.notes

    ascending = TOP_CONVERTERS | {"sort": {"by": "conversion"}, "limit": 10}
    data = await _run(seeded, await _save(seeded, ascending))
    assert [row[0] for row in _rows(data)] == ["Bob", "Cid", "Ann", "(none)"]
    assert not any(note.startswith("Showing") for note in data.notes)


async def test_the_sessions_dataset(seeded: AsyncDatabase[Document]) -> None:
    report_id = await _save(seeded, TEAM_TIME)
    data = await _run(seeded, report_id)
    # t1 (Red): a1 D1, a2 D1, a1 D2 = 3 agent-days; login 28800+14400+28800 = 72000;
    #     pause 1800+1800 = 3600; talk+wrap 5400+3600+7200 = 16200 -> 22.5 %.
    # t2 (Blue): a3 D1: login 28800; pause 2700+900 = 3600; 9000 / 28800 = 31.25 -> 31.3 %.
    # Total: 4; 100800; 7200; 25200 / 100800 = 25 %.
    assert _rows(data) == [("Red", 3, 72000, 3600, D("22.5")), ("Blue", 1, 28800, 3600, D("31.3"))]
    assert _totals(data) == ("Total", 4, 100800, 7200, D("25.0"))
    # Agent a1 only: 2 days, login 57600, (5400 + 7200) / 57600 = 21.875 -> 21.9 %.
    only_a1 = await _run(seeded, report_id, agent_ids=["a1"])
    assert _rows(only_a1) == [("Red", 2, 57600, 1800, D("21.9"))]
    with pytest.raises(ReportUnavailable, match="sessions, which have no campaign"):
        await _run(seeded, report_id, campaign_ids=["c1"])


async def test_raw_calls_give_what_the_rollups_give(seeded: AsyncDatabase[Document]) -> None:
    for definition in (BY_CAMPAIGN, BY_CAMPAIGN_DAY, INBOUND_QUEUES, TOP_CONVERTERS):
        report_id = await _save(seeded, definition)
        rolled_up = await _run(seeded, report_id)
        raw = await _run(seeded, report_id, use_rollups=False)
        assert rolled_up == raw, report_id


async def test_a_window_that_cuts_a_day(seeded: AsyncDatabase[Document]) -> None:
    report_id = await _save(seeded, BY_CAMPAIGN)
    # From D1 10:00: D1 is cut (its raw calls #3-6 are grouped), D2 is whole (roll-up).
    # c1: #3, 4, 7, 8, 9 = 5; answered #3, 7, 9 -> 60 %; talk 200+300+50 = 550;
    #     revenue 70.00 (#7) over 1 sale. c2: all five, as over the whole window.
    # Total: 10 calls, 6 answered -> 60 %; talk 820; 100.00 over 2 sales -> 50.00.
    start = START + timedelta(hours=10)
    data = await _run(seeded, report_id, start=start)
    assert _rows(data) == [
        ("Sales", 5, 550, D("70.00"), D("60.0"), D("70.00")),
        ("Support", 5, 270, D("30.00"), D("60.0"), D("30.00")),
    ]
    assert _totals(data) == ("Total", 10, 820, D("100.00"), D("60.0"), D("50.00"))
    assert await _run(seeded, report_id, start=start, use_rollups=False) == data


async def test_a_missing_or_deleted_report_fails_for_good(seeded: AsyncDatabase[Document]) -> None:
    with pytest.raises(ReportUnavailable, match="'nope' does not exist for tenant 'acme'"):
        await _run(seeded, "nope")
    report_id = await _save(seeded, BY_CAMPAIGN)
    collection = seeded[custom_report_store.CUSTOM_REPORTS]
    assert await custom_report_store.delete(collection, TENANT, report_id)
    with pytest.raises(ReportUnavailable, match=r"'by_campaign' does not exist .* \(deleted\?\)"):
        await _run(seeded, report_id)
    assert not await custom_report_store.delete(collection, TENANT, report_id)


async def test_a_stored_definition_that_no_longer_validates(
    seeded: AsyncDatabase[Document],
) -> None:
    report_id = await _save(seeded, BY_CAMPAIGN)
    collection = seeded[custom_report_store.CUSTOM_REPORTS]
    # As if the allow-list had lost a field since the definition was saved.
    stored = await collection.find_one({"_id": f"{TENANT}/{report_id}"})
    assert stored is not None
    stored["metrics"][1]["field"] = "talk_minutes"
    await collection.replace_one({"_id": stored["_id"]}, stored)
    with pytest.raises(ReportUnavailable, match=r"no longer validates \(metrics\.1\.field: "):
        await _run(seeded, report_id)


async def test_definitions_are_per_tenant(db: AsyncDatabase[Document]) -> None:
    collection = db[custom_report_store.CUSTOM_REPORTS]
    mine = CustomReport.model_validate({"tenant_id": TENANT, **BY_CAMPAIGN})
    theirs = mine.model_copy(update={"tenant_id": "globex", "title": "Theirs"})
    assert await custom_report_store.save(collection, mine)
    assert await custom_report_store.save(collection, theirs)
    assert not await custom_report_store.save(collection, mine.model_copy(update={"limit": 5}))
    assert await custom_report_store.get(collection, TENANT, "by_campaign") == mine.model_copy(
        update={"limit": 5}
    )
    assert [r.title for r in await custom_report_store.list_reports(collection, "globex")] == [
        "Theirs"
    ]


def test_the_cli_saves_lists_shows_and_deletes(
    settings: Settings, mongo: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HERALD_MONGO__URL", settings.mongo.url.get_secret_value())
    monkeypatch.setenv("HERALD_MONGO__DATABASE", settings.mongo.database)
    definition = tmp_path / "queues.json"
    definition.write_text(json.dumps(INBOUND_QUEUES))
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(custom_app, [*args, "--tenant", TENANT])
        assert result.exit_code == 0, result.output
        return result.output

    assert "created custom report 'inbound_queues'" in cli("save", str(definition))
    assert "replaced custom report 'inbound_queues'" in cli("save", str(definition))
    assert "Inbound by queue" in cli("list")
    shown = json.loads(cli("show", "inbound_queues"))
    assert shown == CustomReport.model_validate({"tenant_id": TENANT, **INBOUND_QUEUES}).model_dump(
        mode="json"
    )
    assert "deleted custom report 'inbound_queues'" in cli("delete", "inbound_queues")
    missing = runner.invoke(custom_app, ["show", "inbound_queues", "--tenant", TENANT])
    assert missing.exit_code == 1
    assert "no custom report 'inbound_queues' for tenant 'acme'" in missing.output
