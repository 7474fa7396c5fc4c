"""An async client for platform services: send a schedule command, await its reply.

    async with HeraldClient(Settings()) as herald:
        accepted = await herald.send(CreateSchedule(tenant_id=..., schedule_id=..., spec=...))

Replies are matched by correlation id (the command id) on `schedule.events`;
the client listens from the end of that topic, positioned before it sends, so
no reply is missed and none of another client's are read as its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self
from uuid import UUID

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from shared.kafka import client_options
from shared.messages import (
    SCHEDULE_EVENT_ADAPTER,
    Command,
    CommandAccepted,
    CommandRejected,
    FieldError,
)
from shared.settings import Settings
from shared.topics import Topics


class CommandRejectedError(Exception):
    def __init__(self, rejection: CommandRejected) -> None:
        self.rejection = rejection
        self.errors: list[FieldError] = rejection.errors
        reasons = "; ".join(f"{e.field}: {e.message}" for e in rejection.errors)
        super().__init__(f"{rejection.command_type} rejected: {reasons}")


class HeraldUnavailable(Exception):
    """Kafka could not be reached; the message names the address tried."""


class HeraldClient:
    def __init__(self, settings: Settings, *, timeout_s: float = 30.0) -> None:
        self._settings = settings
        self._topics = Topics(settings.kafka.topic_prefix)
        self._timeout_s = timeout_s
        options = client_options(settings.kafka)
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
                f"cannot reach Kafka at {self._settings.kafka.bootstrap_servers}: {exc}"
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
                event = SCHEDULE_EVENT_ADAPTER.validate_json(record.value)
            except ValidationError:
                continue  # not for us to judge; the services' DLQ covers bad input
            if isinstance(event, CommandAccepted | CommandRejected):
                future = self._waiting.get(event.command_id)
                if future is not None and not future.done():
                    future.set_result(event)

    async def publish(self, command: Command) -> None:
        """Send without waiting for the reply."""
        await self._producer.send_and_wait(
            self._topics.commands,
            command.model_dump_json().encode(),
            key=command.schedule_id.encode(),
            headers=[("content-type", b"application/json")],
        )

    async def send(self, command: Command, timeout_s: float | None = None) -> CommandAccepted:
        """Send and await the reply: the acceptance, or CommandRejectedError with field reasons."""
        future: asyncio.Future[CommandAccepted | CommandRejected] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiting[command.command_id] = future
        try:
            await self.publish(command)
            reply = await asyncio.wait_for(future, timeout_s or self._timeout_s)
        except TimeoutError as exc:
            raise TimeoutError(
                f"no reply to {command.type} {command.command_id} within "
                f"{timeout_s or self._timeout_s:.0f} s: is the scheduler running?"
            ) from exc
        finally:
            self._waiting.pop(command.command_id, None)
        if isinstance(reply, CommandRejected):
            raise CommandRejectedError(reply)
        return reply
