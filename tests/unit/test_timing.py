from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from herald.services.scheduler.timing import data_window, next_firing, to_utc
from herald.shared.contract.schedule_spec import ScheduleSpec

NY = ZoneInfo("America/New_York")


def _spec(**fields: Any) -> ScheduleSpec:
    base: dict[str, Any] = {
        "name": "s",
        "report": {"id": "campaign_summary"},
        "frequency": "daily",
        "recipients": ["a@example.com"],
    }
    return ScheduleSpec.model_validate(base | fields)


def test_a_skipped_local_time_fires_at_the_end_of_the_gap() -> None:
    # 2026-03-08 02:30 does not exist in New York: clocks jump 02:00 -> 03:00.
    assert to_utc(datetime(2026, 3, 8, 2, 30), NY) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    spec = _spec(time_of_day="02:30", timezone="America/New_York")
    fired = next_firing(spec, "UTC", datetime(2026, 3, 7, 12, tzinfo=UTC))
    assert fired.astimezone(NY).replace(tzinfo=None) == datetime(2026, 3, 8, 3, 0)


def test_a_repeated_local_time_fires_once() -> None:
    spec = _spec(time_of_day="01:30", timezone="America/New_York")
    first = next_firing(spec, "UTC", datetime(2026, 10, 31, 12, tzinfo=UTC))
    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, the first one
    second = next_firing(spec, "UTC", first)
    assert second == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)  # next day, not 01:30 EST


def test_previous_day_windows_are_23_and_25_hours_across_dst() -> None:
    spec = _spec(timezone="America/New_York")
    spring = data_window(spec, "UTC", datetime(2026, 3, 9, 12, tzinfo=UTC))
    assert spring.end - spring.start == timedelta(hours=23)
    autumn = data_window(spec, "UTC", datetime(2026, 11, 2, 12, tzinfo=UTC))
    assert autumn.end - autumn.start == timedelta(hours=25)


def test_weekly_fires_on_its_weekday_with_the_past_seven_days() -> None:
    spec = _spec(frequency="weekly", weekday=0, time_of_day="08:00", timezone="Europe/Berlin")
    fired = next_firing(spec, "UTC", datetime(2026, 11, 27, 12, tzinfo=UTC))  # a Friday
    assert fired == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    window = data_window(spec, "UTC", fired)
    assert window.start == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
    assert window.end == datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    assert window.timezone == "Europe/Berlin"


def test_monthly_fires_on_the_first_with_the_previous_month() -> None:
    spec = _spec(frequency="monthly", time_of_day="06:00")
    fired = next_firing(spec, "UTC", datetime(2026, 2, 15, tzinfo=UTC))
    assert fired == datetime(2026, 3, 1, 6, tzinfo=UTC)
    window = data_window(spec, "UTC", fired)
    assert (window.start, window.end) == (
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )


def test_custom_cron_with_month_to_date_window_uses_the_default_zone() -> None:
    spec = _spec(frequency="custom", cron="0 */6 * * 1-5", window={"kind": "month_to_date"})
    fired = next_firing(spec, "Asia/Tokyo", datetime(2026, 11, 27, 0, 30, tzinfo=UTC))
    assert fired == datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo
    window = data_window(spec, "Asia/Tokyo", fired)
    assert window.start == datetime(2026, 10, 31, 15, 0, tzinfo=UTC)
    assert window.end == fired


ZONES = st.sampled_from(
    ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago"]
)
INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
FIXED = st.builds(
    lambda freq, weekday, at, zone: _spec(
        frequency=freq,
        weekday=weekday if freq == "weekly" else None,
        time_of_day=at,
        timezone=zone,
    ),
    st.sampled_from(["daily", "weekly", "monthly"]),
    st.integers(0, 6),
    st.times().map(lambda t: time(t.hour, t.minute)),
    ZONES,
)


@settings(max_examples=300, deadline=None)
@given(spec=FIXED, now=INSTANTS)
def test_firings_are_after_now_and_strictly_increasing(spec: ScheduleSpec, now: datetime) -> None:
    first = next_firing(spec, "UTC", now)
    second = next_firing(spec, "UTC", first)
    assert now < first < second


@settings(max_examples=300, deadline=None)
@given(spec=FIXED, now=INSTANTS)
def test_consecutive_windows_neither_overlap_nor_leave_gaps(
    spec: ScheduleSpec, now: datetime
) -> None:
    first = next_firing(spec, "UTC", now)
    second = next_firing(spec, "UTC", first)
    a, b = data_window(spec, "UTC", first), data_window(spec, "UTC", second)
    assert a.start < a.end <= first
    assert a.end == b.start


CRONS = st.sampled_from(["* * * * *", "*/7 1-3 * * *", "30 2 * * *", "0 0 1 * *", "15 1,2 * * 0"])


@settings(max_examples=300, deadline=None)
@given(cron=CRONS, zone=ZONES, now=INSTANTS)
def test_cron_firings_are_after_now_and_strictly_increasing(
    cron: str, zone: str, now: datetime
) -> None:
    spec = _spec(
        frequency="custom", cron=cron, window={"kind": "last_hours", "n": 1}, timezone=zone
    )
    first = next_firing(spec, "UTC", now)
    second = next_firing(spec, "UTC", first)
    assert now < first < second
    # Nothing fires in between: stepping minute by minute finds no earlier firing.
    probe = now
    while probe + timedelta(minutes=1) < first and probe < now + timedelta(hours=3):
        probe += timedelta(minutes=1)
        assert next_firing(spec, "UTC", probe - timedelta(seconds=1)) >= first
