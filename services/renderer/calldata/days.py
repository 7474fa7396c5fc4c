"""Which local days a report window touches, and whether it covers each of them whole.

Calls are stored and rolled up by local day (in the data's time zone). A day
the window covers whole is answered from its roll-up; a day it cuts (a window
in another zone, or a custom window) is grouped from that day's raw calls
within the window's bounds, so the result is the same either way.
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
