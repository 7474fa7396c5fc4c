"""The demo dataset: deterministic, valid, and shaped like a contact center's data."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from herald.cli import demo
from herald.services.renderer.calldata.records import (
    Agent,
    AgentSession,
    Call,
    CallList,
    CallStatus,
    Campaign,
    Direction,
    Team,
)
from herald.shared.contract.schedule_spec import Frequency, ReportFormat

ZONE = ZoneInfo("Europe/London")
#: Two weeks across the spring clock change (29 March 2026).
ANCHOR = date(2026, 4, 6)
DAYS = 14
CALLS = 6000


def generate(random_seed: int = demo.DEFAULT_SEED) -> list[demo.DemoDay]:
    return list(
        demo.generate(
            "acme", calls=CALLS, days=DAYS, anchor=ANCHOR, random_seed=random_seed, zone=ZONE
        )
    )


@pytest.fixture(scope="module")
def days() -> list[demo.DemoDay]:
    return generate()


@pytest.fixture(scope="module")
def calls(days: list[demo.DemoDay]) -> list[Call]:
    return [call for day in days for call in day.calls]


def test_the_same_arguments_give_the_same_data(days: list[demo.DemoDay]) -> None:
    again = generate()
    assert [c.model_dump() for d in again for c in d.calls] == [
        c.model_dump() for d in days for c in d.calls
    ]
    assert [s.model_dump() for d in again for s in d.sessions] == [
        s.model_dump() for d in days for s in d.sessions
    ]
    other = generate(random_seed=8)
    assert [c.model_dump() for d in other for c in d.calls] != [
        c.model_dump() for d in days for c in d.calls
    ]


def test_every_record_is_valid_and_refers_to_known_dimensions(calls: list[Call]) -> None:
    records = demo.dimensions("acme", CALLS)
    campaigns = {r.campaign_id: r for r in records if isinstance(r, Campaign)}
    agents = {r.agent_id: r for r in records if isinstance(r, Agent)}
    teams = {r.team_id for r in records if isinstance(r, Team)}
    lists = {r.list_id: r for r in records if isinstance(r, CallList)}
    assert len(campaigns) == 5
    assert len(agents) == 50
    assert len(teams) == 5
    assert {a.team_id for a in agents.values()} == teams
    assert set(demo.CAMPAIGNS) == {c.name for c in campaigns.values()}
    assert len(calls) == CALLS
    assert len({c.call_id for c in calls}) == CALLS
    for call in calls:
        assert Call.model_validate(call.model_dump()) == call
        campaign = campaigns[call.campaign_id]
        if call.agent_id is not None:
            assert agents[call.agent_id].team_id == call.team_id
        if call.list_id is not None:
            assert lists[call.list_id].campaign_id == call.campaign_id
        assert call.revenue_cents == call.sale * campaign.revenue_per_sale_cents
        assert call.cost_cents >= campaign.cost_per_call_cents
        assert (call.agent_id is not None) == (call.status is CallStatus.ANSWERED)


def test_calls_follow_the_days_and_hours_of_a_working_week(days: list[demo.DemoDay]) -> None:
    assert [d.day for d in days] == [ANCHOR - timedelta(days=DAYS - n) for n in range(DAYS)]
    hours: Counter[int] = Counter()
    for day in days:
        starts = [c.started_at for c in day.calls]
        assert starts == sorted(starts)
        assert {s.astimezone(ZONE).date() for s in starts} == {day.day}
        hours.update(s.astimezone(ZONE).hour for s in starts)
    assert set(hours) <= set(range(8, 22))
    assert 9 <= hours.most_common(1)[0][0] <= 20
    weekdays = [len(d.calls) for d in days if d.day.weekday() < 5]
    weekends = [len(d.calls) for d in days if d.day.weekday() >= 5]
    assert min(weekdays) > max(weekends)


def test_outcomes_mix_like_a_contact_center(calls: list[Call]) -> None:
    statuses = Counter(c.status for c in calls)
    assert set(statuses) == set(CallStatus)
    assert 0.2 < statuses[CallStatus.ANSWERED] / len(calls) < 0.6
    answered = [c for c in calls if c.status is CallStatus.ANSWERED]
    assert {"Sale", "Not Interested", "Callback Requested", "Wrong Number"} <= {
        c.disposition for c in answered
    }
    assert {"No Answer", "Busy", "Voicemail"} <= {
        c.disposition for c in calls if c.status is not CallStatus.ANSWERED
    }
    assert all(c.talk_s > 0 for c in answered)
    inbound = [c for c in calls if c.direction is Direction.INBOUND]
    assert inbound
    assert all(c.queue_id and c.list_id is None for c in inbound)
    assert len({c.queue_id for c in inbound}) == 3
    assert any(c.callback_completed for c in calls)
    assert any(c.callback_scheduled and not c.callback_completed for c in calls)
    assert any(c.dnc_hit for c in calls)
    # Dialing is permitted 09:00-21:00; customers may call in whenever the line is open.
    for call in calls:
        permitted = 9 <= call.started_at.astimezone(ZONE).hour < 21
        assert call.outside_hours == (call.direction is Direction.OUTBOUND and not permitted)
    assert any(c.outside_hours for c in calls)


def test_leads_are_called_several_times(calls: list[Call]) -> None:
    attempts = Counter(c.lead_id for c in calls if c.lead_id is not None)
    assert max(attempts.values()) >= 3
    assert 1.3 < sum(attempts.values()) / len(attempts) < 3


def test_some_campaign_days_break_the_abandon_ceiling(calls: list[Call]) -> None:
    live: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0])
    for call in calls:
        if call.status in (CallStatus.ANSWERED, CallStatus.ABANDONED):
            cell = live[call.campaign_id, call.started_at.astimezone(ZONE).date()]
            cell[call.status is CallStatus.ABANDONED] += 1
    rates = [abandoned / (answered + abandoned) for answered, abandoned in live.values()]
    assert any(rate > 0.03 for rate in rates)
    assert sum(rate <= 0.03 for rate in rates) > len(rates) / 2


def test_sessions_cover_their_agents_calls(days: list[demo.DemoDay]) -> None:
    for day in days:
        sessions: dict[str, AgentSession] = {s.agent_id: s for s in day.sessions}
        talk: Counter[str] = Counter()
        wrap: Counter[str] = Counter()
        for call in day.calls:
            if call.agent_id is not None:
                talk[call.agent_id] += call.talk_s + call.hold_s
                wrap[call.agent_id] += call.wrap_s
        assert set(talk) <= set(sessions)
        for agent_id, session in sessions.items():
            assert session.day == day.day
            assert session.talk_s == talk[agent_id]
            assert session.wrap_s == wrap[agent_id]
            pause = sum(session.pauses.values())
            assert session.ready_s > 0
            assert session.login_s == session.ready_s + session.talk_s + session.wrap_s + pause
            assert session.login_s <= 16 * 3600


def test_the_five_common_schedules() -> None:
    specs = demo.schedules(["lead@example.com"])
    assert {name: (s.name, s.report.id, s.frequency, s.weekday) for name, s in specs.items()} == {
        "morning-brief": ("Morning Brief", "campaign_summary", Frequency.DAILY, None),
        "weekly-scorecard": ("Weekly Scorecard", "agent_performance", Frequency.WEEKLY, 0),
        "monthly-executive": ("Monthly Executive", "executive_dashboard", Frequency.MONTHLY, None),
        "compliance-audit": ("Compliance Audit", "cdr", Frequency.WEEKLY, 4),
        "revenue-review": ("Revenue Review", "roi", Frequency.WEEKLY, 0),
    }
    assert all(s.recipients == ["lead@example.com"] for s in specs.values())
    as_csv = demo.schedules(["lead@example.com"], ReportFormat.CSV)
    assert {s.format for s in as_csv.values()} == {ReportFormat.CSV}
