"""Local days of a report window: bounds in UTC, whole and cut days, 23- and 25-hour days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from herald.services.renderer.calldata.days import DaySlice, day_bounds, hours_of, slices

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = timedelta(hours=1)


def utc(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=UTC)


def berlin(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=BERLIN)


def test_a_summer_day_in_berlin_is_24_hours_from_22_00_utc() -> None:
    start, end = day_bounds(date(2025, 6, 10), BERLIN)
    assert (start, end) == (utc(6, 9, 22), utc(6, 10, 22))
    assert start.tzinfo is UTC
    assert end - start == 24 * HOUR


def test_a_winter_day_in_berlin_starts_at_23_00_utc() -> None:
    assert day_bounds(date(2025, 1, 15), BERLIN) == (utc(1, 14, 23), utc(1, 15, 23))


def test_the_spring_forward_day_has_23_hours() -> None:
    # 30 March 2025: clocks go from 02:00 CET to 03:00 CEST.
    start, end = day_bounds(date(2025, 3, 30), BERLIN)
    assert (start, end) == (utc(3, 29, 23), utc(3, 30, 22))
    assert end - start == 23 * HOUR


def test_the_fall_back_day_has_25_hours() -> None:
    # 26 October 2025: clocks go from 03:00 CEST back to 02:00 CET.
    start, end = day_bounds(date(2025, 10, 26), BERLIN)
    assert (start, end) == (utc(10, 25, 22), utc(10, 26, 23))
    assert end - start == 25 * HOUR


def test_whole_local_days() -> None:
    parts = slices(berlin(6, 10), berlin(6, 13), BERLIN)
    assert parts == [
        DaySlice(date(2025, 6, 10), utc(6, 9, 22), utc(6, 10, 22), whole=True),
        DaySlice(date(2025, 6, 11), utc(6, 10, 22), utc(6, 11, 22), whole=True),
        DaySlice(date(2025, 6, 12), utc(6, 11, 22), utc(6, 12, 22), whole=True),
    ]


def test_whole_days_across_both_dst_changes_keep_their_length() -> None:
    spring = slices(berlin(3, 29), berlin(4, 1), BERLIN)
    assert [p.day.day for p in spring] == [29, 30, 31]
    assert all(p.whole for p in spring)
    assert [p.end.astimezone(UTC) - p.start.astimezone(UTC) for p in spring] == [
        24 * HOUR,
        23 * HOUR,
        24 * HOUR,
    ]

    autumn = slices(berlin(10, 26), berlin(10, 27), BERLIN)
    assert autumn == [DaySlice(date(2025, 10, 26), utc(10, 25, 22), utc(10, 26, 23), whole=True)]
    # The same 25 hours given in UTC are the same whole day.
    assert slices(utc(10, 25, 22), utc(10, 26, 23), BERLIN) == autumn


def test_a_window_from_noon_to_noon_cuts_both_days() -> None:
    parts = slices(berlin(6, 11, 12), berlin(6, 12, 12), BERLIN)
    assert parts == [
        DaySlice(date(2025, 6, 11), utc(6, 11, 10), utc(6, 11, 22), whole=False),
        DaySlice(date(2025, 6, 12), utc(6, 11, 22), utc(6, 12, 10), whole=False),
    ]


def test_a_utc_day_cuts_two_berlin_days() -> None:
    parts = slices(utc(6, 10), utc(6, 11), BERLIN)
    assert parts == [
        DaySlice(date(2025, 6, 10), utc(6, 10), utc(6, 10, 22), whole=False),
        DaySlice(date(2025, 6, 11), utc(6, 10, 22), utc(6, 11), whole=False),
    ]


def test_a_cut_spring_forward_day_loses_its_missing_hour() -> None:
    # Midnight to noon local on 30 March is 11 hours: 02:00-03:00 never happened.
    (part,) = slices(berlin(3, 30), berlin(3, 30, 12), BERLIN)
    assert part == DaySlice(date(2025, 3, 30), utc(3, 29, 23), utc(3, 30, 10), whole=False)
    # (Bounds taken from the window keep its zone: subtract them as instants.)
    assert part.end.astimezone(UTC) - part.start.astimezone(UTC) == 11 * HOUR


def test_a_cut_fall_back_day() -> None:
    # Noon local to midnight on 26 October: 12 hours, all after the change.
    (part,) = slices(berlin(10, 26, 12), berlin(10, 27), BERLIN)
    assert part == DaySlice(date(2025, 10, 26), utc(10, 26, 11), utc(10, 26, 23), whole=False)


def test_the_window_end_is_exclusive_and_an_empty_window_has_no_days() -> None:
    # Ending at local midnight does not touch the next day.
    assert [p.day for p in slices(berlin(6, 10), berlin(6, 11), BERLIN)] == [date(2025, 6, 10)]
    # One minute inside a day.
    (part,) = slices(utc(6, 10, 8), utc(6, 10, 8, 1), BERLIN)
    assert part == DaySlice(date(2025, 6, 10), utc(6, 10, 8), utc(6, 10, 8, 1), whole=False)
    assert slices(berlin(6, 10), berlin(6, 10), BERLIN) == []
    assert slices(berlin(6, 11), berlin(6, 10), BERLIN) == []


def test_a_day_cut_at_whole_hours_names_them() -> None:
    """A New York week over Berlin data: its first day from 06:00, its last until 06:00."""
    first, *_, last = slices(berlin(6, 9, 6), berlin(6, 16, 6), BERLIN)
    assert hours_of(first, BERLIN) == (6, 24)
    assert hours_of(last, BERLIN) == (0, 6)
    (noon,) = slices(berlin(6, 10, 12), berlin(6, 10, 13), BERLIN)
    assert hours_of(noon, BERLIN) == (12, 13)


def test_other_cuts_have_no_hours_to_read() -> None:
    (minutes,) = slices(berlin(6, 10, 12) + timedelta(minutes=30), berlin(6, 10, 13), BERLIN)
    assert hours_of(minutes, BERLIN) is None
    # 30 March 2025 has 23 hours: its calls' hours are not its hours since midnight.
    (spring,) = slices(berlin(3, 30, 5), berlin(3, 30, 9), BERLIN)
    assert hours_of(spring, BERLIN) is None
