"""How many emails a tenant's schedules will send over the coming days, and their busiest spans.

An SMTP provider allows so many emails a minute, an hour or a day; the top of
the hour is where a tenant's schedules meet. From the enabled schedules'
firings (`timing.firings`, so daylight saving and crons count as they
fire) times their recipients (one email each), this finds the busiest minute,
hour and day ahead: rolling spans, as providers count, not clock hours.
Pure, no I/O.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from herald.services.scheduler.timing import firings
from herald.shared.contract.schedule_spec import ScheduleSpec

HORIZON = timedelta(days=7)


class Span(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"

    @property
    def length(self) -> timedelta:
        return {
            Span.MINUTE: timedelta(minutes=1),
            Span.HOUR: timedelta(hours=1),
            Span.DAY: timedelta(days=1),
        }[self]


@dataclass(frozen=True, slots=True)
class Peak:
    """The busiest span: it starts at `start` (UTC, a firing's minute) and sends `emails`."""

    start: datetime
    emails: int


@dataclass(frozen=True, slots=True)
class Forecast:
    start: datetime
    end: datetime
    #: Emails due in each UTC minute that has any, by the minute's start.
    by_minute: Mapping[datetime, int]

    @property
    def total(self) -> int:
        return sum(self.by_minute.values())

    def peak(self, span: Span) -> Peak | None:
        """The span with the most emails; of equals, the earliest. None when nothing is due.

        A busiest span can be taken to start at a firing: sliding its start later,
        up to the next firing, loses nothing it holds and may gain at its end.
        """
        minutes = sorted(self.by_minute)
        if not minutes:
            return None
        running = [0]
        for minute in minutes:
            running.append(running[-1] + self.by_minute[minute])
        best: Peak | None = None
        for first, start in enumerate(minutes):
            past = bisect.bisect_left(minutes, start + span.length)
            emails = running[past] - running[first]
            if best is None or emails > best.emails:
                best = Peak(start, emails)
        return best

    def busiest_minutes(self, count: int) -> list[Peak]:
        """The `count` minutes with the most emails, most first, earlier first among equals."""
        ranked = sorted(self.by_minute.items(), key=lambda item: (-item[1], item[0]))
        return [Peak(minute, emails) for minute, emails in ranked[:count]]


def forecast(
    specs: Iterable[ScheduleSpec],
    default_zone: str,
    start: datetime,
    horizon: timedelta = HORIZON,
) -> Forecast:
    """Every enabled schedule's firings from `start` (included) to `start + horizon`
    (excluded), each sending one email per recipient."""
    end = start + horizon
    due: Counter[datetime] = Counter()
    for spec in specs:
        if not spec.enabled:
            continue
        # A firing at `start` itself counts.
        ahead = firings(spec, default_zone, start - timedelta(microseconds=1))
        for at in itertools.takewhile(lambda instant: instant < end, ahead):
            due[at.replace(second=0, microsecond=0)] += len(spec.recipients)
    return Forecast(start, end, dict(due))


def minutes_to_send(emails: int, per_minute: int) -> int:
    """How long a mailer held to `per_minute` takes over `emails` due at once, in whole minutes."""
    return -(-emails // per_minute)


@dataclass(frozen=True, slots=True)
class Excess:
    """A span whose forecast emails exceed what the tenant's provider allows in it."""

    span: Span
    peak: Peak
    allowed: int

    def message(self) -> str:
        return (
            f"the tenant's enabled schedules would send {self.peak.emails:,} emails in the "
            f"{self.span.value} from {self.peak.start:%Y-%m-%d %H:%M} UTC; its provider "
            f"allows {self.allowed:,} a {self.span.value}"
        )


def excesses(ahead: Forecast, per_minute: int | None, per_day: int | None) -> list[Excess]:
    """The busiest minute and day of the forecast, where they exceed the allowed volume."""
    found = []
    for span, allowed in ((Span.MINUTE, per_minute), (Span.DAY, per_day)):
        peak = ahead.peak(span) if allowed is not None else None
        if peak is not None and allowed is not None and peak.emails > allowed:
            found.append(Excess(span, peak, allowed))
    return found
