"""Topic names: `<prefix>.<name>`, the prefix configurable per deployment (and per test run)."""

from __future__ import annotations

from dataclasses import dataclass

from herald.shared.contract.messages import (
    Command,
    CommandAccepted,
    CommandRejected,
    DeliveryStatus,
    Envelope,
    ReportDue,
    ReportRendered,
    ScheduleChanged,
    TenantSettings,
    TenantSettingsChanged,
)

#: A dead letter's headers, beside the original record's own (`runtime/kafka.dead_letter`).
ERROR_HEADER = "x-herald-error"
ERROR_TYPE_HEADER = "x-herald-error-type"
ORIGIN_HEADER = "x-herald-origin"


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = "herald"

    def _name(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    @property
    def commands(self) -> str:
        return self._name("schedule.commands")

    @property
    def schedule_events(self) -> str:
        return self._name("schedule.events")

    @property
    def report_due(self) -> str:
        return self._name("report.due")

    @property
    def report_rendered(self) -> str:
        return self._name("report.rendered")

    @property
    def delivery_status(self) -> str:
        return self._name("delivery.status")

    @property
    def tenant_settings(self) -> str:
        """Compacted: each tenant's latest `TenantSettings`, keyed by tenant."""
        return self._name("tenant.settings")

    @property
    def dlq(self) -> str:
        return self._name("dlq")

    def all(self) -> tuple[str, ...]:
        return (
            self.commands,
            self.schedule_events,
            self.report_due,
            self.report_rendered,
            self.delivery_status,
            self.tenant_settings,
            self.dlq,
        )

    def for_message(self, message: Envelope) -> str:
        """The topic a message belongs on (docs/architecture.md, "Topics")."""
        if isinstance(message, Command):
            return self.commands
        if isinstance(
            message, CommandAccepted | CommandRejected | ScheduleChanged | TenantSettingsChanged
        ):
            return self.schedule_events
        if isinstance(message, ReportDue):
            return self.report_due
        if isinstance(message, ReportRendered):
            return self.report_rendered
        if isinstance(message, DeliveryStatus):
            return self.delivery_status
        if isinstance(message, TenantSettings):
            return self.tenant_settings
        raise TypeError(f"no topic for {type(message).__name__}")
