from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from herald.services.scheduler.firing import Pending, plan
from herald.shared.contract.identity import ScheduleRef, fired_run_id
from herald.shared.contract.schedule_spec import ScheduleSpec

DAILY: dict[str, Any] = {
    "name": "Brief",
    "report": {"id": "campaign_summary"},
    "frequency": "daily",
    "time_of_day": "08:00",
    "timezone": "UTC",
    "recipients": ["a@example.com"],
}
DUE = datetime(2026, 11, 27, 8, tzinfo=UTC)


def _pending(**spec: Any) -> Pending:
    return Pending("s1", "acme", 1, ScheduleSpec.model_validate(DAILY | spec), DUE)


def test_on_time_fires_and_moves_to_the_next_period() -> None:
    result = plan(_pending(), DUE + timedelta(seconds=2), "UTC")
    assert result.fire is not None
    assert result.fire.run_id == "acme/s1@2026-11-27T08:00:00+00:00"
    assert result.fire.window.end == datetime(2026, 11, 27, tzinfo=UTC)
    assert result.skipped == []
    assert result.next_due == DUE + timedelta(days=1)


def test_three_missed_periods_fire_the_last_once_and_skip_the_rest() -> None:
    now = DUE + timedelta(days=3, hours=2)
    result = plan(_pending(), now, "UTC")
    assert result.fire is not None
    assert result.fire.scheduled_for == DUE + timedelta(days=3)
    assert [s[0] for s in result.skipped] == [
        fired_run_id(ScheduleRef("acme", "s1"), DUE + timedelta(days=d)) for d in range(3)
    ]
    assert result.next_due == DUE + timedelta(days=4)


def test_a_catch_up_window_shorter_than_the_delay_skips_everything() -> None:
    now = DUE + timedelta(hours=2)
    result = plan(_pending(catch_up_seconds=3600), now, "UTC")
    assert result.fire is None
    assert [s[0] for s in result.skipped] == [fired_run_id(ScheduleRef("acme", "s1"), DUE)]
    assert "catch-up window" in result.skipped[0][2]
    assert result.next_due == DUE + timedelta(days=1)


def test_a_long_outage_of_a_minutely_cron_lists_a_bounded_number_of_skips() -> None:
    pending = _pending(
        frequency="custom",
        cron="* * * * *",
        window={"kind": "last_hours", "n": 1},
        time_of_day="00:00",
    )
    result = plan(pending, DUE + timedelta(days=2), "UTC")
    assert result.fire is not None
    assert result.fire.scheduled_for == DUE + timedelta(days=2)
    assert len(result.skipped) == 1000
    assert result.skipped[-1][1] == DUE + timedelta(days=2, minutes=-1)
