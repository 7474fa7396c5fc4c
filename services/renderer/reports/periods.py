"""The period a report compares itself with: the one before it, in calendar terms.

"The same number of days before" is wrong for calendar periods: November
(30 days) must compare with October (31), March with February. So a window
of whole calendar months compares with as many months before; one of whole
local days with as many local days before (local midnights, so a day across
a daylight-saving change is 23 or 25 hours); any other window (some hours,
a month to date) with the same length of time before. The calendar is the
window's own zone (`DataWindow.timezone`), the one its bounds were cut in.
Pure, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from herald.shared.contract.messages import DataWindow
from herald.shared.contract.wall_clock import local_midnight, wall_time

#: An en dash, for ranges of dates and times (16-22 Nov 2026).
_DASH = "\u2013"


@dataclass(frozen=True, slots=True)
class _Calendar:
    """A window in its zone's calendar: `months` and `days` are 0 when it is not whole ones."""

    tz: ZoneInfo
    first: date
    end: date  # exclusive
    months: int
    days: int


def _months_between(first: date, end: date) -> int:
    return (end.year - first.year) * 12 + end.month - first.month


def _first_months_before(day: date, months: int) -> date:
    """The 1st of the month `months` before `day`'s."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _calendar(window: DataWindow) -> _Calendar:
    tz = ZoneInfo(window.timezone)
    first, end = wall_time(window.start, tz).date(), wall_time(window.end, tz).date()
    whole_days = (
        end > first
        and window.start == local_midnight(first, tz)
        and window.end == local_midnight(end, tz)
    )
    if not whole_days:
        return _Calendar(tz, first, end, 0, 0)
    months = _months_between(first, end) if first.day == end.day == 1 else 0
    return _Calendar(tz, first, end, months, (end - first).days)


def _days_back(days: int, same_weekday: bool) -> int:
    """How far back the compared days start: whole weeks when weekdays must match."""
    return -(-days // 7) * 7 if same_weekday else days


def previous_period(
    window: DataWindow, zone: ZoneInfo, *, same_weekday: bool = False
) -> tuple[datetime, datetime]:
    """The half-open UTC span [start, end) to compare `window` with.

    `same_weekday`: local days compare with the same weekdays whole weeks
    earlier (a Tuesday with last Tuesday). `zone`, the data's, plays no part
    (the window's own zone is its calendar); it is taken to fit `Span`.
    """
    shape = _calendar(window)
    start, end = window.start.astimezone(UTC), window.end.astimezone(UTC)
    if shape.months:
        return local_midnight(_first_months_before(shape.first, shape.months), shape.tz), start
    if shape.days:
        back = timedelta(days=_days_back(shape.days, same_weekday))
        return (
            local_midnight(shape.first - back, shape.tz),
            local_midnight(shape.end - back, shape.tz),
        )
    return start - (end - start), start


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def _days(first: date, last: date) -> str:
    """A run of days, as short as it reads clearly: 16-22 Nov 2026, 28 Oct - 3 Nov 2026."""
    if first == last:
        return _day(first)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}{_DASH}{last.day} {last:%b %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%b} {_DASH} {last.day} {last:%b %Y}"
    return f"{first.day} {first:%b %Y} {_DASH} {last.day} {last:%b %Y}"


def _months(first: date, last: date) -> str:
    if (first.year, first.month) == (last.year, last.month):
        return f"{first:%B %Y}"
    if first.year == last.year:
        return f"{first:%B}{_DASH}{last:%B %Y}"
    return f"{first:%B %Y} {_DASH} {last:%B %Y}"


def _instants(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """A span of local times: Tue 24 Nov 2026 08:00-14:00, or with both dates when they differ."""
    first, last = wall_time(start, tz), wall_time(end, tz)
    if first.date() == last.date():
        return f"{_day(first.date())} {first:%H:%M}{_DASH}{last:%H:%M}"
    return f"{_day(first.date())} {first:%H:%M} {_DASH} {_day(last.date())} {last:%H:%M}"


def _length(span: timedelta) -> str:
    """A length of time in words: 6 hours, 1 day 12 hours."""
    minutes = int(span.total_seconds()) // 60
    parts = (
        (minutes // 1440, "day"),
        (minutes // 60 % 24, "hour"),
        (minutes % 60, "minute"),
    )
    return " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n) or "0 minutes"


def describe(window: DataWindow, zone: ZoneInfo, *, same_weekday: bool = False) -> str:
    """The note that says which period the figures are compared with."""
    shape = _calendar(window)
    tz = shape.tz
    start, end = previous_period(window, zone, same_weekday=same_weekday)
    first, last = wall_time(start, tz).date(), wall_time(end, tz).date() - timedelta(days=1)
    if shape.months:
        return f"Previous period: {_months(first, last)}"
    if shape.days:
        weeks = _days_back(shape.days, same_weekday) // 7
        if same_weekday and weeks * 7 != shape.days:
            what = "weekday" if shape.days == 1 else "weekdays"
            ago = "a week" if weeks == 1 else f"{weeks} weeks"
            return f"Previous period: {_days(first, last)} (the same {what} {ago} before)"
        before = {1: "the day before", 7: "the week before"}.get(
            shape.days, f"the {shape.days} days before"
        )
        return f"Previous period: {_days(first, last)} ({before})"
    length = _length(window.end - window.start)
    return f"Previous period: {_instants(start, end, tz)} (the {length} before)"
