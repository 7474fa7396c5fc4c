"""The herd: N daily schedules due this very minute, written straight into the scheduler's store.

As `bench/scheduler_herd.py` does, schedules are imported the way
`CreateSchedule` would leave them (slots first), but with their firing at the
current minute, already past, so the running schedulers fire them all at
their next tick. Every run has recipients of its own (one or two), so the
SMTP server's record says exactly who got what; each run also carries what
the scenario expects of it at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase

from herald.services.scheduler.calendar import Calendar
from herald.services.scheduler.commands import ScheduleState
from herald.shared.contract.identity import ScheduleRef, fired_run_id
from herald.shared.contract.messages import RunStatus
from herald.shared.contract.schedule_spec import ReportFormat, ScheduleSpec
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings

TENANT = "acme"
REPORTS = ("campaign_summary", "agent_performance", "disposition_summary", "hourly_activity")


@dataclass(frozen=True, slots=True)
class Expected:
    """How a run may end: `delivered`, or `failed` with these words in its reason."""

    status: RunStatus = RunStatus.DELIVERED
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PlannedRun:
    run_id: str
    schedule_id: str
    campaign: str
    recipients: tuple[str, ...]
    expected: Expected


@dataclass
class Herd:
    minute: datetime
    runs: dict[str, PlannedRun] = field(default_factory=dict)
    #: When the import ended: the schedulers fire the herd at their next tick.
    imported_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def expecting(self, status: RunStatus) -> list[PlannedRun]:
        return [run for run in self.runs.values() if run.expected.status is status]


def _format(n: int) -> ReportFormat:
    """Mostly CSV; some inline HTML and a few PDFs, so every renderer path is under fire."""
    if n % 25 == 0:
        return ReportFormat.PDF
    if n % 5 == 0:
        return ReportFormat.HTML
    return ReportFormat.CSV


def _spec(n: int, at: datetime, recipients: tuple[str, ...], campaign: str | None) -> ScheduleSpec:
    return ScheduleSpec.model_validate(
        {
            "name": f"Chaos {n}",
            "report": {"id": REPORTS[n % len(REPORTS)]},
            "filters": {"campaign_ids": [campaign] if campaign else []},
            "frequency": "daily",
            "time_of_day": at.time().isoformat(timespec="minutes"),
            "timezone": "UTC",
            "recipients": list(recipients),
            "format": _format(n).value,
        }
    )


async def import_herd(
    settings: Settings,
    db: AsyncDatabase[Document],
    count: int,
    expect: Callable[[int], Expected] = lambda _: Expected(),
    *,
    campaign_filters: bool = False,
) -> Herd:
    """`count` schedules due now; `campaign_filters` gives each its own campaign (HTTP source)."""
    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    herd = Herd(minute)
    states = []
    for n in range(count):
        schedule_id = f"chaos-{n:05d}"
        campaign = f"c{n:05d}"
        recipients = tuple(f"r{n:05d}.{k}@chaos.example" for k in range(1 + n % 2))
        spec = _spec(n, minute, recipients, campaign if campaign_filters else None)
        states.append(ScheduleState(schedule_id, TENANT, spec, 1, None))
        run_id = fired_run_id(ScheduleRef("acme", schedule_id), minute)
        herd.runs[run_id] = PlannedRun(run_id, schedule_id, campaign, recipients, expect(n))
    # Imported as of just before the minute: its firing is this minute, already due.
    await Calendar.for_import(db, settings).import_schedules(
        states, minute - timedelta(microseconds=1)
    )
    herd.imported_at = datetime.now(UTC)
    return herd
