"""Handling one schedule command: decide, write once, publish the outputs; answer repeats again.

The outputs are written with the change (see `ports.Schedules`) and published
after it as the exact bytes written, so a redelivery after a crash anywhere
publishes the same reply and effects, and never applies the command twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from herald.services.scheduler import commands, firing
from herald.services.scheduler.ports import (
    Bodies,
    CalendarSync,
    Clock,
    ConcurrentChange,
    Output,
    Recorded,
    Schedules,
)
from herald.shared.contract.messages import (
    AnyCommand,
    CommandAccepted,
    CommandRejected,
    CreateSchedule,
    Envelope,
    FieldError,
    ScheduleChanged,
)
from herald.shared.contract.topics import Topics
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runtime.kafka import PoisonMessage

log = logging.getLogger("herald.scheduler")

_MAX_CONCURRENT_RETRIES = 20


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CommandHandler:
    schedules: Schedules
    calendar: CalendarSync
    bodies: Bodies
    topics: Topics
    default_zone: str
    policy: RecipientPolicy
    clock: Clock = _now

    def _output(self, message: Envelope) -> Output:
        return Output(self.topics.for_message(message), message.model_dump_json())

    async def _publish(self, schedule_id: str, outputs: list[Output]) -> None:
        await self.bodies.publish_bodies([(o.topic, schedule_id, o.body) for o in outputs])

    async def handle(self, raw: bytes) -> None:
        """`PoisonMessage` for bytes that cannot be answered (for the DLQ)."""
        parsed = commands.parse(raw)
        if isinstance(parsed, commands.Unanswerable):
            raise PoisonMessage(parsed.reason)
        recorded = await self.schedules.recorded(str(parsed.command_id), parsed.schedule_id)
        if recorded is not None:
            # Finish what a crash may have cut short, then answer as before.
            await self.calendar.sync(parsed.schedule_id)
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
            await self.calendar.sync(parsed.schedule_id)
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
        for _ in range(_MAX_CONCURRENT_RETRIES):
            current = await self.schedules.load(command.schedule_id, command.tenant_id)
            taken = (
                isinstance(command, CreateSchedule)
                and current is None
                and await self.schedules.exists(command.schedule_id)
            )
            decision = commands.decide(
                command,
                current,
                now=self.clock(),
                default_zone=self.default_zone,
                id_taken=taken,
                policy=self.policy,
            )
            outputs = [self._output(m) for m in self._messages(command, decision)]
            if decision.change is not None:
                try:
                    await self.schedules.save(
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
                await self.schedules.record(str(command.command_id), command.tenant_id, outputs)
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
