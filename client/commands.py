"""An async client for platform services: send a schedule command, await its reply.

    async with HeraldClient({"bootstrap_servers": "kafka:9092"}, topic_prefix="herald") as herald:
        accepted = await herald.send(
            CreateSchedule(command_id=uuid4(), tenant_id=..., schedule_id=..., spec=...)
        )

Replies are matched by correlation id (the command id) on `schedule.events`;
the client listens from the end of that topic, positioned before it sends, so
no reply is missed and none of another client's are read as its own.

The client depends on Herald's contract only (an import-linter contract): a
platform service needs nothing of the services' settings or plumbing to use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Coroutine, Mapping
from types import TracebackType
from typing import Any, Self
from uuid import UUID, uuid4

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from herald.shared.contract.messages import (
    SCHEDULE_EVENT_ADAPTER,
    Command,
    CommandAccepted,
    CommandRejected,
    FieldError,
)
from herald.shared.contract.tolerance import TOLERANT
from herald.shared.contract.topics import Topics


class CommandRejectedError(Exception):
    def __init__(self, rejection: CommandRejected) -> None:
        self.rejection = rejection
        self.errors: list[FieldError] = rejection.errors
        reasons = "; ".join(f"{e.field}: {e.message}" for e in rejection.errors)
        super().__init__(f"{rejection.command_type} rejected: {reasons}")


class HeraldUnavailable(Exception):
    """Kafka could not be reached; the message names the address tried."""


class HeraldClient:
    def __init__(
        self, kafka: Mapping[str, Any], *, topic_prefix: str, timeout_s: float = 30.0
    ) -> None:
        """`kafka`: aiokafka client options (`bootstrap_servers`, security); `topic_prefix`
        names the deployment's topics."""
        self._bootstrap_servers = kafka["bootstrap_servers"]
        self._topics = Topics(topic_prefix)
        self._timeout_s = timeout_s
        options = dict(kafka)
        self._producer = AIOKafkaProducer(**options, acks="all", enable_idempotence=True)
        self._consumer = AIOKafkaConsumer(**options, enable_auto_commit=False)
        self._waiting: dict[UUID, asyncio.Future[CommandAccepted | CommandRejected]] = {}
        self._listener: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        try:
            await self._producer.start()
            await self._consumer.start()
            topic = self._topics.schedule_events
            if topic not in await self._consumer.topics():
                raise HeraldUnavailable(f"topic {topic} does not exist: are the services running?")
            partitions = await self._producer.partitions_for(topic)
            assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
            self._consumer.assign(assigned)
            await self._consumer.seek_to_end(*assigned)
            for tp in assigned:
                await self._consumer.position(tp)
        except Exception as exc:
            await self._close()
            if isinstance(exc, HeraldUnavailable):
                raise
            raise HeraldUnavailable(
                f"cannot reach Kafka at {self._bootstrap_servers}: {exc}"
            ) from exc
        self._listener = asyncio.create_task(self._listen())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._consumer.stop()
        await self._producer.stop()

    async def _listen(self) -> None:
        async for record in self._consumer:
            try:
                event = SCHEDULE_EVENT_ADAPTER.validate_json(record.value, context=TOLERANT)
            except ValidationError:
                continue  # not for us to judge; the services' DLQ covers bad input
            if isinstance(event, CommandAccepted | CommandRejected) and event.command_id:
                future = self._waiting.get(event.command_id)
                if future is not None and not future.done():
                    future.set_result(event)

    async def _publish(self, schedule_id: str, body: bytes) -> None:
        await self._producer.send_and_wait(
            self._topics.commands,
            body,
            key=schedule_id.encode(),
            headers=[("content-type", b"application/json")],
        )

    async def publish(self, command: Command) -> None:
        """Send without waiting for the reply."""
        await self._publish(command.schedule_id, command.model_dump_json().encode())

    async def send(self, command: Command, timeout_s: float | None = None) -> CommandAccepted:
        """Send and await the reply: the acceptance, or CommandRejectedError with field reasons."""
        return await self._exchange(
            command.command_id,
            command.type,
            self.publish(command),
            timeout_s,
        )

    async def send_document(
        self, document: dict[str, Any], timeout_s: float | None = None
    ) -> CommandAccepted:
        """Send a command given as a JSON document, validated by the scheduler, not here.

        The document needs `type`, `tenant_id` and `schedule_id`; a `command_id`
        is added when missing.
        """
        document = {"command_id": str(uuid4())} | document
        command_id = UUID(str(document["command_id"]))
        body = json.dumps(document, default=str).encode()
        return await self._exchange(
            command_id,
            str(document.get("type")),
            self._publish(str(document.get("schedule_id", "")), body),
            timeout_s,
        )

    async def _exchange(
        self,
        command_id: UUID,
        command_type: str,
        sending: Coroutine[Any, Any, None],
        timeout_s: float | None,
    ) -> CommandAccepted:
        future: asyncio.Future[CommandAccepted | CommandRejected] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiting[command_id] = future
        timeout = timeout_s or self._timeout_s
        try:
            await sending
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise TimeoutError(
                f"no reply to {command_type} {command_id} within {timeout:.0f} s: "
                "is the scheduler running?"
            ) from exc
        finally:
            self._waiting.pop(command_id, None)
        if isinstance(reply, CommandRejected):
            raise CommandRejectedError(reply)
        return reply
