from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from herald.services.renderer.reports.periods import describe, previous_period
from herald.shared.contract.messages import DataWindow
from herald.shared.contract.wall_clock import to_utc

BERLIN = ZoneInfo("Europe/Berlin")
NY = ZoneInfo("America/New_York")
#: Midnight does not exist here on 2026-09-06: clocks jump 00:00 -> 01:00.
SANTIAGO = ZoneInfo("America/Santiago")


def at(tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0) -> datetime:
    """A local wall time as UTC, as the scheduler cuts window bounds."""
    return to_utc(datetime(year, month, day, hour), tz)


Fields = tuple[int, int, int] | tuple[int, int, int, int]


def window(tz: ZoneInfo, start: Fields, end: Fields) -> DataWindow:
    return DataWindow(start=at(tz, *start), end=at(tz, *end), timezone=tz.key)


def test_november_compares_with_october_all_31_days() -> None:
    november = window(BERLIN, (2026, 11, 1), (2026, 12, 1))
    start, end = previous_period(november, BERLIN)
    # October ends on CET, begins on CEST: 31 days and an hour.
    assert (start, end) == (at(BERLIN, 2026, 10, 1), at(BERLIN, 2026, 11, 1))
    assert end - start == timedelta(days=31, hours=1)
    assert describe(november, BERLIN) == "Previous period: October 2026"


@pytest.mark.parametrize(("year", "days"), [(2026, 28), (2028, 29)])
def test_march_compares_with_february(year: int, days: int) -> None:
    march = window(BERLIN, (year, 3, 1), (year, 4, 1))
    start, end = previous_period(march, BERLIN)
    assert (start, end) == (at(BERLIN, year, 2, 1), at(BERLIN, year, 3, 1))
    assert end - start == timedelta(days=days)
    assert describe(march, BERLIN) == f"Previous period: February {year}"


def test_january_compares_with_december_of_the_year_before() -> None:
    january = window(NY, (2027, 1, 1), (2027, 2, 1))
    assert previous_period(january, NY) == (at(NY, 2026, 12, 1), at(NY, 2027, 1, 1))
    assert describe(january, NY) == "Previous period: December 2026"


def test_two_months_compare_with_the_two_before() -> None:
    two = window(BERLIN, (2026, 1, 1), (2026, 3, 1))
    assert previous_period(two, BERLIN) == (at(BERLIN, 2025, 11, 1), at(BERLIN, 2026, 1, 1))
    assert describe(two, BERLIN) == "Previous period: November\u2013December 2025"
    winter = window(BERLIN, (2026, 2, 1), (2026, 4, 1))
    assert describe(winter, BERLIN) == "Previous period: December 2025 \u2013 January 2026"
    spring = window(BERLIN, (2026, 5, 1), (2026, 7, 1))
    assert describe(spring, BERLIN) == "Previous period: March\u2013April 2026"


def test_a_week_compares_with_the_seven_days_before() -> None:
    week = window(BERLIN, (2026, 11, 23), (2026, 11, 30))
    assert previous_period(week, BERLIN) == (at(BERLIN, 2026, 11, 16), at(BERLIN, 2026, 11, 23))
    assert describe(week, BERLIN) == "Previous period: 16\u201322 Nov 2026 (the week before)"


def test_a_week_across_a_month_end_and_a_clock_change() -> None:
    week = window(BERLIN, (2026, 11, 2), (2026, 11, 9))
    start, end = previous_period(week, BERLIN)
    # 26 Oct - 1 Nov is all CET, but 25 Oct was 25 hours: start at its own midnight.
    assert (start, end) == (at(BERLIN, 2026, 10, 26), at(BERLIN, 2026, 11, 2))
    assert describe(week, BERLIN) == "Previous period: 26 Oct \u2013 1 Nov 2026 (the week before)"


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        (9, 23),  # 2026-03-08 springs forward
        (2, 25),  # 2026-11-01 falls back
    ],
)
def test_a_day_compares_with_the_day_before_across_a_clock_change(day: int, hours: int) -> None:
    month = 3 if hours == 23 else 11
    one = window(NY, (2026, month, day), (2026, month, day + 1))
    start, end = previous_period(one, NY)
    assert (start, end) == (at(NY, 2026, month, day - 1), at(NY, 2026, month, day))
    assert end - start == timedelta(hours=hours)


def test_a_day_is_described_with_its_weekday() -> None:
    tuesday = window(BERLIN, (2026, 11, 25), (2026, 11, 26))
    assert describe(tuesday, BERLIN) == "Previous period: Tue 24 Nov 2026 (the day before)"


def test_a_day_starting_at_a_skipped_midnight_is_still_a_whole_day() -> None:
    sunday = window(SANTIAGO, (2026, 9, 6), (2026, 9, 7))
    assert sunday.start == datetime(2026, 9, 6, 4, tzinfo=UTC)  # 01:00 -03, the gap's end
    start, end = previous_period(sunday, SANTIAGO)
    assert (start, end) == (at(SANTIAGO, 2026, 9, 5), sunday.start)
    assert end - start == timedelta(hours=24)
    monday = window(SANTIAGO, (2026, 9, 7), (2026, 9, 8))
    assert previous_period(monday, SANTIAGO) == (sunday.start, sunday.end)  # 23 hours


def test_the_same_weekday_a_week_before() -> None:
    wednesday = window(NY, (2026, 3, 11), (2026, 3, 12))
    start, end = previous_period(wednesday, NY, same_weekday=True)
    assert (start, end) == (at(NY, 2026, 3, 4), at(NY, 2026, 3, 5))
    assert describe(wednesday, NY, same_weekday=True) == (
        "Previous period: Wed 4 Mar 2026 (the same weekday a week before)"
    )


def test_the_same_weekdays_whole_weeks_before() -> None:
    days = window(BERLIN, (2026, 11, 24), (2026, 11, 27))  # Tue - Thu
    start, end = previous_period(days, BERLIN, same_weekday=True)
    assert (start, end) == (at(BERLIN, 2026, 11, 17), at(BERLIN, 2026, 11, 20))
    week = window(BERLIN, (2026, 11, 23), (2026, 11, 30))
    same = previous_period(week, BERLIN, same_weekday=True)
    assert same == previous_period(week, BERLIN)


def test_some_days_compare_with_as_many_days_before() -> None:
    days = window(BERLIN, (2025, 6, 10), (2025, 6, 13))
    assert previous_period(days, BERLIN) == (at(BERLIN, 2025, 6, 7), at(BERLIN, 2025, 6, 10))
    assert describe(days, BERLIN) == "Previous period: 7\u20139 Jun 2025 (the 3 days before)"


def test_some_hours_compare_with_as_many_hours_before() -> None:
    hours = window(BERLIN, (2026, 11, 24, 14), (2026, 11, 24, 20))
    assert previous_period(hours, BERLIN) == (
        at(BERLIN, 2026, 11, 24, 8),
        at(BERLIN, 2026, 11, 24, 14),
    )
    assert describe(hours, BERLIN) == (
        "Previous period: Tue 24 Nov 2026 08:00\u201314:00 (the 6 hours before)"
    )


def test_a_month_to_date_compares_with_as_long_before() -> None:
    to_date = window(BERLIN, (2026, 11, 1), (2026, 11, 3, 12))
    start, end = previous_period(to_date, BERLIN)
    assert (start, end) == (at(BERLIN, 2026, 10, 29, 12), at(BERLIN, 2026, 11, 1))
    assert describe(to_date, BERLIN) == (
        "Previous period: Thu 29 Oct 2026 12:00 \u2013 Sun 1 Nov 2026 00:00"
        " (the 2 days 12 hours before)"
    )


def test_the_calendar_is_the_window_s_own_zone() -> None:
    # A UTC month read against data kept in Berlin is still a calendar month.
    november = DataWindow(
        start=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 12, 1, tzinfo=UTC),
        timezone="UTC",
    )
    assert previous_period(november, BERLIN) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
