"""When a schedule fires and which data window each firing reports on.

Pure functions, no I/O. Everything is computed on the schedule's local wall
clock and converted to UTC with `to_utc`, which settles the two
daylight-saving cases once: a local time skipped by a spring-forward gap
fires at the first valid instant after the gap, and a local time that occurs
twice fires at its first occurrence only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from herald.shared.contract.messages import DataWindow
from herald.shared.contract.schedule_spec import DataWindowSpec, Frequency, ScheduleSpec, WindowKind

#: No schedule fires less often than monthly or a yearly cron; a year and a day
#: of candidates is enough to find the next firing of any valid schedule.
_HORIZON_DAYS = 367


def zone_of(spec: ScheduleSpec, default_zone: str) -> ZoneInfo:
    return ZoneInfo(spec.timezone or default_zone)


def _local(naive: datetime, tz: ZoneInfo, fold: int) -> datetime:
    return naive.replace(tzinfo=tz, fold=fold)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def to_utc(naive: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time, resolving DST gaps and folds."""
    first = _local(naive, tz, 0).astimezone(UTC)
    if _wall(first, tz) == naive:
        return first  # exists; if it occurs twice, fold=0 is the first occurrence
    # In a gap: the first instant whose wall time is not before `naive`.
    low, high = sorted((first, _local(naive, tz, 1).astimezone(UTC)))
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if _wall(middle, tz) >= naive:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return to_utc(datetime.combine(day, time()), tz)


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
    start = _wall(after, tz)
    times = croniter(spec.cron, start)
    while True:
        naive = times.get_next(datetime)
        if naive - start > timedelta(days=_HORIZON_DAYS + 1):
            return
        yield to_utc(naive, tz)


def _fixed_firings(spec: ScheduleSpec, tz: ZoneInfo, after: datetime) -> Iterator[datetime]:
    start = _wall(after, tz).date() - timedelta(days=1)
    for day in _candidate_days(spec, start):
        yield to_utc(datetime.combine(day, spec.time_of_day), tz)


def next_firing(spec: ScheduleSpec, default_zone: str, after: datetime) -> datetime:
    """The first firing strictly after `after` (UTC)."""
    tz = zone_of(spec, default_zone)
    firings = (
        _cron_firings(spec, tz, after)
        if spec.frequency is Frequency.CUSTOM
        else _fixed_firings(spec, tz, after)
    )
    for instant in firings:
        if instant > after:
            return instant
    raise ValueError(f"schedule {spec.name!r} has no firing within a year after {after}")


def window_bounds(
    kind: WindowKind, n: int | None, fired: datetime, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    today = _wall(fired, tz).date()
    if kind is WindowKind.LAST_HOURS:
        assert n is not None
        return fired - timedelta(hours=n), fired
    if kind is WindowKind.LAST_DAYS:
        assert n is not None
        return _local_midnight(today - timedelta(days=n), tz), _local_midnight(today, tz)
    if kind is WindowKind.PREVIOUS_DAY:
        return _local_midnight(today - timedelta(days=1), tz), _local_midnight(today, tz)
    if kind is WindowKind.PREVIOUS_WEEK:
        monday = today - timedelta(days=today.weekday())
        return _local_midnight(monday - timedelta(days=7), tz), _local_midnight(monday, tz)
    if kind is WindowKind.PREVIOUS_MONTH:
        return (
            _local_midnight(_previous_month_start(today), tz),
            _local_midnight(_first_of_month(today), tz),
        )
    # MONTH_TO_DATE
    return _local_midnight(_first_of_month(today), tz), fired


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
    start, end = window_bounds(window.kind, window.n, fired, tz)
    return DataWindow(start=start, end=end, timezone=tz.key)
