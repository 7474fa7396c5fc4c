"""How a stage reports a run's transition as a `DeliveryStatus`, including failures and retries."""

from __future__ import annotations

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


def status_id(run_id: str, attempt: int, stage: Stage, status: RunStatus) -> UUID:
    """Deterministic: a stage reporting the same outcome twice is one event to the history."""
    return uuid5(_EVENT_NAMESPACE, f"{run_id}|{attempt}|{stage}|{status.value}")


def status_event(
    cause: ReportDue | ReportRendered, status: RunStatus, stage: Stage, **fields: Any
) -> DeliveryStatus:
    run = cause.run
    return DeliveryStatus(
        event_id=status_id(run.run_id, run.attempt, stage, status),
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
            cause, RunStatus.PENDING_RETRY, stage, reason=reason, next_attempt_at=when, **fields
        )
    if transient:
        reason = (
            f"{reason} ({retry.give_up_reason(run, policy, settings_problem=settings_problem)})"
        )
    return status_event(cause, RunStatus.FAILED, stage, reason=reason, **fields)
