"""The hand-checked contact center the standard reports are tested on, and its data in memory.

Three campaigns, two teams, four agents, two lists, 25 calls over three local
days in Europe/Berlin, plus calls before and after the window and one call of
another tenant. `MemoryCallData` answers a report's reads from it as
`CallStore` does from MongoDB: the unit tests check every figure against it
(tests/unit/test_standard_reports.py), the integration tests check that
FerretDB answers each query shape the same (tests/integration/test_standard_reports.py).
Saved custom reports, defined below, are held to FerretDB on it the same way
(tests/integration/test_custom_reports.py); their figures are checked by hand on a
smaller dataset (tests/unit/test_custom_report_figures.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from herald.services.renderer.calldata.days import slices
from herald.services.renderer.calldata.groupings import (
    COUNT,
    Cells,
    Grouped,
    Grouping,
    Sums,
    add_calls,
)
from herald.services.renderer.calldata.records import (
    Agent,
    AgentSession,
    AgentState,
    Call,
    CallList,
    CallStatus,
    Campaign,
    Dimension,
    Direction,
    PauseReason,
    StateSpan,
    Team,
)
from herald.services.renderer.calldata.sessions import clipped, per_agent, whole
from herald.services.renderer.calldata.store import DIMENSIONS, Scope
from herald.services.renderer.reports import custom
from herald.services.renderer.reports.custom_definitions import CustomReport
from herald.services.renderer.reports.model import ReportData, ReportRequest, Row, rows_of
from herald.services.renderer.reports.standard import REPORTS
from herald.services.renderer.reports.standard.reading import build
from herald.shared.contract.messages import DataWindow
from herald.shared.contract.schedule_spec import Filters, ReportRef
from herald.shared.contract.tenant_settings import TenantCompliance
from herald.shared.runtime.mongo import Document

Record = Agent | Team | Campaign | CallList | AgentSession
TENANT = "acme"
ZONE = "Europe/Berlin"
BERLIN = ZoneInfo(ZONE)
OUT, IN = Direction.OUTBOUND, Direction.INBOUND
ANS, NOA, BUSY, FAIL, ABD = (
    CallStatus.ANSWERED,
    CallStatus.NO_ANSWER,
    CallStatus.BUSY,
    CallStatus.FAILED,
    CallStatus.ABANDONED,
)


def local(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A wall-clock time in Berlin, 2025 (June is UTC+2)."""
    return datetime(2025, month, day, hour, minute, tzinfo=BERLIN)


#: The main window: the local days Tue 10, Wed 11 and Thu 12 June 2025.
START, END = local(6, 10), local(6, 13)


def _call(call_id: str, at: datetime, campaign: str, status: CallStatus, **fields: Any) -> Call:
    fields.setdefault("direction", OUT)
    fields.setdefault("tenant_id", TENANT)
    return Call(
        call_id=call_id,
        started_at=at,
        campaign_id=campaign,
        status=status,
        phone=f"+4930****{call_id[1:]}",
        **fields,
    )


def _session(
    agent: str, team: str, day: int, login: int, ready: int, talk: int, wrap: int, **pauses: int
) -> AgentSession:
    return AgentSession(
        tenant_id=TENANT,
        agent_id=agent,
        team_id=team,
        day=date(2025, 6, day),
        login_s=login,
        ready_s=ready,
        talk_s=talk,
        wrap_s=wrap,
        pauses={PauseReason(reason): seconds for reason, seconds in pauses.items()},
    )


def timed_session(
    agent: str, team: str | None, day: date, start: datetime, *parts: tuple[Any, ...]
) -> AgentSession:
    """A session of spans laid end to end from `start`, its totals theirs: each part is
    (state, seconds) or ("pause", seconds, reason); ("off", seconds) is logged out."""
    spans: list[StateSpan] = []
    totals = dict.fromkeys(("ready", "talk", "wrap"), 0)
    pauses: dict[PauseReason, int] = {}
    at = start
    for state, seconds, *reason in parts:
        end = at + timedelta(seconds=seconds)
        if state != "off":
            why = PauseReason(reason[0]) if reason else None
            spans.append(StateSpan(state=AgentState(state), start=at, end=end, reason=why))
            if why is None:
                totals[state] += seconds
            else:
                pauses[why] = pauses.get(why, 0) + seconds
        at = end
    return AgentSession(
        tenant_id=TENANT,
        agent_id=agent,
        team_id=team,
        day=day,
        login_s=sum(totals.values()) + sum(pauses.values()),
        ready_s=totals["ready"],
        talk_s=totals["talk"],
        wrap_s=totals["wrap"],
        pauses=pauses,
        spans=tuple(spans),
    )


def dataset() -> tuple[list[Call], list[Agent | Team | Campaign | CallList | AgentSession]]:
    """The hand-checked dataset: calls, then dimensions and agent sessions.

    handle = talk + hold + wrap of an answered call; duration = ring + wait + talk + hold.
    """
    t = TENANT
    dimensions: list[Agent | Team | Campaign | CallList | AgentSession] = [
        Team(tenant_id=t, team_id="t1", name="Team North"),
        Team(tenant_id=t, team_id="t2", name="Team South"),
        Agent(tenant_id=t, agent_id="a1", name="Alice Martin", team_id="t1"),
        # Bob moved from Team South to Team North after his first call (k02).
        Agent(tenant_id=t, agent_id="a2", name="Bob Keller", team_id="t1"),
        Agent(tenant_id=t, agent_id="a3", name="Chloe Durand", team_id="t2"),
        Agent(tenant_id=t, agent_id="a4", name="Dan Weber", team_id="t2"),
        # Per-sale revenue and per-call cost are the platform's list prices; reports use
        # the calls' own revenue and cost, so these deliberately differ from them.
        Campaign(
            tenant_id=t,
            campaign_id="c1",
            name="Solar Outbound",
            revenue_per_sale_cents=14000,
            cost_per_call_cents=9,
            cost_per_agent_hour_cents=1800,
        ),
        Campaign(
            tenant_id=t,
            campaign_id="c2",
            name="Insurance Outbound",
            revenue_per_sale_cents=26000,
            cost_per_call_cents=9,
            cost_per_agent_hour_cents=2400,
        ),
        Campaign(
            tenant_id=t, campaign_id="c3", name="Support Inbound", cost_per_agent_hour_cents=1200
        ),
        CallList(tenant_id=t, list_id="l1", campaign_id="c1", name="Solar May", size=10),
        CallList(tenant_id=t, list_id="l2", campaign_id="c2", name="Insurance Leads", size=8),
        # login = ready + talk + wrap + pause on every session.
        _session("a1", "t1", 10, 14400, 9000, 1800, 600, **{"break": 1800, "lunch": 1200}),
        _session("a1", "t1", 11, 14400, 9600, 2400, 600, **{"break": 1800}),
        _session("a1", "t1", 12, 7200, 5400, 900, 300, personal=600),
        _session("a2", "t2", 10, 10800, 7200, 1800, 600, training=1200),
        _session("a2", "t1", 11, 7200, 5400, 1200, 300, **{"break": 300}),
        _session("a2", "t1", 12, 10800, 6600, 2400, 600, **{"break": 600, "meeting": 600}),
        _session("a3", "t2", 10, 28800, 18000, 5400, 1800, lunch=3600),
        # Chloe's state times are known on the 11th and 12th: a window cutting those days
        # counts only their part inside it. 08:00-16:00, the same totals as her others.
        timed_session(
            "a3",
            "t2",
            date(2025, 6, 11),
            local(6, 11, 8),
            ("ready", 7200),
            ("talk", 1800),
            ("wrap", 900),
            ("ready", 4500),
            ("pause", 3600, "lunch"),
            ("talk", 1800),
            ("wrap", 900),
            ("ready", 8100),
        ),
        # 09:00-13:00.
        timed_session(
            "a3",
            "t2",
            date(2025, 6, 12),
            local(6, 12, 9),
            ("ready", 3600),
            ("talk", 2700),
            ("wrap", 900),
            ("pause", 1800, "break"),
            ("ready", 5400),
        ),
        _session("a4", "t2", 10, 14400, 10800, 1800, 600, **{"break": 1200}),
        _session("a4", "t2", 11, 14400, 9000, 2700, 900, **{"break": 900, "meeting": 900}),
        _session("a4", "t2", 12, 7200, 4500, 1500, 300, lunch=900),
        # Outside the window: never counted.
        _session("a1", "t1", 9, 3600, 3600, 0, 0),
        _session("a3", "t2", 13, 3600, 3600, 0, 0),
    ]
    s1 = {"campaign": "c1", "list_id": "l1"}
    s2 = {"campaign": "c2", "list_id": "l2"}
    ok = {"carrier": "Telco", "hangup_cause": "normal"}
    vx = {"carrier": "Voxa", "hangup_cause": "normal"}
    gone = {"carrier": "Telco", "hangup_cause": "caller_hangup", "disposition": "Abandoned"}
    sup = {"direction": IN, "campaign": "c3", "queue_id": "q-support"}
    bil = {"direction": IN, "campaign": "c3", "queue_id": "q-billing"}
    a1, a2 = {"agent_id": "a1", "team_id": "t1"}, {"agent_id": "a2", "team_id": "t1"}
    a3, a4 = {"agent_id": "a3", "team_id": "t2"}, {"agent_id": "a4", "team_id": "t2"}

    def c(call_id: str, at: datetime, status: CallStatus, *parts: dict[str, Any], **f: Any) -> Call:
        fields: dict[str, Any] = {}
        for part in parts:
            fields |= part
        fields |= f
        return _call(call_id, at, fields.pop("campaign"), status, **fields)

    calls = [
        # -- Tue 10 June -------------------------------------------------------------------
        # 00:30 local is 22:30 UTC the day before. handle 360, duration 312.
        c("k01", local(6, 10, 0, 30), ANS, s1, ok, a1, lead_id="101", disposition="Sale",
          wait_s=2, ring_s=10, talk_s=300, wrap_s=60, cost_cents=12, sale=1,
          revenue_cents=15000, outside_hours=1),
        # Bob, still in Team South. handle 180, duration 161.
        c("k02", local(6, 10, 9, 15), ANS, s1, ok, a2, team_id="t2", lead_id="102",
          disposition="Callback", wait_s=3, ring_s=8, talk_s=120, hold_s=30, wrap_s=30,
          cost_cents=6, callback_scheduled=1),
        # duration 30.
        c("k03", local(6, 10, 9, 40), NOA, s1, lead_id="103", disposition="No answer",
          carrier="Telco", hangup_cause="no_answer", ring_s=30),
        # handle 570, duration 487.
        c("k04", local(6, 10, 10, 5), ANS, s2, vx, a3, lead_id="201", disposition="Sale",
          wait_s=1, ring_s=6, talk_s=420, hold_s=60, wrap_s=90, cost_cents=20, sale=1,
          revenue_cents=30000),
        c("k05", local(6, 10, 10, 20), BUSY, s2, lead_id="202", disposition="Busy",
          carrier="Voxa", hangup_cause="user_busy"),
        # handle 260, duration 235.
        c("k06", local(6, 10, 10, 50), ANS, sup, ok, a4, disposition="Resolved", wait_s=15,
          talk_s=200, hold_s=20, wrap_s=40, cost_cents=5),
        # duration 45.
        c("k07", local(6, 10, 11, 10), ABD, sup, gone, wait_s=45, cost_cents=2),
        # duration 17.
        c("k08", local(6, 10, 11, 30), ABD, s1, gone, lead_id="104", wait_s=5, ring_s=12,
          cost_cents=3),
        # -- Wed 11 June -------------------------------------------------------------------
        # handle 405, duration 371.
        c("k09", local(6, 11, 9, 5), ANS, s1, ok, a1, lead_id="102", disposition="Sale",
          wait_s=2, ring_s=9, talk_s=360, wrap_s=45, cost_cents=14, sale=1,
          revenue_cents=15000, callback_scheduled=1, callback_completed=1),
        # handle 120, duration 101.
        c("k10", local(6, 11, 9, 25), ANS, s1, ok, a2, lead_id="105",
          disposition="No interest", wait_s=4, ring_s=7, talk_s=90, wrap_s=30, cost_cents=4),
        # No disposition and no carrier: shown as "(none)".
        c("k11", local(6, 11, 9, 50), FAIL, s1, lead_id="106", hangup_cause="network_error"),
        # handle 180, duration 157.
        c("k12", local(6, 11, 10, 15), ANS, s2, vx, a3, lead_id="203", disposition="Callback",
          wait_s=2, ring_s=5, talk_s=150, wrap_s=30, cost_cents=7, callback_scheduled=1),
        c("k13", local(6, 11, 10, 40), FAIL, s2, lead_id="204", disposition="DNC",
          carrier="Voxa", hangup_cause="call_rejected", dnc_hit=1),
        # Waited 25 s: outside the 20 s service level. handle 300, duration 265.
        c("k14", local(6, 11, 11, 5), ANS, bil, ok, a4, disposition="Resolved", wait_s=25,
          talk_s=240, wrap_s=60, cost_cents=6),
        # handle 240, duration 220.
        c("k15", local(6, 11, 11, 20), ANS, sup, ok, a3, disposition="Resolved", wait_s=10,
          talk_s=180, hold_s=30, wrap_s=30, cost_cents=5, callback_scheduled=1,
          callback_completed=1),
        # duration 60.
        c("k16", local(6, 11, 11, 45), ABD, bil, gone, wait_s=60, cost_cents=3),
        # handle 420, duration 354.
        c("k17", local(6, 11, 14, 10), ANS, s2, vx, a4, lead_id="205", disposition="Sale",
          wait_s=3, ring_s=6, talk_s=300, hold_s=45, wrap_s=75, cost_cents=15, sale=1,
          revenue_cents=25000),
        # -- Thu 12 June -------------------------------------------------------------------
        # handle 80, duration 70.
        c("k18", local(6, 12, 9, 10), ANS, s1, ok, a1, lead_id="107", disposition="Callback",
          wait_s=2, ring_s=8, talk_s=60, wrap_s=20, cost_cents=3, callback_scheduled=1),
        # Lead 101 buys a second time. handle 300, duration 267.
        c("k19", local(6, 12, 9, 35), ANS, s1, ok, a2, lead_id="101", disposition="Sale",
          wait_s=1, ring_s=6, talk_s=240, hold_s=20, wrap_s=40, cost_cents=10, sale=1,
          revenue_cents=15000),
        # duration 30.
        c("k20", local(6, 12, 10, 0), NOA, s1, lead_id="108", disposition="No answer",
          carrier="Telco", hangup_cause="no_answer", ring_s=30),
        # handle 120, duration 109.
        c("k21", local(6, 12, 10, 30), ANS, s2, vx, a3, lead_id="206",
          disposition="No interest", wait_s=2, ring_s=7, talk_s=100, wrap_s=20, cost_cents=4),
        # Waited exactly 20 s: within the service level. handle 181, duration 170.
        c("k22", local(6, 12, 11, 0), ANS, sup, ok, a4, disposition="Resolved", wait_s=20,
          talk_s=150, wrap_s=31, cost_cents=4),
        # duration 35.
        c("k23", local(6, 12, 11, 15), ABD, sup, gone, wait_s=35, cost_cents=2),
        # Lead 203's second call. handle 390, duration 337.
        c("k24", local(6, 12, 15, 20), ANS, s2, vx, a3, lead_id="203", disposition="Sale",
          wait_s=2, ring_s=5, talk_s=330, wrap_s=60, cost_cents=12, sale=1,
          revenue_cents=30000),
        c("k25", local(6, 12, 23, 30), BUSY, s1, lead_id="109", disposition="Busy",
          carrier="Telco", hangup_cause="user_busy", outside_hours=1),
        # -- the previous period (7-9 June), for the Executive Dashboard -------------------
        # handle 150.
        c("p01", local(6, 8, 10, 0), ANS, s1, ok, a1, lead_id="110",
          disposition="No interest", wait_s=2, ring_s=5, talk_s=120, wrap_s=30, cost_cents=5,
          callback_scheduled=1),
        # handle 240.
        c("p02", local(6, 9, 15, 0), ANS, s2, vx, a3, lead_id="207", disposition="Sale",
          wait_s=3, ring_s=5, talk_s=200, wrap_s=40, cost_cents=8, sale=1,
          revenue_cents=20000),
        c("p03", local(6, 9, 16, 0), ABD, s1, gone, lead_id="111", wait_s=6, ring_s=10,
          cost_cents=2),
        # 21:45 UTC on the 9th: the last call before the window.
        c("p04", local(6, 9, 23, 45), ABD, sup, gone, wait_s=30, cost_cents=1),
        # -- well before: the rolling 30 days of 10 June start on 12 May -------------------
        c("h01", local(5, 12, 10, 0), ABD, s1, gone, lead_id="112", wait_s=5, cost_cents=1),
        c("h02", local(5, 13, 10, 0), ABD, s1, gone, lead_id="113", wait_s=5, cost_cents=1),
        c("h03", local(5, 11, 10, 0), ABD, s1, gone, lead_id="114", wait_s=5, cost_cents=1),
        c("h04", local(5, 20, 10, 0), ABD, s2, gone, lead_id="208", wait_s=5, cost_cents=1),
        # -- after the window (22:15 UTC on the 12th) and another tenant's call -----------
        c("f01", local(6, 13, 0, 15), ANS, s1, ok, a1, lead_id="110", disposition="Sale",
          wait_s=2, ring_s=5, talk_s=100, wrap_s=10, cost_cents=5, sale=1,
          revenue_cents=15000),
        c("o01", local(6, 11, 10, 0), ANS, s1, ok, a1, tenant_id="other", lead_id="101",
          disposition="Sale", talk_s=100, cost_cents=50, sale=1, revenue_cents=99900),
    ]  # fmt: skip
    return calls, dimensions


@dataclass(frozen=True)
class MemoryCallData:
    """`CallStore`'s reads over documents in memory (the integration tests hold it to FerretDB).

    A scope's calls are its tenant's started in [start, end), narrowed by its campaigns
    and agents; sessions are the local days the scope touches, each day it cuts clipped
    to it, narrowed by agent only.
    """

    zone: ZoneInfo
    call_docs: list[Document]
    session_docs: list[Document]
    dimension_docs: list[tuple[type[Dimension], Document]]

    @classmethod
    def of(cls, calls: Sequence[Call], records: Sequence[Record], zone: ZoneInfo) -> MemoryCallData:
        sessions = [r.document(zone) for r in records if isinstance(r, AgentSession)]
        dimensions = [(type(r), r.document()) for r in records if not isinstance(r, AgentSession)]
        return cls(zone, [c.document(zone) for c in calls], sessions, dimensions)

    def _in(self, scope: Scope) -> list[Document]:
        return sorted(
            (
                doc
                for doc in self.call_docs
                if doc["tenant_id"] == scope.tenant_id
                and scope.start <= doc["started_at"] < scope.end
                and (not scope.campaign_ids or doc["campaign_id"] in scope.campaign_ids)
                and (not scope.agent_ids or doc["agent_id"] in scope.agent_ids)
            ),
            key=lambda doc: (doc["started_at"], doc["_id"]),
        )

    async def group(self, grouping: Grouping, scope: Scope) -> Grouped:
        cells: Cells = {}
        add_calls(grouping, cells, self._in(scope))
        return Grouped(grouping, cells)

    async def sessions(self, scope: Scope) -> dict[str, Sums]:
        """Per agent: whole days' totals, cut days clipped, as `CallStore.sessions` does."""
        parts = {part.day.isoformat(): part for part in slices(scope.start, scope.end, self.zone)}
        return per_agent(
            (
                doc["agent_id"],
                whole(doc) if part.whole else clipped(doc, part.start, part.end),
            )
            for doc in self.session_docs
            if (part := parts.get(doc["day"])) is not None
            and doc["tenant_id"] == scope.tenant_id
            and (not scope.agent_ids or doc["agent_id"] in scope.agent_ids)
        )

    async def session_sums(
        self, scope: Scope, keys: tuple[str, ...], sums: tuple[str, ...]
    ) -> Cells:
        """Sessions summed per distinct `keys` (None for a field they lack), whole local days."""
        days = {part.day.isoformat() for part in slices(scope.start, scope.end, self.zone)}
        cells: Cells = {}
        for doc in self.session_docs:
            if doc["tenant_id"] != scope.tenant_id or doc["day"] not in days:
                continue
            if scope.agent_ids and doc["agent_id"] not in scope.agent_ids:
                continue
            cell = cells.setdefault(tuple(doc.get(key) for key in keys), [0] * len(sums))
            for i, name in enumerate(sums):
                cell[i] += 1 if name == COUNT else doc[name]
        return cells

    async def dimension(self, kind: type[Dimension], tenant_id: str) -> dict[str, Document]:
        id_field = DIMENSIONS[kind][1]
        return {
            doc[id_field]: doc
            for found, doc in self.dimension_docs
            if found is kind and doc["tenant_id"] == tenant_id
        }

    async def calls(self, scope: Scope) -> AsyncIterator[Document]:
        for doc in self._in(scope):
            yield doc


DATA = MemoryCallData.of(*dataset(), BERLIN)


def request(
    report_id: str,
    start: datetime = START,
    end: datetime = END,
    *,
    campaigns: tuple[str, ...] = (),
    agents: tuple[str, ...] = (),
    timezone: str = ZONE,
    compliance: TenantCompliance | None = None,
) -> ReportRequest:
    """The report over [start, end) of the dataset's tenant, as a schedule would ask for it."""
    return ReportRequest(
        TENANT,
        ReportRef(id=report_id),
        DataWindow(start=start, end=end, timezone=timezone),
        Filters(campaign_ids=list(campaigns), agent_ids=list(agents)),
        compliance=compliance or TenantCompliance(),
    )


async def computed(ask: ReportRequest, data: MemoryCallData = DATA) -> ReportData:
    """The report computed in memory, from the dataset unless told otherwise."""
    return await build(REPORTS[ask.report.id], data, ask)


@dataclass(frozen=True)
class Contents:
    """A report with its streamed rows read, so two reports compare with `==`."""

    title: str
    notes: tuple[str, ...]
    tables: tuple[tuple[tuple[str, ...], str | None, list[Row], Row | None], ...]


async def contents(data: ReportData) -> Contents:
    tables = []
    for table in data.tables:
        keys = tuple(column.key for column in table.columns)
        tables.append((keys, table.title, [row async for row in rows_of(table)], table.totals))
    return Contents(data.title, data.notes, tuple(tables))


# -- saved custom reports ------------------------------------------------------------------


def metric(key: str, kind: str, target: str | None = None) -> dict[str, Any]:
    """A metric as a definition file writes it; its label follows from its key."""
    extra = {} if target is None else {"field" if kind == "sum" else "ratio": target}
    return {"key": key, "label": key.replace("_", " ").capitalize(), "kind": kind, **extra}


#: Custom report definitions (without their tenant), each reading one query shape.
BY_CAMPAIGN: dict[str, Any] = {
    "report_id": "by_campaign",
    "title": "Calls by campaign",
    "dataset": "calls",
    "dimensions": ["campaign_id"],
    "metrics": [
        metric("calls", "count"),
        metric("talk", "sum", "talk_s"),
        metric("revenue", "sum", "revenue_cents"),
        metric("contact_rate", "ratio", "contact_rate"),
        metric("revenue_per_sale", "ratio", "revenue_per_sale"),
    ],
}
BY_CAMPAIGN_DAY: dict[str, Any] = {
    "report_id": "by_campaign_day",
    "title": "Calls by campaign and day",
    "dataset": "calls",
    "dimensions": ["campaign_id", "day"],
    "metrics": [
        metric("calls", "count"),
        metric("answered", "sum", "answered"),
        metric("aht", "ratio", "aht_s"),
    ],
}
#: Read from the registered `hours` grouping.
BY_HOUR: dict[str, Any] = {
    "report_id": "by_hour",
    "title": "Calls by hour",
    "dataset": "calls",
    "dimensions": ["hour"],
    "metrics": [
        metric("offered", "count"),
        metric("abandoned", "sum", "abandoned"),
        metric("average_wait", "ratio", "average_wait_s"),
        metric("conversion", "ratio", "conversion_rate"),
    ],
}
#: No registered grouping has queue and direction: an ad-hoc one, from raw calls.
INBOUND_QUEUES: dict[str, Any] = {
    "report_id": "inbound_queues",
    "title": "Inbound by queue",
    "dataset": "calls",
    "dimensions": ["queue_id"],
    "metrics": [
        metric("offered", "count"),
        metric("answered", "sum", "answered"),
        metric("abandon_rate", "ratio", "abandon_rate"),
        metric("service_level", "ratio", "service_level"),
        metric("asa", "ratio", "asa_s"),
    ],
    "filters": {"direction": ["inbound"]},
}
TOP_CONVERTERS: dict[str, Any] = {
    "report_id": "top_converters",
    "title": "Top converters",
    "dataset": "calls",
    "dimensions": ["agent_id"],
    "metrics": [
        metric("calls", "count"),
        metric("handle", "sum", "handle_s"),
        metric("conversion", "ratio", "conversion_rate"),
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
        metric("agent_days", "count"),
        metric("login", "sum", "login_s"),
        metric("pause", "sum", "pause_s"),
        metric("utilisation", "ratio", "utilisation"),
    ],
}


def custom_report(definition: dict[str, Any], tenant_id: str = TENANT) -> CustomReport:
    return CustomReport.model_validate({"tenant_id": tenant_id, **definition})


def custom_request(report: CustomReport, **arguments: Any) -> ReportRequest:
    """`request`'s window and filters, naming the saved custom report instead."""
    standard = request("cdr", **arguments)  # any standard id: replaced below
    return replace(standard, report=ReportRef(kind="custom", id=report.report_id))


async def computed_custom(
    report: CustomReport, ask: ReportRequest, data: MemoryCallData = DATA
) -> ReportData:
    """The custom report computed in memory, from the dataset unless told otherwise."""
    return await custom.build(data, report, ask)
