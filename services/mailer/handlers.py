"""The mailer's subscriber: `ReportRendered` in, one email per recipient, status out.

Many runs at once (`mailer.concurrency`), each schedule's in order; see
`shared/runtime/batches.py` for when offsets are committed.
"""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker

from herald.services.mailer.delivery import Delivery
from herald.shared.contract.messages import ReportRendered
from herald.shared.contract.tolerance import TOLERANT
from herald.shared.contract.topics import Topics
from herald.shared.ports import Publisher
from herald.shared.runtime.batches import subscribe_concurrently

log = logging.getLogger("herald.mailer")


def register(
    broker: KafkaBroker,
    topics: Topics,
    group_id: str,
    delivery: Delivery,
    publisher: Publisher,
    concurrency: int,
) -> None:
    async def on_report_rendered(raw: bytes) -> None:
        rendered = ReportRendered.model_validate_json(raw, context=TOLERANT)
        status = await delivery.deliver(rendered)
        log.info(
            "run %s of schedule %s (tenant %s): %s",
            rendered.run.run_id,
            rendered.schedule_id,
            rendered.tenant_id,
            status.status.value,
        )
        await publisher.publish(status)

    subscribe_concurrently(
        broker,
        topics.report_rendered,
        service="mailer",
        group_id=group_id,
        dlq=topics.dlq,
        limit=concurrency,
        handle=on_report_rendered,
    )
