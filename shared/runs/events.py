"""How a stage reports a run's transition as a `DeliveryStatus`, including failures and retries."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID, uuid5

from herald.shared.contract.messages import (
    DeliveryStatus,
    ReportDue,
    ReportRendered,
    RunStatus,
    utcnow,
)
from herald.shared.runs import retry
from herald.shared.runtime.settings import RetrySettings

Stage = Literal["scheduler", "renderer", "mailer"]
_EVENT_NAMESPACE = UUID("5b0b8a0e-6d3c-4a51-9a8e-2f1f6c1d7e42")


def status_id(
    run_id: str, attempt: int, stage: Stage, status: RunStatus, occurred_at: datetime
) -> UUID:
    """Named by what it reports and when: an event published again is the same event, byte
    for byte (its stage gives it the same `occurred_at`), and a later report of the same
    outcome is a new one. Never one id on two different messages."""
    return uuid5(
        _EVENT_NAMESPACE, f"{run_id}|{attempt}|{stage}|{status.value}|{occurred_at.isoformat()}"
    )


def rendered_id(run_id: str, attempt: int, occurred_at: datetime) -> UUID:
    """A `ReportRendered`'s id, by when it says the run was rendered: published again, the
    same event."""
    return uuid5(_EVENT_NAMESPACE, f"{run_id}|{attempt}|ReportRendered|{occurred_at.isoformat()}")


def status_event(
    cause: ReportDue | ReportRendered,
    status: RunStatus,
    stage: Stage,
    *,
    at: datetime | None = None,
    **fields: Any,
) -> DeliveryStatus:
    """`at`: when it happened, if the stage keeps it (so a repeat says the same); else now."""
    run = cause.run
    occurred_at = at or utcnow()
    return DeliveryStatus(
        event_id=status_id(run.run_id, run.attempt, stage, status, occurred_at),
        occurred_at=occurred_at,
        tenant_id=cause.tenant_id,
        schedule_id=cause.schedule_id,
        correlation_id=cause.correlation_id,
        run_id=run.run_id,
        attempt=run.attempt,
        status=status,
        stage=stage,
        scheduled_for=run.scheduled_for,
        test=run.test,
        **fields,
    )


def failure_event(
    cause: ReportDue | ReportRendered,
    stage: Stage,
    *,
    transient: bool,
    reason: str,
    policy: RetrySettings,
    settings_problem: bool = False,
    **fields: Any,
) -> DeliveryStatus:
    """`pending_retry` with its next attempt time; `failed` when permanent or past the deadline.

    `settings_problem`: transient, and waiting for the tenant to fix its settings.
    """
    run = cause.run
    now = utcnow()
    transient = transient or settings_problem
    when = (
        retry.next_attempt_at(run, now, policy, settings_problem=settings_problem)
        if transient
        else None
    )
    if when is not None:
        return status_event(
            cause,
            RunStatus.PENDING_RETRY,
            stage,
            at=now,
            reason=reason,
            next_attempt_at=when,
            **fields,
        )
    if transient:
        reason = (
            f"{reason} ({retry.give_up_reason(run, policy, settings_problem=settings_problem)})"
        )
    return status_event(cause, RunStatus.FAILED, stage, at=now, reason=reason, **fields)
