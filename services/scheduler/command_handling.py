"""Handling one schedule command: decide, write once, publish the outputs; answer repeats again.

The outputs are written with the change (see `ports.Schedules`) and published
after it as the exact bytes written, so a redelivery after a crash anywhere
publishes the same reply and effects, and never applies the command twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
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
from herald.shared.runtime.kafka import TRANSIENT_ERRORS, PoisonMessage

log = logging.getLogger("herald.scheduler")

_MAX_CONCURRENT_RETRIES = 20


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Handled:
    """A command handled: what to publish, and whether its schedule's slots may need a sync."""

    schedule_id: str
    outputs: list[Output]
    sync: bool


@dataclass(frozen=True, slots=True)
class CommandHandler:
    schedules: Schedules
    calendar: CalendarSync
    bodies: Bodies
    topics: Topics
    default_zone: str
    policy: RecipientPolicy
    clock: Clock = _now
    #: Schedules whose commands are handled at once.
    concurrency: int = 32

    def _output(self, message: Envelope) -> Output:
        return Output(self.topics.for_message(message), message.model_dump_json())

    async def handle(self, raw: bytes) -> None:
        """`PoisonMessage` for bytes that cannot be answered (for the DLQ)."""
        (error,) = await self.handle_batch([raw])
        if error is not None:
            raise error

    async def handle_batch(self, raws: Sequence[bytes]) -> list[Exception | None]:
        """Many commands: each schedule's in order, different schedules side by side.

        Then the calendar of every schedule changed in one `sync_many`, then every
        reply and effect in one publish, in the batch's order. Returns per command
        the error that stopped it (for the DLQ) or None; a transient error stops
        the whole batch, which is read again and answered from what was recorded.
        """
        results: list[_Handled | Exception] = [PoisonMessage("not handled")] * len(raws)
        by_schedule: dict[str | None, list[tuple[int, AnyCommand | CommandRejected]]] = {}
        for index, raw in enumerate(raws):
            parsed = commands.parse(raw)
            if isinstance(parsed, commands.Unanswerable):
                results[index] = PoisonMessage(parsed.reason)
            else:
                by_schedule.setdefault(parsed.schedule_id, []).append((index, parsed))
        room = asyncio.Semaphore(self.concurrency)

        async def handle_in_order(queue: list[tuple[int, AnyCommand | CommandRejected]]) -> None:
            async with room:
                for index, parsed in queue:
                    try:
                        results[index] = await self._decide(parsed)
                    except TRANSIENT_ERRORS:
                        raise
                    except Exception as exc:
                        results[index] = exc

        queues = [asyncio.create_task(handle_in_order(q)) for q in by_schedule.values()]
        try:
            await asyncio.gather(*queues)
        except BaseException:
            # The batch is read again: nothing of this delivery may go on beside it.
            for queue in queues:
                queue.cancel()
            raise
        handled = [r for r in results if isinstance(r, _Handled)]
        await self.calendar.sync_many(h.schedule_id for h in handled if h.sync)
        await self.bodies.publish_bodies(
            [(o.topic, h.schedule_id, o.body) for h in handled for o in h.outputs]
        )
        return [r if isinstance(r, Exception) else None for r in results]

    async def _decide(self, parsed: AnyCommand | CommandRejected) -> _Handled:
        """What to publish for one command, written first when it changes anything."""
        recorded = await self.schedules.recorded(str(parsed.command_id), parsed.schedule_id)
        if recorded is not None:
            # Finish what a crash may have cut short, then answer as before.
            return _Handled(parsed.schedule_id, self._answer_again(parsed, recorded), sync=True)
        if isinstance(parsed, CommandRejected):
            log.info(
                "command %s (%s) rejected: %s",
                parsed.command_id,
                parsed.command_type,
                "; ".join(f"{e.field}: {e.message}" for e in parsed.errors),
            )
            # Nothing is written for a rejected command: a repeat is judged anew.
            return _Handled(parsed.schedule_id, [self._output(parsed)], sync=False)
        return _Handled(parsed.schedule_id, await self._apply(parsed), sync=True)

    def _answer_again(
        self, command: AnyCommand | CommandRejected, recorded: Recorded
    ) -> list[Output]:
        if recorded.tenant_id == command.tenant_id:
            log.info("command %s seen before: answering again", command.command_id)
            return recorded.outputs
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
        return [self._output(rejection)]

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
