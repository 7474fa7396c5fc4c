"""Which local days a report window touches, and whether it covers each of them whole.

Calls are stored and rolled up by local day (in the data's time zone), and by
local hour within it. A day the window covers whole is answered from its
roll-up; a day it cuts at whole hours (a window in another zone) from its
hourly roll-up; any other cut (some minutes, or a day of a clock change) is
grouped from that day's raw calls within the window's bounds, so the result
is the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class DaySlice:
    day: date
    #: The part of the day inside the window, in UTC, half-open.
    start: datetime
    end: datetime
    whole: bool


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """A local day as UTC instants: its length is 23, 24 or 25 hours."""
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return start, end


def slices(start: datetime, end: datetime, zone: ZoneInfo) -> list[DaySlice]:
    if end <= start:
        return []
    day = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    out = []
    while day <= last:
        day_start, day_end = day_bounds(day, zone)
        lo, hi = max(start, day_start).astimezone(UTC), min(end, day_end).astimezone(UTC)
        out.append(DaySlice(day, lo, hi, whole=(lo, hi) == (day_start, day_end)))
        day += timedelta(days=1)
    return out


def hours_of(part: DaySlice, zone: ZoneInfo) -> tuple[int, int] | None:
    """The local hours [first, end) a cut day's slice covers, when it is cut at whole hours
    of a 24-hour day: its calls' `hour` then tells exactly which are inside. None for any
    other cut (some minutes, or a day of a clock change, whose hours are not its own)."""
    day_start, day_end = day_bounds(part.day, zone)
    if day_end - day_start != timedelta(hours=24):
        return None
    bounds = (part.start.astimezone(zone), part.end.astimezone(zone))
    if any(b.minute or b.second or b.microsecond for b in bounds):
        return None
    return bounds[0].hour, 24 if part.end == day_end else bounds[1].hour
