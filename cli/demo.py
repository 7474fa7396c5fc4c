"""A deterministic demo dataset: a contact center's campaigns, agents, calls and sessions.

Seeded: the same arguments give the same records, so a demo, a test and a benchmark
rebuild exactly the data they saw before. The shape is a small contact center's:
four outbound campaigns dialing their lists and one inbound line with three queues,
fifty agents in five teams, staffed to the day's workload, calls following weekday
and hourly curves, disposition mixes per direction, costs and revenues per campaign,
callbacks, occasional DNC hits and calls outside permitted hours, and an abandon rate
that varies by day, so some campaign-days break the 3 % ceiling.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from pymongo.asynchronous.database import AsyncDatabase

from herald.services.renderer.calldata.days import day_bounds
from herald.services.renderer.calldata.records import (
    Agent,
    AgentSession,
    AgentState,
    Call,
    CallList,
    CallStatus,
    Campaign,
    Direction,
    PauseReason,
    StateSpan,
    Team,
)
from herald.services.renderer.calldata.store import CallStore
from herald.shared.contract.schedule_spec import Frequency, ReportFormat, ReportRef, ScheduleSpec
from herald.shared.runtime.mongo import Document

DEMO_TENANT: Final = "demo"
DEFAULT_SEED: Final = 7
#: Calls handed to `CallStore.ingest` at once.
BATCH: Final = 5000
#: Days stored at once: one stream of inserts keeps FerretDB and PostgreSQL half busy.
_WRITERS: Final = 3
UTC_ZONE: Final = ZoneInfo("UTC")

#: Short names for the outcome tables below.
A, N, B, F, X = (
    CallStatus.ANSWERED,
    CallStatus.NO_ANSWER,
    CallStatus.BUSY,
    CallStatus.FAILED,
    CallStatus.ABANDONED,
)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A disposition, how often it happens and what a call ending so looks like."""

    disposition: str
    status: CallStatus
    weight: float
    #: Median talk time of an answered call (talk is log-normal around it).
    talk_s: float = 0
    hangup_cause: str = "NORMAL_CLEARING"
    sale: bool = False
    callback: bool = False


@dataclass(frozen=True, slots=True)
class _Line:
    """Where a campaign's calls come from: an outbound list or an inbound queue."""

    line_id: str
    name: str
    weight: float
    teams: tuple[str, ...]
    #: What answered calls end as.
    outcomes: tuple[_Outcome, ...]


@dataclass(frozen=True, slots=True)
class _Plan:
    campaign_id: str
    name: str
    direction: Direction
    #: Share of all calls, on an average day.
    share: float
    revenue_per_sale_cents: int
    cost_per_call_cents: int
    cost_per_minute_cents: int
    cost_per_agent_hour_cents: int
    abandon_threshold_pct: float
    #: Outbound: the share of dials a person picks up.
    connect_rate: float
    #: Abandoned / (answered + abandoned) on an average day.
    abandon_rate: float
    lines: tuple[_Line, ...]

    @property
    def inbound(self) -> bool:
        return self.direction is Direction.INBOUND


def _outbound_outcomes(sale_rate: float) -> tuple[_Outcome, ...]:
    rest = 1 - sale_rate
    return (
        _Outcome("Sale", A, sale_rate, 360, sale=True),
        _Outcome("Not Interested", A, 0.40 * rest, 45),
        _Outcome("Callback Requested", A, 0.13 * rest, 90, callback=True),
        _Outcome("Information Sent", A, 0.12 * rest, 150),
        _Outcome("Hung Up", A, 0.12 * rest, 10),
        _Outcome("Already Customer", A, 0.08 * rest, 50),
        _Outcome("Wrong Number", A, 0.11 * rest, 15),
        _Outcome("Do Not Call Request", A, 0.04 * rest, 25),
    )


#: Outbound dials nobody picked up (or nobody but a machine).
_NOT_CONNECTED = (
    _Outcome("No Answer", N, 0.58, hangup_cause="NO_ANSWER"),
    _Outcome("Voicemail", N, 0.22, hangup_cause="NORMAL_CLEARING"),
    _Outcome("Busy", B, 0.12, hangup_cause="USER_BUSY"),
    _Outcome("Disconnected Number", F, 0.05, hangup_cause="UNALLOCATED_NUMBER"),
    _Outcome("Network Failure", F, 0.03, hangup_cause="NORMAL_TEMPORARY_FAILURE"),
)
_DROPPED = _Outcome("Dropped (no agent)", X, 0, hangup_cause="NORMAL_CLEARING")
_CALLER_ABANDONED = _Outcome("Caller Abandoned", X, 0, hangup_cause="ORIGINATOR_CANCEL")


def _lists(
    code: str, names: Sequence[str], teams: tuple[str, ...], sale_rate: float
) -> tuple[_Line, ...]:
    outcomes = _outbound_outcomes(sale_rate)
    weights = (0.5, 0.3, 0.2)
    return tuple(
        _Line(f"{code}-list-{n + 1}", name, weights[n], teams, outcomes)
        for n, name in enumerate(names)
    )


_PLANS: Final = (
    _Plan(
        "solar",
        "Solar Panel Leads",
        Direction.OUTBOUND,
        share=0.29,
        revenue_per_sale_cents=10_000,
        cost_per_call_cents=4,
        cost_per_minute_cents=1,
        cost_per_agent_hour_cents=2_600,
        abandon_threshold_pct=3.0,
        connect_rate=0.20,
        abandon_rate=0.022,
        lines=_lists(
            "solar",
            ("Web Enquiries", "Homeowners - North", "Homeowners - South"),
            ("acquisition",),
            0.05,
        ),
    ),
    _Plan(
        "broadband",
        "Fibre Broadband Upgrade",
        Direction.OUTBOUND,
        share=0.27,
        revenue_per_sale_cents=3_000,
        cost_per_call_cents=3,
        cost_per_minute_cents=1,
        cost_per_agent_hour_cents=2_200,
        abandon_threshold_pct=3.0,
        connect_rate=0.26,
        abandon_rate=0.015,
        lines=_lists(
            "broadband",
            ("Copper Customers", "Out of Contract"),
            ("upsell", "acquisition"),
            0.11,
        ),
    ),
    _Plan(
        "renewals",
        "Home Insurance Renewals",
        Direction.OUTBOUND,
        share=0.20,
        revenue_per_sale_cents=3_000,
        cost_per_call_cents=3,
        cost_per_minute_cents=1,
        cost_per_agent_hour_cents=2_400,
        abandon_threshold_pct=3.0,
        connect_rate=0.32,
        abandon_rate=0.011,
        lines=_lists(
            "renewals",
            ("Due This Month", "Due Next Month", "Lapsed"),
            ("retention",),
            0.16,
        ),
    ),
    _Plan(
        "winback",
        "Lapsed Member Win-back",
        Direction.OUTBOUND,
        share=0.14,
        revenue_per_sale_cents=3_000,
        cost_per_call_cents=3,
        cost_per_minute_cents=1,
        cost_per_agent_hour_cents=2_200,
        abandon_threshold_pct=3.0,
        connect_rate=0.22,
        abandon_rate=0.013,
        lines=_lists(
            "winback", ("Cancelled Last Year", "Dormant Members"), ("retention", "upsell"), 0.08
        ),
    ),
    _Plan(
        "care",
        "Customer Care Line",
        Direction.INBOUND,
        share=0.10,
        revenue_per_sale_cents=5_000,
        cost_per_call_cents=0,
        cost_per_minute_cents=2,
        cost_per_agent_hour_cents=2_000,
        abandon_threshold_pct=5.0,
        connect_rate=1.0,
        abandon_rate=0.035,
        lines=(
            _Line(
                "care-support",
                "Support",
                0.55,
                ("care",),
                (
                    _Outcome("Resolved", A, 0.55, 240),
                    _Outcome("Technical Issue", A, 0.20, 360),
                    _Outcome("Escalated", A, 0.10, 300),
                    _Outcome("Callback Requested", A, 0.08, 120, callback=True),
                    _Outcome("Wrong Department", A, 0.07, 30),
                ),
            ),
            _Line(
                "care-billing",
                "Billing",
                0.25,
                ("care",),
                (
                    _Outcome("Resolved", A, 0.40, 180),
                    _Outcome("Billing Query", A, 0.35, 210),
                    _Outcome("Payment Taken", A, 0.15, 150),
                    _Outcome("Escalated", A, 0.05, 300),
                    _Outcome("Callback Requested", A, 0.05, 120, callback=True),
                ),
            ),
            _Line(
                "care-sales",
                "Sales",
                0.20,
                ("inbound-sales",),
                (
                    _Outcome("Sale", A, 0.25, 420, sale=True),
                    _Outcome("Quote Given", A, 0.35, 300),
                    _Outcome("Not Interested", A, 0.25, 90),
                    _Outcome("Callback Requested", A, 0.15, 120, callback=True),
                ),
            ),
        ),
    ),
)
#: The demo campaigns' names: what reports show for them.
CAMPAIGNS: Final = tuple(plan.name for plan in _PLANS)

#: Teams and how many agents each has (fifty in all).
_TEAMS: Final = (
    ("acquisition", "Acquisition", 10),
    ("upsell", "Upsell", 7),
    ("retention", "Retention", 9),
    ("care", "Customer Care", 18),
    ("inbound-sales", "Inbound Sales", 6),
)
_FIRST = [
    "Maya",
    "Liam",
    "Priya",
    "Noah",
    "Chloe",
    "Omar",
    "Grace",
    "Lucas",
    "Amara",
    "Ethan",
    "Sofia",
    "Mateo",
    "Hannah",
    "Kai",
    "Zoe",
    "Arjun",
    "Leah",
    "Diego",
    "Nora",
    "Felix",
    "Ines",
    "Samuel",
    "Aisha",
    "Jonah",
    "Clara",
]
_LAST = [
    "Patel",
    "Murphy",
    "Okafor",
    "Schmidt",
    "Rossi",
    "Nguyen",
    "Kowalski",
    "Haddad",
    "Silva",
    "Jensen",
    "Brennan",
    "Tanaka",
    "Moreau",
    "Osei",
    "Lindqvist",
    "Alvarez",
    "Fischer",
    "Costa",
    "Walsh",
    "Ibrahim",
    "Novak",
    "Byrne",
    "Das",
]

#: Calls per local hour, 0-23. Outbound dials 09:00-21:00 (the permitted hours), peaking
#: mid-morning and early evening; a few dials start before or after, outside the rules.
_OUTBOUND_HOURS = (0,) * 8 + (0.3, 5, 8, 8, 6, 5, 6, 6, 7, 9, 10, 8, 4, 0.2, 0, 0)
#: Customers call 08:00-21:00, most before lunch and mid-afternoon.
_INBOUND_HOURS = (0,) * 8 + (3, 7, 10, 10, 8, 7, 9, 8, 7, 6, 4, 3, 2, 0, 0, 0)
_PERMITTED_HOURS = range(9, 21)
#: Monday first.
_OUTBOUND_WEEKDAYS = (1.10, 1.08, 1.04, 1.0, 0.92, 0.45, 0.12)
_INBOUND_WEEKDAYS = (1.20, 1.05, 1.0, 0.98, 0.95, 0.55, 0.30)
_CARRIERS = (("Bandwidth", 0.4), ("Twilio", 0.3), ("Telnyx", 0.2), ("Lumen", 0.1))
#: Dials per lead over the period, on average (leads are dialed several times).
_ATTEMPTS_PER_LEAD = 1.6
_DNC_RATE = 0.0015
_CALLBACK_KEPT = 0.7
#: Handle time a team plans per agent and day: 85 % of a 9-hour shift less its pauses.
_PRODUCTIVE_S = 0.85 * (9 * 3600 - 75 * 60)


def _cumulative(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    return bisect.bisect_right(cumulative, rng.random() * cumulative[-1])


def _allocate(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights`, exactly (largest remainder)."""
    whole = sum(weights)
    shares = [total * w / whole for w in weights]
    counts = [math.floor(s) for s in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: counts[i] - shares[i])
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _lognormal(rng: random.Random, median: float, sigma: float) -> int:
    return int(rng.lognormvariate(math.log(median), sigma))


@dataclass(frozen=True, slots=True)
class _Agent:
    agent_id: str
    name: str
    team_id: str
    #: Scheduled hours a day; the login stretches when the day's calls need more.
    shift_s: int
    #: Relative likelihood of closing a sale.
    skill: float
    #: When the shift starts, in seconds after local midnight (earlier when it runs long).
    start_s: int = 8 * 3600


def _agents() -> list[_Agent]:
    """The roster: fixed names and teams, every sixth agent part-time, skills spread out."""
    agents = []
    number = itertools.count(1)
    for team_id, _name, size in _TEAMS:
        for _ in range(size):
            n = next(number)
            name = f"{_FIRST[(n - 1) % len(_FIRST)]} {_LAST[n * 7 % len(_LAST)]}"
            shift_h = 6 if n % 6 == 0 else 9
            skill = 0.6 + (n * 37 % 10) / 10
            start_s = (7 + n % 4) * 3600  # shifts staggered from 07:00 to 10:00
            agents.append(_Agent(f"agent-{n:02d}", name, team_id, shift_h * 3600, skill, start_s))
    return agents


def _list_sizes(calls: int) -> dict[str, int]:
    """Leads per outbound list, so each is dialed about `_ATTEMPTS_PER_LEAD` times a lead."""
    sizes = {}
    for plan in _PLANS:
        if plan.inbound:
            continue
        total = sum(line.weight for line in plan.lines)
        for line in plan.lines:
            expected = calls * plan.share * line.weight / total
            sizes[line.line_id] = max(20, round(expected / _ATTEMPTS_PER_LEAD))
    return sizes


def dimensions(tenant_id: str, calls: int) -> list[Agent | Team | Campaign | CallList]:
    """Teams, agents, campaigns and lists; list sizes follow the number of calls."""
    records: list[Agent | Team | Campaign | CallList] = [
        Team(tenant_id=tenant_id, team_id=team_id, name=name) for team_id, name, _ in _TEAMS
    ]
    records += [
        Agent(tenant_id=tenant_id, agent_id=a.agent_id, name=a.name, team_id=a.team_id)
        for a in _agents()
    ]
    sizes = _list_sizes(calls)
    for plan in _PLANS:
        records.append(
            Campaign(
                tenant_id=tenant_id,
                campaign_id=plan.campaign_id,
                name=plan.name,
                revenue_per_sale_cents=plan.revenue_per_sale_cents,
                cost_per_call_cents=plan.cost_per_call_cents,
                cost_per_agent_hour_cents=plan.cost_per_agent_hour_cents,
                abandon_threshold_pct=plan.abandon_threshold_pct,
            )
        )
        records += [
            CallList(
                tenant_id=tenant_id,
                list_id=line.line_id,
                campaign_id=plan.campaign_id,
                name=f"{plan.name}: {line.name}",
                size=sizes[line.line_id],
            )
            for line in plan.lines
            if not plan.inbound
        ]
    return records


@dataclass(frozen=True, slots=True)
class DemoDay:
    """One local day of the dataset: its calls, oldest first, and its agents' sessions."""

    day: date
    calls: list[Call]
    sessions: list[AgentSession]


@dataclass(slots=True)
class _Worked:
    """What one agent's calls added up to on one day (hold counts as talk)."""

    talk_s: int = 0
    wrap_s: int = 0


#: Cumulative weights, computed once: the generator draws from them for every call.
_LINE_WEIGHTS = [_cumulative([line.weight for line in plan.lines]) for plan in _PLANS]
_OUTCOME_WEIGHTS = {
    line.line_id: _cumulative([o.weight for o in line.outcomes])
    for plan in _PLANS
    for line in plan.lines
}
_NOT_CONNECTED_WEIGHTS = _cumulative([o.weight for o in _NOT_CONNECTED])
_CARRIER_WEIGHTS = _cumulative([weight for _, weight in _CARRIERS])
_HOUR_WEIGHTS = {
    Direction.OUTBOUND: _cumulative(_OUTBOUND_HOURS),
    Direction.INBOUND: _cumulative(_INBOUND_HOURS),
}


class _Generator:
    def __init__(
        self, tenant_id: str, calls: int, anchor: date, zone: ZoneInfo, rng: random.Random
    ) -> None:
        self.tenant_id = tenant_id
        self.calls = calls
        self.anchor = anchor
        self.zone = zone
        self.rng = rng
        self.agents = _agents()
        self.rosters = {
            team_id: [a for a in self.agents if a.team_id == team_id] for team_id, _, _ in _TEAMS
        }
        self.sizes = _list_sizes(calls)
        self.serial = 0

    def run(self, days: int) -> Iterator[DemoDay]:
        first = self.anchor - timedelta(days=days)
        dates = [first + timedelta(days=n) for n in range(days)]
        weights = [
            [
                plan.share
                * (_INBOUND_WEEKDAYS if plan.inbound else _OUTBOUND_WEEKDAYS)[day.weekday()]
                * max(0.5, self.rng.gauss(1, 0.07))
                for plan in _PLANS
            ]
            for day in dates
        ]
        per_day = _allocate(self.calls, [sum(w) for w in weights])
        for day, day_weights, count in zip(dates, weights, per_day, strict=True):
            yield self._day(day, _allocate(count, day_weights))

    def _day(self, day: date, counts: list[int]) -> DemoDay:
        rng = self.rng
        starts: list[tuple[int, int]] = []
        for index, (plan, count) in enumerate(zip(_PLANS, counts, strict=True)):
            hours = _HOUR_WEIGHTS[plan.direction]
            starts += [
                (_pick(rng, hours) * 3600 + rng.randrange(3600), index) for _ in range(count)
            ]
        starts.sort()
        # The abandon rate wanders from day to day; now and then a short-staffed day doubles it.
        abandon = [
            min(0.25, plan.abandon_rate * rng.lognormvariate(0, 0.35) * (1 + (rng.random() < 0.05)))
            for plan in _PLANS
        ]
        midnight = datetime.combine(day, time(0), self.zone)
        drafts = [
            self._draft(index, midnight + timedelta(seconds=second), abandon[index])
            for second, index in starts
        ]
        worked = self._assign_agents(drafts)
        calls = [Call(tenant_id=self.tenant_id, **draft) for draft in drafts]
        return DemoDay(day, calls, self._sessions(day, worked))

    def _draft(self, index: int, started_at: datetime, abandon_rate: float) -> dict[str, Any]:
        """A call's fields but its agent, whom staffing picks once the whole day is known."""
        rng = self.rng
        plan = _PLANS[index]
        line = plan.lines[_pick(rng, _LINE_WEIGHTS[index])]
        self.serial += 1
        draft: dict[str, Any] = {
            "call_id": f"C{self.serial:08d}",
            "started_at": started_at,
            "direction": plan.direction,
            "campaign_id": plan.campaign_id,
            "carrier": _CARRIERS[_pick(rng, _CARRIER_WEIGHTS)][0],
        }
        if not (plan.inbound or rng.random() < plan.connect_rate):
            outcome = _NOT_CONNECTED[_pick(rng, _NOT_CONNECTED_WEIGHTS)]
        elif rng.random() < abandon_rate:
            outcome = _CALLER_ABANDONED if plan.inbound else _DROPPED
        else:
            outcome = line.outcomes[_pick(rng, _OUTCOME_WEIGHTS[line.line_id])]
        status = outcome.status
        if plan.inbound:
            lead = rng.randrange(10**6)
            draft["queue_id"] = line.line_id
            draft["ring_s"] = rng.randint(2, 6) if status is A else 0
            waited = rng.expovariate(1 / 15) if status is A else 10 + rng.expovariate(1 / 55)
            draft["wait_s"] = int(waited)
        else:
            lead = rng.randrange(self.sizes[line.line_id])
            draft["list_id"] = line.line_id
            draft["lead_id"] = f"{line.line_id}-{lead:06d}"
            draft["outside_hours"] = int(started_at.hour not in _PERMITTED_HOURS)
            draft["dnc_hit"] = int(rng.random() < _DNC_RATE)
            if status is N:
                draft["ring_s"] = rng.randint(8, 40)
            elif status is B or status is F:
                draft["ring_s"] = rng.randint(0, 4)
            else:
                draft["ring_s"] = rng.randint(4, 22)
            # A connected call waits a moment for its agent; a dropped one, until dropped.
            draft["wait_s"] = rng.randint(2, 5) if status is X else int(status is A)
        draft["phone"] = f"+1 555 *** {lead * 7919 % 10000:04d}"
        draft.update(status=status, disposition=outcome.disposition)
        draft["hangup_cause"] = outcome.hangup_cause
        if status is A:
            draft["team_id"] = line.teams[rng.randrange(len(line.teams))]
            draft["talk_s"] = max(3, _lognormal(rng, outcome.talk_s, 0.55))
            hold_chance = 0.30 if plan.inbound else 0.12
            draft["hold_s"] = _lognormal(rng, 45, 0.6) if rng.random() < hold_chance else 0
            draft["wrap_s"] = _lognormal(rng, 75 if outcome.sale else 20, 0.4)
            if outcome.sale:
                draft.update(sale=1, revenue_cents=plan.revenue_per_sale_cents)
            if outcome.callback:
                draft["callback_scheduled"] = 1
                draft["callback_completed"] = int(rng.random() < _CALLBACK_KEPT)
        on_line = (
            draft["ring_s"] + draft["wait_s"] + draft.get("talk_s", 0) + draft.get("hold_s", 0)
        )
        draft["cost_cents"] = (
            plan.cost_per_call_cents + math.ceil(on_line / 60) * plan.cost_per_minute_cents
        )
        return draft

    def _assign_agents(self, drafts: list[dict[str, Any]]) -> dict[str, _Worked]:
        """Staff each team for its answered calls of the day, then hand the calls out.

        Sales go more often to skilled agents, so agents' conversion rates differ.
        """
        rng = self.rng
        by_team: dict[str, list[dict[str, Any]]] = {team_id: [] for team_id in self.rosters}
        for draft in drafts:
            if draft["status"] is A:
                by_team[draft["team_id"]].append(draft)
        worked: dict[str, _Worked] = {}
        for team_id, answered in by_team.items():
            roster = self.rosters[team_id]
            handle = sum(d["talk_s"] + d["hold_s"] + d["wrap_s"] for d in answered)
            needed = min(len(roster), max(2, math.ceil(handle / _PRODUCTIVE_S)))
            staff = sorted(rng.sample(roster, needed), key=lambda a: a.agent_id)
            skills = _cumulative([a.skill for a in staff])
            for agent in staff:
                worked[agent.agent_id] = _Worked()
            for draft in answered:
                if draft.get("sale"):
                    agent = staff[_pick(rng, skills)]
                else:
                    agent = staff[rng.randrange(len(staff))]
                draft["agent_id"] = agent.agent_id
                day = worked[agent.agent_id]
                day.talk_s += draft["talk_s"] + draft["hold_s"]
                day.wrap_s += draft["wrap_s"]
        return worked

    def _sessions(self, day: date, worked: dict[str, _Worked]) -> list[AgentSession]:
        """A session per working agent: pauses by reason, a login long enough for the calls."""
        rng = self.rng
        sessions = []
        for agent in self.agents:
            done = worked.get(agent.agent_id)
            if done is None:
                continue
            full_day = agent.shift_s >= 8 * 3600
            breaks = sum(rng.randint(600, 960) for _ in range(2 if full_day else 1))
            pauses = {PauseReason.BREAK: breaks}
            if full_day:
                pauses[PauseReason.LUNCH] = rng.randint(1800, 3600)
            if rng.random() < 0.08:
                pauses[PauseReason.TRAINING] = rng.randint(1800, 5400)
            if rng.random() < 0.12:
                pauses[PauseReason.MEETING] = rng.randint(900, 2700)
            if rng.random() < 0.5:
                pauses[PauseReason.PERSONAL] = rng.randint(60, 900)
            busy = done.talk_s + done.wrap_s + sum(pauses.values())
            # An overloaded day runs long, still with some time ready between calls.
            login = max(agent.shift_s + rng.randint(-900, 900), math.ceil(busy * 1.05) + 300)
            midnight, next_midnight = day_bounds(day, self.zone)
            day_s = int((next_midnight - midnight).total_seconds())
            start = midnight + timedelta(seconds=max(0, min(agent.start_s, day_s - login)))
            sessions.append(
                AgentSession(
                    tenant_id=self.tenant_id,
                    agent_id=agent.agent_id,
                    team_id=agent.team_id,
                    day=day,
                    login_s=login,
                    ready_s=login - busy,
                    talk_s=done.talk_s,
                    wrap_s=done.wrap_s,
                    pauses=pauses,
                    spans=_timeline(start, login, done, pauses),
                )
            )
        return sessions


#: Where in a shift each pause falls, as a share of it.
_PAUSE_AT = {
    PauseReason.TRAINING: 0.15,
    PauseReason.BREAK: 0.3,
    PauseReason.LUNCH: 0.5,
    PauseReason.MEETING: 0.65,
    PauseReason.PERSONAL: 0.85,
}


def _timeline(
    start: datetime, login: int, done: _Worked, pauses: dict[PauseReason, int]
) -> tuple[StateSpan, ...]:
    """The session as spans from `start`: each pause at its point of the shift, the work
    between them in stretches of about an hour of talk, then wrap, then ready."""
    placed = sorted(pauses, key=_PAUSE_AT.__getitem__)
    points = [0.0, *(_PAUSE_AT[reason] for reason in placed), 1.0]
    gaps = [after - before for before, after in itertools.pairwise(points)]
    stretches = [
        _allocate(work, [1] * max(1, round(work / 3600)))
        for work in _allocate(login - sum(pauses.values()), gaps)
    ]
    sizes = [size for stretch in stretches for size in stretch]
    talks = iter(_allocate(done.talk_s, sizes))
    wraps = iter(_allocate(done.wrap_s, sizes))
    spans: list[StateSpan] = []
    at = start

    def add(state: AgentState, seconds: int, reason: PauseReason | None = None) -> None:
        nonlocal at
        if seconds > 0:
            end = at + timedelta(seconds=seconds)
            spans.append(StateSpan(state=state, start=at, end=end, reason=reason))
            at = end

    for n, stretch in enumerate(stretches):
        for size in stretch:
            talk, wrap = next(talks), next(wraps)
            add(AgentState.TALK, talk)
            add(AgentState.WRAP, wrap)
            add(AgentState.READY, size - talk - wrap)
        if n < len(placed):
            add(AgentState.PAUSE, pauses[placed[n]], placed[n])
    return tuple(spans)


def generate(
    tenant_id: str,
    *,
    calls: int,
    days: int,
    anchor: date,
    random_seed: int = DEFAULT_SEED,
    zone: ZoneInfo = UTC_ZONE,
) -> Iterator[DemoDay]:
    """The dataset's `days` local days before `anchor`, oldest first, `calls` calls in all."""
    if days < 1 or calls < 0:
        raise ValueError("the demo needs at least one day and no negative number of calls")
    return _Generator(tenant_id, calls, anchor, zone, random.Random(random_seed)).run(days)


async def seed(
    db: AsyncDatabase[Document],
    *,
    tenant_id: str,
    calls: int,
    days: int,
    anchor: date,
    random_seed: int = DEFAULT_SEED,
    zone: ZoneInfo = UTC_ZONE,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Replace the tenant's data with the demo dataset; returns how many calls were written.

    Days are generated in a thread while earlier days are stored by `_WRITERS` tasks, so
    Python and the database work at once. Each day goes to one writer only: a day's
    roll-up is read, changed and written back, which two writers of one day would break.
    `progress` hears how many calls are stored so far.
    """
    store = CallStore(db, zone)
    await store.delete_tenant(tenant_id)
    await store.put(dimensions(tenant_id, calls))
    upcoming: asyncio.Queue[DemoDay | None] = asyncio.Queue(maxsize=_WRITERS)
    written = stored = 0

    async def generate_days() -> None:
        dataset = generate(
            tenant_id, calls=calls, days=days, anchor=anchor, random_seed=random_seed, zone=zone
        )
        while (day := await asyncio.to_thread(next, dataset, None)) is not None:
            await upcoming.put(day)
        for _ in range(_WRITERS):
            await upcoming.put(None)

    async def write_days() -> None:
        nonlocal written, stored
        while (day := await upcoming.get()) is not None:
            for start in range(0, len(day.calls), BATCH):
                batch = day.calls[start : start + BATCH]
                new = await store.ingest(batch)  # then add: `+= await` would lose updates
                written += new
                stored += len(batch)
                if progress is not None:
                    progress(stored)
            await store.put(day.sessions)

    tasks = [asyncio.ensure_future(generate_days())]
    tasks += [asyncio.ensure_future(write_days()) for _ in range(_WRITERS)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    return written


def schedules(
    recipients: Sequence[str], report_format: ReportFormat | None = None
) -> dict[str, ScheduleSpec]:
    """The five common schedules of the product documentation, by a short name for their ids.

    `report_format` overrides each schedule's own format.
    """

    def spec(
        name: str,
        report_id: str,
        frequency: Frequency,
        at: time,
        fmt: ReportFormat,
        weekday: int | None = None,
    ) -> ScheduleSpec:
        return ScheduleSpec(
            name=name,
            report=ReportRef(id=report_id),
            frequency=frequency,
            weekday=weekday,
            time_of_day=at,
            recipients=list(recipients),
            format=report_format or fmt,
        )

    monday, friday = 0, 4
    pdf, csv, html = ReportFormat.PDF, ReportFormat.CSV, ReportFormat.HTML
    return {
        "morning-brief": spec(
            "Morning Brief", "campaign_summary", Frequency.DAILY, time(7, 30), pdf
        ),
        "weekly-scorecard": spec(
            "Weekly Scorecard", "agent_performance", Frequency.WEEKLY, time(8), pdf, monday
        ),
        "monthly-executive": spec(
            "Monthly Executive", "executive_dashboard", Frequency.MONTHLY, time(9), pdf
        ),
        "compliance-audit": spec(
            "Compliance Audit", "cdr", Frequency.WEEKLY, time(17), csv, friday
        ),
        "revenue-review": spec("Revenue Review", "roi", Frequency.WEEKLY, time(9), html, monday),
    }
