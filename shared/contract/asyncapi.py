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
            "Schedule commands from platform services (CreateSchedule, UpdateSchedule, "
            "Enable/DisableSchedule, DeleteSchedule, RunNow, SendTestEmail). Keyed by "
            "schedule_id. Read by the scheduler.",
        ),
        (
            _TOPICS.schedule_events,
            AnyScheduleEvent,
            "The scheduler's answers, by correlation id: CommandAccepted, CommandRejected "
            "(with field-level reasons) and ScheduleChanged (the full state).",
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
