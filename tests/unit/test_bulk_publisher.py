"""The herd's publisher shares the event loop: commands beside a herd are not held up."""

from __future__ import annotations

import asyncio
from typing import Any

from herald.shared.contract.messages import DeliveryStatus, RunStatus
from herald.shared.runtime.kafka import BulkPublisher
from herald.shared.runtime.settings import Settings
from tests.loop_turns import turns_beside


class Producer:
    """aiokafka's `send` as the herd sees it: queued at once, acknowledged later."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic: str, value: bytes, **_: Any) -> asyncio.Future[None]:
        self.sent.append((topic, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_a_large_publish_lets_the_loop_run_other_tasks_between_messages() -> None:
    publisher = BulkPublisher(Settings())
    producer = Producer()
    publisher._producer = producer  # type: ignore[assignment]
    messages = [
        DeliveryStatus(
            tenant_id="acme",
            schedule_id="s",
            run_id=f"s@{n}",
            attempt=1,
            status=RunStatus.RENDERED,
            stage="renderer",
        )
        for n in range(500)
    ]
    async with turns_beside() as turns:
        await publisher.publish(messages)
    assert len(producer.sent) == 500
    assert turns.count >= 9, "a turn for the rest of the process every 50 messages"
