"""The mailer's subscriber on FastStream's in-memory broker: `ReportRendered` in, status out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from faststream.kafka import TestKafkaBroker

from herald.services.mailer import handlers
from herald.services.mailer.delivery import Delivery
from herald.services.mailer.outbound import SameForAll
from herald.services.mailer.ports import Outbound
from herald.shared.contract.messages import DeliveryStatus, RecipientOutcome, RunStatus
from herald.shared.contract.topics import Topics
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runtime.kafka import KafkaPublisher, group_id, make_broker
from herald.shared.runtime.settings import Settings
from tests.fakes.artifacts import MemoryArtifacts
from tests.fakes.mailer import MemoryLedger, ScriptedSmtp
from tests.samples import report_rendered

SETTINGS = Settings()
TOPICS = Topics(SETTINGS.kafka.topic_prefix)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_a_report_rendered_comes_back_as_its_delivery_status() -> None:
    broker = make_broker(SETTINGS, "mailer")
    artifacts = MemoryArtifacts()
    smtp = ScriptedSmtp()
    delivery = Delivery(
        ledger=MemoryLedger(timedelta(seconds=70)),
        outbounds=SameForAll(Outbound(smtp, SETTINGS.smtp.from_address, SETTINGS.branding)),
        artifacts=artifacts,
        retry=SETTINGS.retry,
        policy=RecipientPolicy(),
    )
    publisher = KafkaPublisher(broker, TOPICS)
    handlers.register(
        broker,
        TOPICS,
        group_id(SETTINGS, "mailer"),
        delivery,
        publisher,
        SETTINGS.mailer.concurrency,
    )
    statuses: list[DeliveryStatus] = []

    @broker.subscriber(TOPICS.delivery_status)
    async def on_status(message: DeliveryStatus) -> None:
        statuses.append(message)

    rendered = report_rendered()
    await artifacts.put(
        rendered.artifact_id, rendered.filename, rendered.content_type, _one(b"a,b\r\n"), {}
    )
    async with TestKafkaBroker(broker):
        await publisher.publish(rendered)

    assert [(s.run_id, s.status, s.artifact_id) for s in statuses] == [
        (rendered.run.run_id, RunStatus.DELIVERED, rendered.artifact_id)
    ]
    assert [(r.address, r.outcome) for r in statuses[0].recipients] == [
        ("ops@example.com", RecipientOutcome.ACCEPTED)
    ]
    assert smtp.sent_to() == ["ops@example.com"]
