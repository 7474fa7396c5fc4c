"""The AsyncAPI description of Herald's topics, generated from the message models.

`faststream docs gen shared.asyncapi:contract --factory --yaml` writes
`docs/asyncapi.yaml`; a test regenerates it and fails when the committed copy
differs. The document is built from the same pydantic models the services
validate with (`shared/messages.py`), topic by topic, with who writes and who
reads each one; nothing here runs against a broker.
"""

from __future__ import annotations

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from herald.shared.contract.messages import (
    AnyCommand,
    AnyScheduleEvent,
    DeliveryStatus,
    ReportDue,
    ReportRendered,
    TenantSettings,
)
from herald.shared.contract.topics import Topics

#: Topic names in the document use the default prefix; deployments may change it.
_TOPICS = Topics("herald")


def contract() -> FastStream:
    broker = KafkaBroker("kafka:9092", description="Herald's Kafka cluster")
    documented = (
        (
            _TOPICS.commands,
            AnyCommand,
            "Commands from platform services: on schedules (CreateSchedule, UpdateSchedule, "
            "Enable/DisableSchedule, DeleteSchedule, RunNow, SendTestEmail), keyed by "
            "schedule_id; on the tenant's own settings (ChangeTenantSettings: email server, "
            "branding, default time zone; the SMTP password sealed for the mailer's key), "
            "with schedule_id `tenant-settings`. Read by the scheduler.",
        ),
        (
            _TOPICS.schedule_events,
            AnyScheduleEvent,
            "The scheduler's answers, by correlation id: CommandAccepted, CommandRejected "
            "(with field-level reasons), ScheduleChanged (the full state) and "
            "TenantSettingsChanged (the audit record of a settings change, without secrets).",
        ),
        (
            _TOPICS.report_due,
            ReportDue,
            "A run to render, from the scheduler (a firing, a run-now, a retry). "
            "Keyed by schedule_id. Read by the renderer.",
        ),
        (
            _TOPICS.report_rendered,
            ReportRendered,
            "A rendered run's artifacts in GridFS, from the renderer. Read by the mailer.",
        ),
        (
            _TOPICS.delivery_status,
            DeliveryStatus,
            "Every run status (due, rendered, pending_retry, delivered, failed, skipped, "
            "skipped_empty) from every stage: the audit log, retained and never compacted. "
            "The scheduler projects it into the history; `herald replay` rebuilds from it.",
        ),
        (
            _TOPICS.tenant_settings,
            TenantSettings,
            "Each tenant's whole settings, latest wins: compacted, keyed by tenant_id. "
            "Written by the scheduler; the mailer and the renderer read it whole into memory. "
            "The SMTP password is in it only sealed.",
        ),
    )
    for topic, schema, description in documented:
        broker.publisher(topic, schema=schema, description=description, title=topic)
    return FastStream(
        broker,
        specification=AsyncAPI(
            title="Herald",
            version="1",
            description="Scheduled report delivery: the topics between scheduler, renderer "
            "and mailer, and the commands platform services send.",
        ),
    )
