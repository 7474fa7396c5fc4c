"""Tests that run a schedule now move its regular firing out of their way (`off_hours`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from herald.services.scheduler import timing
from herald.shared.contract.schedule_spec import ScheduleSpec
from tests.helpers import off_hours


@pytest.mark.parametrize(
    "more",
    [
        {"frequency": "daily"},
        {"frequency": "daily", "time_of_day": "07:30", "timezone": "Pacific/Kiritimati"},
        {"frequency": "weekly", "weekday": 0, "timezone": "America/Los_Angeles"},
        {"frequency": "monthly"},
    ],
)
def test_a_schedule_run_now_in_a_test_does_not_also_fire_during_it(more: dict[str, str]) -> None:
    spec = ScheduleSpec.model_validate(
        {"name": "Brief", "report": {"id": "campaign_summary"}, "recipients": ["a@x.example"]}
        | more
    )
    # Just before the default 08:00 UTC, and just before 07:30 on the Line Islands (UTC+14).
    for now in (
        datetime(2026, 12, 7, 7, 59, 52, tzinfo=UTC),
        datetime(2026, 12, 6, 17, 29, tzinfo=UTC),
    ):
        firing = timing.next_firing(off_hours(spec, now), "UTC", now)
        assert firing - now > timedelta(hours=11), (more, now, firing)


def test_a_cron_keeps_its_own_times() -> None:
    spec = ScheduleSpec.model_validate(
        {
            "name": "Brief",
            "report": {"id": "campaign_summary"},
            "recipients": ["a@x.example"],
            "frequency": "custom",
            "cron": "*/5 * * * *",
            "window": {"kind": "previous_day"},
        }
    )
    assert off_hours(spec) == spec
