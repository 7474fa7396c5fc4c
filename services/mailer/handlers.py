"""The mailer's subscriber: `ReportRendered` in, one email per recipient, status out."""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker

from herald.services.mailer.delivery import Delivery
from herald.shared.contract.messages import ReportRendered
from herald.shared.contract.topics import Topics
from herald.shared.ports import Publisher

log = logging.getLogger("herald.mailer")


def register(
    broker: KafkaBroker, topics: Topics, group_id: str, delivery: Delivery, publisher: Publisher
) -> None:
    @broker.subscriber(topics.report_rendered, group_id=group_id, auto_offset_reset="earliest")
    async def on_report_rendered(rendered: ReportRendered) -> None:
        status = await delivery.deliver(rendered)
        log.info(
            "run %s of schedule %s (tenant %s): %s",
            rendered.run.run_id,
            rendered.schedule_id,
            rendered.tenant_id,
            status.status.value,
        )
        await publisher.publish(status)
