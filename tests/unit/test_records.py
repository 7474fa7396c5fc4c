"""Incoming contact-center records: what is refused, and what a stored call carries."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from herald.services.renderer.calldata.records import AgentSession, Call, StateSpan

BERLIN = ZoneInfo("Europe/Berlin")


def _call(**fields: Any) -> Call:
    base: dict[str, Any] = {
        "tenant_id": "t1",
        "call_id": "c1",
        "started_at": datetime(2026, 10, 31, 23, 30, tzinfo=UTC),
        "direction": "inbound",
        "campaign_id": "camp",
        "queue_id": "q1",
        "agent_id": "a1",
        "status": "answered",
        "wait_s": 20,
        "ring_s": 5,
        "talk_s": 100,
        "hold_s": 10,
        "wrap_s": 30,
    }
    return Call.model_validate(base | fields)


def test_a_stored_call_carries_local_day_hour_and_the_flags_reports_sum() -> None:
    doc = _call().document(BERLIN)
    # 23:30 UTC on 31 Oct is 00:30 on 1 Nov in Berlin (CET, +1).
    assert (doc["day"], doc["hour"]) == ("2026-11-01", 0)
    assert doc["_id"] == "t1/c1"
    assert (doc["answered"], doc["abandoned"], doc["inbound"]) == (1, 0, 1)
    assert doc["within_sl"] == 1  # waited exactly 20 s
    assert doc["answer_wait_s"] == 20
    assert doc["handle_s"] == 140
    assert doc["duration_s"] == 135  # ring + wait + talk + hold


def test_unanswered_calls_have_no_handle_time_and_count_their_status() -> None:
    doc = _call(status="busy", agent_id=None, talk_s=0, hold_s=0, wrap_s=0).document(BERLIN)
    assert (doc["answered"], doc["busy_failed"], doc["within_sl"]) == (0, 1, 0)
    assert (doc["handle_s"], doc["answer_wait_s"]) == (0, 0)
    waited = _call(wait_s=21).document(BERLIN)
    assert waited["within_sl"] == 0


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"status": "no_answer"}, "must be 0 for a call not answered"),
        ({"agent_id": None}, "an answered call needs agent_id"),
        ({"revenue_cents": 500}, "revenue_cents needs sale = 1"),
        ({"callback_completed": 1}, "callback_completed needs callback_scheduled"),
        ({"started_at": datetime(2026, 11, 1, 9, 0)}, "timezone"),
        ({"sale": 2}, "less than or equal to 1"),
        ({"campaign_id": "a/b"}, "pattern"),
    ],
)
def test_inconsistent_calls_are_refused_with_a_reason(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        _call(**fields)


def test_a_session_sums_its_pauses_and_keeps_each_reason() -> None:
    session = AgentSession(
        tenant_id="t1",
        agent_id="a1",
        day=date(2026, 11, 2),
        login_s=8 * 3600,
        pauses={"break": 900, "lunch": 1800},
    )
    doc = session.document(ZoneInfo("UTC"))
    assert doc["_id"] == "t1/2026-11-02/a1"
    assert (doc["pause_s"], doc["pause_break_s"], doc["pause_training_s"]) == (2700, 900, 0)
    assert doc["spans"] is None
    with pytest.raises(ValidationError, match="pauses"):
        AgentSession(
            tenant_id="t1", agent_id="a1", day=date(2026, 11, 2), login_s=1, pauses={"nap": 5}
        )


def _span(state: str, start: int, end: int, reason: str | None = None) -> StateSpan:
    """A span on 2 Nov 2026 between two UTC hours."""
    at = datetime(2026, 11, 2, tzinfo=UTC)
    return StateSpan(
        state=state, start=at.replace(hour=start), end=at.replace(hour=end), reason=reason
    )


def _timed(*spans: StateSpan, **totals: Any) -> AgentSession:
    fields: dict[str, Any] = {"login_s": 3 * 3600, "ready_s": 3600, "talk_s": 3600}
    fields |= {"pauses": {"lunch": 3600}} | totals
    return AgentSession(tenant_id="t1", agent_id="a1", day=date(2026, 11, 2), spans=spans, **fields)


def test_a_session_keeps_its_spans_as_epoch_seconds_and_the_sum_each_adds_to() -> None:
    """08:00-09:00 ready, 09:00-10:00 lunch, 12:00-13:00 talk (logged out between)."""
    session = _timed(_span("ready", 8, 9), _span("pause", 9, 10, "lunch"), _span("talk", 12, 13))
    at8 = int(datetime(2026, 11, 2, 8, tzinfo=UTC).timestamp())
    doc = session.document(ZoneInfo("UTC"))
    assert json.loads(doc["spans"]) == [
        [at8, at8 + 3600, "ready_s"],
        [at8 + 3600, at8 + 7200, "pause_lunch_s"],
        [at8 + 4 * 3600, at8 + 5 * 3600, "talk_s"],
    ]
    # In Tokyo (UTC+9) 08:00 UTC is 17:00 and 13:00 UTC 22:00 the same day; in Honolulu
    # (UTC-10) 22:00 and 03:00 on different days: the spans must lie within the day.
    assert session.document(ZoneInfo("Asia/Tokyo"))["day"] == "2026-11-02"
    with pytest.raises(ValueError, match="lie outside 2026-11-02 in Pacific/Honolulu"):
        session.document(ZoneInfo("Pacific/Honolulu"))


@pytest.mark.parametrize(
    ("spans", "totals", "reason"),
    [
        # Totals other than the spans' sums.
        ((_span("ready", 8, 9), _span("pause", 9, 10, "lunch"), _span("talk", 10, 11)),
         {"talk_s": 1800}, "must add up the spans"),
        ((_span("ready", 8, 9), _span("pause", 9, 10, "break"), _span("talk", 10, 11)),
         {}, "must add up the spans"),
        # Overlapping or out of order.
        ((_span("ready", 8, 10), _span("pause", 9, 10, "lunch"), _span("talk", 10, 11)),
         {"login_s": 4 * 3600, "ready_s": 7200}, "time order"),
        ((_span("pause", 9, 10, "lunch"), _span("ready", 8, 9), _span("talk", 10, 11)),
         {}, "time order"),
    ],
)  # fmt: skip
def test_spans_that_do_not_make_the_totals_are_refused(
    spans: tuple[StateSpan, ...], totals: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        _timed(*spans, **totals)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"state": "pause"}, "needs a reason"),
        ({"state": "talk", "reason": "lunch"}, "only a pause span"),
        ({"end": datetime(2026, 11, 2, 8, tzinfo=UTC)}, "ends after it starts"),
        ({"end": datetime(2026, 11, 2, 9, 0, 0, 500, tzinfo=UTC)}, "whole seconds"),
    ],
)
def test_an_inconsistent_span_is_refused(fields: dict[str, Any], reason: str) -> None:
    span = {"state": "ready", "start": datetime(2026, 11, 2, 8, tzinfo=UTC)}
    span |= {"end": datetime(2026, 11, 2, 9, tzinfo=UTC)} | fields
    with pytest.raises(ValidationError, match=reason):
        StateSpan.model_validate(span)
