"""Session time inside a window: spans cut at its bounds, by hand (`calldata/sessions.py`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from herald.services.renderer.calldata.sessions import UNCLIPPED, clipped, per_agent, whole
from tests.report_dataset import timed_session

UTC_ZONE = ZoneInfo("UTC")


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, 15, hour, minute, tzinfo=UTC)


#: 06:00-07:00 ready, 07:00-08:30 talk, 08:30-09:00 break, 09:00-09:30 wrap; logged out
#: until 12:00, then 12:00-13:00 ready.
DOC = timed_session(
    "a1",
    "t1",
    date(2026, 6, 15),
    at(6),
    ("ready", 3600),
    ("talk", 5400),
    ("pause", 1800, "break"),
    ("wrap", 1800),
    ("off", 9000),
    ("ready", 3600),
).document(UTC_ZONE)


def test_a_window_over_the_whole_session_counts_its_totals() -> None:
    assert clipped(DOC, at(0), at(23, 59)) == whole(DOC)
    assert {k: v for k, v in whole(DOC).items() if v} == {
        "login_s": 16200,
        "ready_s": 7200,
        "talk_s": 5400,
        "wrap_s": 1800,
        "pause_s": 1800,
        "pause_break_s": 1800,
    }


def test_a_window_cutting_spans_counts_only_their_part_inside() -> None:
    """From 08:00 to 12:30: talk 08:00-08:30 (1800), the break (1800), the wrap (1800),
    ready 12:00-12:30 (1800); the gap counts nothing."""
    sums = clipped(DOC, at(8), at(12, 30))
    assert {k: v for k, v in sums.items() if v} == {
        "login_s": 7200,
        "ready_s": 1800,
        "talk_s": 1800,
        "wrap_s": 1800,
        "pause_s": 1800,
        "pause_break_s": 1800,
    }


def test_a_window_outside_every_span_counts_nothing() -> None:
    assert set(clipped(DOC, at(9, 30), at(12)).values()) == {0}
    assert set(clipped(DOC, at(13), at(23)).values()) == {0}


def test_bounds_between_seconds_count_the_seconds_starting_inside() -> None:
    """[07:59:59.5, 08:00:01.5): the seconds starting at 08:00:00 and 08:00:01, talk both."""
    start = at(7, 59).replace(second=59, microsecond=500_000)
    end = at(8).replace(second=1, microsecond=500_000)
    assert clipped(DOC, start, end)["talk_s"] == 2


def test_a_session_without_spans_counts_whole_and_says_so() -> None:
    legacy = {k: v for k, v in DOC.items() if k != "spans"}
    assert clipped(legacy, at(8), at(9)) == whole(DOC) | {UNCLIPPED: 1}


def test_per_agent_adds_each_agents_parts() -> None:
    assert per_agent([("a", {"login_s": 1}), ("b", {"login_s": 2}), ("a", {"login_s": 3})]) == {
        "a": {"login_s": 4},
        "b": {"login_s": 2},
    }
