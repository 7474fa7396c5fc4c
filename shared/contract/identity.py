"""Who a schedule and a run are: ids are scoped by tenant.

A `schedule_id` is the tenant's own name for a schedule, unique within the
tenant only: two tenants may both have a `daily-sales`. Everything stored or
keyed across tenants therefore names a schedule by its `ScheduleRef`, and run
ids start with the tenant. Identifiers cannot contain `/`, so the joined forms
are unambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID


@dataclass(frozen=True, slots=True, order=True)
class ScheduleRef:
    tenant_id: str
    schedule_id: str

    @property
    def key(self) -> str:
        """The schedule's id across tenants (`schedules._id`, slot entries)."""
        return f"{self.tenant_id}/{self.schedule_id}"


def fired_run_id(ref: ScheduleRef, scheduled_for: datetime) -> str:
    """A firing's run: the same firing always has the same id (the stages' idempotence)."""
    return f"{ref.key}@{scheduled_for.astimezone(UTC).isoformat()}"


def manual_run_id(ref: ScheduleRef, command_id: UUID) -> str:
    """A run-now's run: one per command, so a repeated command is the same run."""
    return f"{ref.key}@manual-{command_id}"
