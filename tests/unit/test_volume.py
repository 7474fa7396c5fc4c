"""The email forecast: firings times recipients, and the busiest rolling minute, hour and day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from herald.services.scheduler import volume
from herald.services.scheduler.timing import next_firing
from herald.services.scheduler.volume import Peak, Span
from herald.shared.contract.schedule_spec import ScheduleSpec

#: A Monday.
START = datetime(2026, 12, 7, tzinfo=UTC)


def spec(recipients: int = 1, **fields: Any) -> ScheduleSpec:
    base: dict[str, Any] = {
        "name": "s",
        "report": {"id": "campaign_summary"},
        "frequency": "daily",
        "recipients": [f"r{n}@example.com" for n in range(recipients)],
    }
    return ScheduleSpec.model_validate(base | fields)


def test_a_week_of_daily_weekly_and_cron_schedules_by_hand() -> None:
    schedules = [
        spec(3, time_of_day="08:00"),  # 7 firings x 3
        spec(2, time_of_day="08:00", timezone="Europe/Paris"),  # 07:00 UTC: 7 x 2
        spec(5, frequency="weekly", weekday=0, time_of_day="08:00"),  # Monday 08:00 only
        spec(1, frequency="custom", cron="*/15 8 * * 1", window={"kind": "previous_day"}),
        spec(50, time_of_day="09:00", enabled=False),
    ]
    forecast = volume.forecast(schedules, "UTC", START)
    assert forecast.total == 21 + 14 + 5 + 4
    assert forecast.peak(Span.MINUTE) == Peak(START.replace(hour=8), 3 + 5 + 1)
    # The four quarter hours of 08:00 on Monday; a day from 07:00 adds the Paris schedule.
    assert forecast.peak(Span.HOUR) == Peak(START.replace(hour=8), 9 + 3)
    assert forecast.peak(Span.DAY) == Peak(START.replace(hour=7), 14)
    assert forecast.busiest_minutes(2) == [
        Peak(START.replace(hour=8), 9),
        Peak(START + timedelta(days=1, hours=8), 3),
    ]


def test_the_span_includes_its_start_and_excludes_its_end() -> None:
    at_start = spec(1, time_of_day="00:00")
    forecast = volume.forecast([at_start], "UTC", START, horizon=timedelta(days=2))
    assert sorted(forecast.by_minute) == [START, START + timedelta(days=1)]


def test_nothing_due_has_no_peak() -> None:
    forecast = volume.forecast([spec(enabled=False)], "UTC", START)
    assert (forecast.total, forecast.peak(Span.DAY), forecast.busiest_minutes(3)) == (0, None, [])


def test_the_minutes_a_limited_mailer_takes() -> None:
    assert [volume.minutes_to_send(n, 100) for n in (1, 100, 101, 1000)] == [1, 1, 2, 10]


ZONES = st.sampled_from(["UTC", "Europe/London", "America/New_York", "America/Nuuk"])
TIMES = st.integers(0, 23 * 60 + 59).map(lambda m: f"{m // 60:02d}:{m % 60:02d}")


@st.composite
def schedules(draw: st.DrawFn) -> ScheduleSpec:
    frequency = draw(st.sampled_from(["daily", "weekly", "monthly"]))
    return spec(
        draw(st.integers(1, 4)),
        frequency=frequency,
        weekday=draw(st.integers(0, 6)) if frequency == "weekly" else None,
        time_of_day=draw(TIMES),
        timezone=draw(ZONES),
        enabled=draw(st.booleans()),
    )


def _brute_force(specs: list[ScheduleSpec], start: datetime) -> list[int]:
    """Emails due in each minute of the week, asking of every minute whether each schedule
    fires in it."""
    minutes = [start + timedelta(minutes=n) for n in range(7 * 24 * 60)]
    return [
        sum(
            len(s.recipients)
            for s in specs
            if s.enabled
            and next_firing(s, "UTC", minute - timedelta(microseconds=1))
            < minute + timedelta(minutes=1)
        )
        for minute in minutes
    ]


@settings(max_examples=12, deadline=None)
@given(
    specs=st.lists(schedules(), min_size=1, max_size=3),
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ).map(lambda at: at.replace(second=0, microsecond=0)),
)
def test_the_forecast_agrees_with_a_minute_by_minute_count(
    specs: list[ScheduleSpec], start: datetime
) -> None:
    forecast = volume.forecast(specs, "UTC", start)
    due = _brute_force(specs, start)
    assert forecast.total == sum(due)
    assert dict(forecast.by_minute) == {
        start + timedelta(minutes=i): n for i, n in enumerate(due) if n
    }
    for span in Span:
        width = int(span.length / timedelta(minutes=1))
        busiest = max(sum(due[i : i + width]) for i in range(len(due)))
        peak = forecast.peak(span)
        assert (peak.emails if peak else 0) == busiest, span
