"""What firing a schedule means at a given moment: pure decisions, no I/O.

A schedule's pending firing is `due`. At `now` (normally seconds after
`due`, after downtime perhaps days later) every firing from `due` up to `now`
is accounted for exactly once: the latest is sent if it is still inside the
catch-up window (default one period), the older ones are recorded as skipped.
Never both, and never neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.scheduler import timing
from shared.messages import DeliveryStatus, ReportDue, RunDetails, RunStatus
from shared.run_events import status_id
from shared.schedule_spec import ScheduleSpec

#: At most this many missed firings are recorded one by one as skipped ...
MAX_MISSED = 1000
#: ... out of at most this many looked at (a minutely cron down for ten weeks).
MAX_SCAN = 100_000


def run_id_for(schedule_id: str, scheduled_for: datetime) -> str:
    return f"{schedule_id}@{scheduled_for.astimezone(UTC).isoformat()}"


def run_details(
    run_id: str, spec: ScheduleSpec, default_zone: str, scheduled_for: datetime
) -> RunDetails:
    return RunDetails(
        run_id=run_id,
        scheduled_for=scheduled_for,
        schedule_name=spec.name,
        report=spec.report,
        filters=spec.filters,
        window=timing.data_window(spec, default_zone, scheduled_for),
        format=spec.format,
        recipients=spec.recipients,
        skip_if_empty=spec.skip_if_empty,
    )


@dataclass(frozen=True, slots=True)
class Pending:
    """A schedule's next firing, as the scheduler keeps it."""

    schedule_id: str
    tenant_id: str
    version: int
    spec: ScheduleSpec
    due: datetime


@dataclass(frozen=True, slots=True)
class Plan:
    fire: RunDetails | None
    skipped: list[tuple[str, datetime, str]]
    #: The schedule's next firing after this one.
    next_due: datetime


def catch_up_window(spec: ScheduleSpec, default_zone: str, fired: datetime) -> timedelta:
    if spec.catch_up_seconds is not None:
        return timedelta(seconds=spec.catch_up_seconds)
    return timing.next_firing(spec, default_zone, fired) - fired


def plan(pending: Pending, now: datetime, default_zone: str) -> Plan:
    spec = pending.spec
    missed = [pending.due]
    for _ in range(MAX_SCAN):
        following = timing.next_firing(spec, default_zone, missed[-1])
        if following > now:
            break
        missed.append(following)
    latest = missed[-1]
    next_due = timing.next_firing(spec, default_zone, max(now, latest))
    # Only the most recent missed firings are recorded one by one.
    if now - latest <= catch_up_window(spec, default_zone, latest):
        fire = run_details(run_id_for(pending.schedule_id, latest), spec, default_zone, latest)
        older, reason = missed[:-1], "missed; a later firing was sent instead"
    else:
        fire, older, reason = (
            None,
            missed,
            "missed while no scheduler ran; past the catch-up window",
        )
    skipped = [(run_id_for(pending.schedule_id, t), t, reason) for t in older[-MAX_MISSED:]]
    return Plan(fire, skipped, next_due)


def due_messages(
    tenant_id: str, schedule_id: str, run: RunDetails
) -> list[ReportDue | DeliveryStatus]:
    """The two messages that fire a run: the work and its `due` transition."""
    return [
        ReportDue(tenant_id=tenant_id, schedule_id=schedule_id, run=run),
        DeliveryStatus(
            event_id=status_id(run.run_id, run.attempt, "scheduler", RunStatus.DUE),
            tenant_id=tenant_id,
            schedule_id=schedule_id,
            run_id=run.run_id,
            attempt=run.attempt,
            status=RunStatus.DUE,
            stage="scheduler",
            scheduled_for=run.scheduled_for,
            test=run.test,
            run=run,
        ),
    ]


def skipped_message(
    tenant_id: str, schedule_id: str, run_id: str, scheduled_for: datetime, reason: str
) -> DeliveryStatus:
    return DeliveryStatus(
        event_id=status_id(run_id, 1, "scheduler", RunStatus.SKIPPED),
        tenant_id=tenant_id,
        schedule_id=schedule_id,
        run_id=run_id,
        attempt=1,
        status=RunStatus.SKIPPED,
        stage="scheduler",
        scheduled_for=scheduled_for,
        reason=reason,
    )
