"""Local wall times as UTC instants: the one rule every service converts them by.

The scheduler fires at local wall times and cuts data windows at local
midnights with `to_utc`; the renderer finds the period before a window with
it too, so both agree on where a local day begins even where a
daylight-saving gap skips midnight. Pure, no I/O.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def wall_time(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall time of an aware instant."""
    return instant.astimezone(tz).replace(tzinfo=None)


def to_utc(naive: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time.

    A wall time skipped by a spring-forward gap is the first instant after
    the gap; one that occurs twice is its first occurrence.
    """
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if wall_time(first, tz) == naive:
        return first  # exists; if it occurs twice, fold=0 is the first occurrence
    # In a gap: the first instant whose wall time is not before `naive`.
    low, high = sorted((first, naive.replace(tzinfo=tz, fold=1).astimezone(UTC)))
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if wall_time(middle, tz) >= naive:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """Where a local day begins, in UTC."""
    return to_utc(datetime.combine(day, time()), tz)
