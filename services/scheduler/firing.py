"""What firing a schedule means at a given moment: pure decisions, no I/O.

A schedule's pending firing is `due`. At `now` (normally seconds after
`due`, after downtime perhaps days later) every firing from `due` up to `now`
is accounted for exactly once: the latest is sent if it is still inside the
catch-up window (default one period), the older ones are recorded as skipped.
Never both, and never neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from herald.services.scheduler import timing
from herald.shared.contract.identity import ScheduleRef, fired_run_id
from herald.shared.contract.messages import (
    DataWindow,
    DeliveryStatus,
    ReportDue,
    RunDetails,
    RunStatus,
    utcnow,
)
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.runs.events import status_id

#: At most this many missed firings are recorded one by one as skipped ...
MAX_MISSED = 1000
#: ... out of at most this many looked at (a minutely cron down for ten weeks).
MAX_SCAN = 100_000


def run_details(
    run_id: str,
    spec: ScheduleSpec,
    default_zone: str,
    scheduled_for: datetime,
    window: DataWindow | None = None,
    next_firing: datetime | None = None,
) -> RunDetails:
    """`next_firing` ends the run's retries (`shared/retry.py`)."""
    # Built from a validated spec: validating again would only cost time in a herd.
    return RunDetails.model_construct(
        run_id=run_id,
        scheduled_for=scheduled_for,
        schedule_name=spec.name,
        report=spec.report,
        filters=spec.filters,
        window=window or timing.data_window(spec, default_zone, scheduled_for),
        format=spec.format,
        recipients=spec.recipients,
        skip_if_empty=spec.skip_if_empty,
        retry_until=next_firing,
    )


@dataclass(frozen=True, slots=True)
class Pending:
    """A schedule's next firing, as the scheduler keeps it."""

    schedule_id: str
    tenant_id: str
    version: int
    spec: ScheduleSpec
    due: datetime
    #: The spec as stored, kept to be stored again without serialising it anew.
    spec_document: dict[str, Any] | None = None
    #: The schedule's document id, when it is not `ref.key` (see `stored_id_of`).
    stored_id: str | None = None

    @property
    def ref(self) -> ScheduleRef:
        return ScheduleRef(self.tenant_id, self.schedule_id)

    @property
    def slot_key(self) -> str:
        """The schedule's document id, which its slot entries and shard go by."""
        return self.stored_id or self.ref.key


@dataclass(frozen=True, slots=True)
class Timeline:
    """What happens to one pending firing at `now`; shared by all schedules of one cadence."""

    fire_at: datetime | None
    window: DataWindow | None
    skipped: tuple[tuple[datetime, str], ...]
    #: The schedule's next firing after this one.
    next_due: datetime


CadenceKey = tuple[object, ...]


def cadence_key(spec: ScheduleSpec, due: datetime) -> CadenceKey:
    """Everything a timeline depends on: schedules that share it share their timeline."""
    return (
        spec.frequency,
        spec.weekday,
        spec.cron,
        spec.window,
        spec.time_of_day,
        spec.timezone,
        spec.catch_up_seconds,
        due,
    )


def timeline(spec: ScheduleSpec, due: datetime, now: datetime, default_zone: str) -> Timeline:
    missed = [due]
    following = timing.next_firing(spec, default_zone, due)
    for _ in range(MAX_SCAN):
        if following > now:
            break
        missed.append(following)
        following = timing.next_firing(spec, default_zone, following)
    latest = missed[-1]
    # The catch-up window defaults to one period: the gap to the following firing.
    window = (
        timedelta(seconds=spec.catch_up_seconds)
        if spec.catch_up_seconds is not None
        else following - latest
    )
    next_due = following if following > now else timing.next_firing(spec, default_zone, now)
    # Only the most recent missed firings are recorded one by one.
    if now - latest <= window:
        reason = "missed; a later firing was sent instead"
        skipped = tuple((t, reason) for t in missed[:-1][-MAX_MISSED:])
        data = timing.data_window(spec, default_zone, latest)
        return Timeline(latest, data, skipped, next_due)
    reason = "missed while no scheduler ran; past the catch-up window"
    return Timeline(None, None, tuple((t, reason) for t in missed[-MAX_MISSED:]), next_due)


@dataclass(frozen=True, slots=True)
class Plan:
    fire: RunDetails | None
    skipped: list[tuple[str, datetime, str]]
    next_due: datetime


def plan(pending: Pending, now: datetime, default_zone: str, known: Timeline | None = None) -> Plan:
    """Fire, skip and reschedule one pending firing (`known`: its cadence's timeline)."""
    spec = pending.spec
    line = known or timeline(spec, pending.due, now, default_zone)
    fire = (
        run_details(
            fired_run_id(pending.ref, line.fire_at),
            spec,
            default_zone,
            line.fire_at,
            line.window,
            line.next_due,
        )
        if line.fire_at is not None
        else None
    )
    skipped = [(fired_run_id(pending.ref, t), t, reason) for t, reason in line.skipped]
    return Plan(fire, skipped, line.next_due)


def due_messages(
    tenant_id: str, schedule_id: str, run: RunDetails, correlation_id: UUID | None = None
) -> list[ReportDue | DeliveryStatus]:
    """The two messages that fire a run: the work and its `due` transition."""
    at = utcnow()
    return [
        ReportDue(
            tenant_id=tenant_id,
            schedule_id=schedule_id,
            correlation_id=correlation_id,
            occurred_at=at,
            run=run,
        ),
        DeliveryStatus(
            event_id=status_id(run.run_id, run.attempt, "scheduler", RunStatus.DUE, at),
            occurred_at=at,
            tenant_id=tenant_id,
            schedule_id=schedule_id,
            correlation_id=correlation_id,
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
    at = utcnow()
    return DeliveryStatus(
        event_id=status_id(run_id, 1, "scheduler", RunStatus.SKIPPED, at),
        occurred_at=at,
        tenant_id=tenant_id,
        schedule_id=schedule_id,
        run_id=run_id,
        attempt=1,
        status=RunStatus.SKIPPED,
        stage="scheduler",
        scheduled_for=scheduled_for,
        reason=reason,
    )
