"""The scheduler's subscribers: schedule commands in, replies and runs out; history projection."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from herald.services.scheduler import commands, firing
from herald.services.scheduler.calendar import Calendar
from herald.services.scheduler.projection import Projection
from herald.services.scheduler.store import ConcurrentChange, Output, Recorded, SchedulerStore
from herald.services.scheduler.timers import TimerStore
from herald.shared.contract.messages import (
    AnyCommand,
    CommandAccepted,
    CommandRejected,
    CreateSchedule,
    DeliveryStatus,
    Envelope,
    FieldError,
    ScheduleChanged,
)
from herald.shared.history import store as history_store
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runtime.kafka import (
    TRANSIENT_ERRORS,
    PoisonMessage,
    Record,
    dead_letter,
    publish_bodies,
    records_of,
    undecoded,
)
from herald.shared.runtime.logs import bound, ids_of
from herald.shared.runtime.service import Runtime

log = logging.getLogger("herald.scheduler")

_MAX_CONCURRENT_RETRIES = 20


class CommandHandler:
    def __init__(self, runtime: Runtime, store: SchedulerStore, calendar: Calendar) -> None:
        self._rt = runtime
        self._store = store
        self._calendar = calendar
        self._policy = RecipientPolicy.from_settings(runtime.settings.security)

    def _output(self, message: Envelope) -> Output:
        return Output(self._rt.topics.for_message(message), message.model_dump_json())

    async def _publish(self, schedule_id: str, outputs: list[Output]) -> None:
        await publish_bodies(self._rt.broker, [(o.topic, schedule_id, o.body) for o in outputs])

    async def handle(self, raw: bytes) -> None:
        parsed = commands.parse(raw)
        if isinstance(parsed, commands.Unanswerable):
            raise PoisonMessage(parsed.reason)
        recorded = await self._store.recorded(str(parsed.command_id), parsed.schedule_id)
        if recorded is not None:
            # Finish what a crash may have cut short, then answer as before.
            await self._calendar.sync(parsed.schedule_id)
            await self._answer_again(parsed, recorded)
            return
        if isinstance(parsed, CommandRejected):
            log.info(
                "command %s (%s) rejected: %s",
                parsed.command_id,
                parsed.command_type,
                "; ".join(f"{e.field}: {e.message}" for e in parsed.errors),
            )
            # Nothing is written for a rejected command: a repeat is judged anew.
            outputs = [self._output(parsed)]
        else:
            outputs = await self._apply(parsed)
            await self._calendar.sync(parsed.schedule_id)
        await self._publish(parsed.schedule_id, outputs)

    async def _answer_again(
        self, command: AnyCommand | CommandRejected, recorded: Recorded
    ) -> None:
        if recorded.tenant_id == command.tenant_id:
            log.info("command %s seen before: answering again", command.command_id)
            await self._publish(command.schedule_id, recorded.outputs)
            return
        # Never replay another tenant's answer; say the id is taken instead.
        rejection = CommandRejected(
            tenant_id=command.tenant_id,
            schedule_id=command.schedule_id,
            command_id=command.command_id,
            correlation_id=command.command_id,
            command_type=command.type if isinstance(command, Envelope) else "unknown",
            errors=[
                FieldError(field="command_id", message="command id already used", code="duplicate")
            ],
        )
        await self._publish(command.schedule_id, [self._output(rejection)])

    async def _apply(self, command: AnyCommand) -> list[Output]:
        settings = self._rt.settings
        for _ in range(_MAX_CONCURRENT_RETRIES):
            current = await self._store.load(command.schedule_id, command.tenant_id)
            taken = (
                isinstance(command, CreateSchedule)
                and current is None
                and await self._store.exists(command.schedule_id)
            )
            decision = commands.decide(
                command,
                current,
                now=datetime.now(UTC),
                default_zone=settings.default_timezone,
                id_taken=taken,
                policy=self._policy,
            )
            outputs = [self._output(m) for m in self._messages(command, decision)]
            if decision.change is not None:
                try:
                    await self._store.save(
                        current,
                        decision.state,
                        schedule_id=command.schedule_id,
                        tenant_id=command.tenant_id,
                        command_id=str(command.command_id),
                        outputs=outputs,
                    )
                except ConcurrentChange:
                    continue
            if isinstance(decision.reply, CommandAccepted):
                await self._store.record(str(command.command_id), command.tenant_id, outputs)
            log.info(
                "command %s (%s) on schedule %s of tenant %s: %s",
                command.command_id,
                command.type,
                command.schedule_id,
                command.tenant_id,
                decision.reply.type,
            )
            return outputs
        raise RuntimeError(f"schedule {command.schedule_id} keeps changing under command")

    @staticmethod
    def _messages(command: AnyCommand, decision: commands.Decision) -> list[Envelope]:
        envelope = {
            "tenant_id": command.tenant_id,
            "schedule_id": command.schedule_id,
            "correlation_id": command.command_id,
        }
        messages: list[Envelope] = []
        if decision.change is not None:
            state = decision.state
            messages.append(
                ScheduleChanged(
                    **envelope,
                    change=decision.change,
                    version=state.version if state else 0,
                    spec=state.spec if state else None,
                    next_run_at=state.next_run_at if state else None,
                )
            )
        if decision.run is not None:
            messages += firing.due_messages(
                command.tenant_id, command.schedule_id, decision.run, command.command_id
            )
        # The reply comes last: when a client sees it, the effects are on their topics.
        messages.append(decision.reply)
        return messages


#: Records one poll hands the subscriber at most; a batch's status events are projected together.
BATCH_RECORDS = 500
#: How long a poll waits for records when none are there.
BATCH_WAIT_MS = 200


def register(
    runtime: Runtime,
    store: SchedulerStore,
    calendar: Calendar,
    timers: TimerStore,
    quiet: asyncio.Event,
) -> None:
    """`quiet` is set while the ticker is not firing: the projection yields to a herd."""
    handler = CommandHandler(runtime, store, calendar)
    stuck_after = timedelta(seconds=runtime.settings.scheduler.stuck_after_s)
    projection = Projection(runtime.db[history_store.RUNS], timers, stuck_after)
    topics = runtime.topics

    async def poisoned(record: Record, exc: Exception) -> None:
        await dead_letter(runtime.broker, topics.dlq, record, exc)

    async def on_commands(records: list[Record]) -> None:
        """One by one, in order, before the batch's statuses are projected."""
        for record in records:
            with bound(ids_of(record.value)):
                try:
                    await handler.handle(record.value or b"")
                except TRANSIENT_ERRORS:
                    raise
                except Exception as exc:
                    await poisoned(record, exc)

    async def on_statuses(records: list[Record]) -> None:
        events: list[tuple[Record, DeliveryStatus]] = []
        for record in records:
            try:
                events.append((record, DeliveryStatus.model_validate_json(record.value or b"")))
            except ValidationError as exc:
                await poisoned(record, exc)
        await quiet.wait()
        for failed in await projection.apply(events):
            for record in failed.origins:
                await poisoned(record, failed.error)

    # One batch consumer for both topics: one group member per process, so stopping
    # a replica is one clean leave, not a rebalance between its own consumers. The
    # batch is committed when all of it is handled; an outage reads it all again,
    # which every handler shrugs off (commands are answered again, events are a set).
    @runtime.broker.subscriber(
        topics.commands,
        topics.delivery_status,
        group_id=runtime.group_id,
        auto_offset_reset="earliest",
        batch=True,
        max_records=BATCH_RECORDS,
        batch_timeout_ms=BATCH_WAIT_MS,
        decoder=undecoded,
    )
    async def on_batch(message: KafkaMessage) -> None:
        records = records_of(message)
        await on_commands([r for r in records if r.topic == topics.commands])
        await on_statuses([r for r in records if r.topic == topics.delivery_status])
