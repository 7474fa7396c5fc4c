"""When a schedule fires and which data window each firing reports on.

Pure functions, no I/O. Everything is computed on the schedule's local wall
clock and converted to UTC with `to_utc` (`shared/contract/wall_clock.py`),
which settles the two daylight-saving cases once: a local time skipped by a
spring-forward gap fires at the first valid instant after the gap, and a local
time that occurs twice fires at its first occurrence only. A firing's data window follows the
wall time it was scheduled for (`nominal_time`), not the instant it fired.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from herald.shared.contract.messages import DataWindow
from herald.shared.contract.schedule_spec import DataWindowSpec, Frequency, ScheduleSpec, WindowKind
from herald.shared.contract.wall_clock import local_midnight, to_utc, wall_time

#: No schedule fires less often than monthly or a yearly cron; a leap year and a day
#: of candidates is enough to find the next firing of any valid schedule, and
#: `firings` yields a whole year of them (its candidates start the day before).
_HORIZON_DAYS = 368


def zone_of(spec: ScheduleSpec, default_zone: str) -> ZoneInfo:
    return ZoneInfo(spec.timezone or default_zone)


def _first_of_month(day: date) -> date:
    return day.replace(day=1)


def _previous_month_start(day: date) -> date:
    return _first_of_month(_first_of_month(day) - timedelta(days=1))


def _candidate_days(spec: ScheduleSpec, start: date) -> Iterator[date]:
    for offset in range(_HORIZON_DAYS):
        day = start + timedelta(days=offset)
        if (
            spec.frequency is Frequency.DAILY
            or (spec.frequency is Frequency.WEEKLY and day.weekday() == spec.weekday)
            or (spec.frequency is Frequency.MONTHLY and day.day == 1)
        ):
            yield day


def _cron_firings(spec: ScheduleSpec, tz: ZoneInfo, after: datetime) -> Iterator[datetime]:
    assert spec.cron is not None
    # `to_utc` never decreases as wall time grows, so no wall time before
    # `after`'s own can land after it: starting there misses nothing.
    start = wall_time(after, tz)
    times = croniter(spec.cron, start)
    while True:
        naive = times.get_next(datetime)
        if naive - start > timedelta(days=_HORIZON_DAYS + 1):
            return
        yield to_utc(naive, tz)


def _fixed_firings(spec: ScheduleSpec, tz: ZoneInfo, after: datetime) -> Iterator[datetime]:
    start = wall_time(after, tz).date() - timedelta(days=1)
    for day in _candidate_days(spec, start):
        yield to_utc(datetime.combine(day, spec.time_of_day), tz)


def firings(spec: ScheduleSpec, default_zone: str, after: datetime) -> Iterator[datetime]:
    """The firings strictly after `after` (UTC), in order, for about a year.

    Wall times a gap skips all fire at its end: that instant comes once.
    """
    tz = zone_of(spec, default_zone)
    instants = (
        _cron_firings(spec, tz, after)
        if spec.frequency is Frequency.CUSTOM
        else _fixed_firings(spec, tz, after)
    )
    last = after
    for instant in instants:
        if instant > last:
            yield instant
            last = instant


def next_firing(spec: ScheduleSpec, default_zone: str, after: datetime) -> datetime:
    """The first firing strictly after `after` (UTC)."""
    for instant in firings(spec, default_zone, after):
        return instant
    raise ValueError(f"schedule {spec.name!r} has no firing within a year after {after}")


def _scheduled_from(spec: ScheduleSpec, start: datetime) -> Iterator[datetime]:
    """The schedule's wall times not before `start`, in order."""
    if spec.frequency is Frequency.CUSTOM:
        assert spec.cron is not None
        yield from croniter(spec.cron, start - timedelta(seconds=1)).all_next(datetime)
        return
    for day in _candidate_days(spec, start.date()):
        naive = datetime.combine(day, spec.time_of_day)
        if naive >= start:
            yield naive


def nominal_time(spec: ScheduleSpec, tz: ZoneInfo, fired: datetime) -> datetime:
    """The scheduled wall time a firing at `fired` stands for.

    Every wall time skipped by a spring-forward gap fires at the gap's end, so
    where a gap ends at midnight (23:00 -> 00:00) a 23:30 run fires on the next
    day; its window must still follow 23:30 of its own day. Several cron times
    in one gap fire once, for the earliest. An instant no schedule time maps to
    (a manual run) stands for its own wall time.
    """
    wall = wall_time(fired, tz)
    gap_start = wall_time(fired - timedelta(seconds=1), tz) + timedelta(seconds=1)
    if gap_start >= wall:
        return wall  # no gap ends at `fired`: only its own wall time maps to it
    for naive in _scheduled_from(spec, gap_start):
        if naive > wall:
            break
        if to_utc(naive, tz) == fired:
            return naive
    return wall


def window_bounds(
    kind: WindowKind, n: int | None, today: date, fired: datetime, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """Day-based windows end by `today`, the nominal local date; hours and to-date at `fired`."""
    if kind is WindowKind.LAST_HOURS:
        assert n is not None
        return fired - timedelta(hours=n), fired
    if kind is WindowKind.LAST_DAYS:
        assert n is not None
        return local_midnight(today - timedelta(days=n), tz), local_midnight(today, tz)
    if kind is WindowKind.PREVIOUS_DAY:
        return local_midnight(today - timedelta(days=1), tz), local_midnight(today, tz)
    if kind is WindowKind.PREVIOUS_WEEK:
        monday = today - timedelta(days=today.weekday())
        return local_midnight(monday - timedelta(days=7), tz), local_midnight(monday, tz)
    if kind is WindowKind.PREVIOUS_MONTH:
        return (
            local_midnight(_previous_month_start(today), tz),
            local_midnight(_first_of_month(today), tz),
        )
    # MONTH_TO_DATE
    return local_midnight(_first_of_month(today), tz), fired


_FIXED_WINDOWS = {
    Frequency.DAILY: DataWindowSpec(kind=WindowKind.PREVIOUS_DAY),
    Frequency.WEEKLY: DataWindowSpec(kind=WindowKind.LAST_DAYS, n=7),
    Frequency.MONTHLY: DataWindowSpec(kind=WindowKind.PREVIOUS_MONTH),
}


def data_window(spec: ScheduleSpec, default_zone: str, fired: datetime) -> DataWindow:
    """The half-open data period a firing at `fired` reports on, in the schedule's zone."""
    tz = zone_of(spec, default_zone)
    window = spec.window if spec.frequency is Frequency.CUSTOM else _FIXED_WINDOWS[spec.frequency]
    assert window is not None
    nominal = nominal_time(spec, tz, fired)
    start, end = window_bounds(window.kind, window.n, nominal.date(), fired, tz)
    return DataWindow(start=start, end=end, timezone=tz.key)
