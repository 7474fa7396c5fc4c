"""Handling one schedule command: decide, write once, publish the outputs; answer repeats again.

The outputs are written with the change (see `ports.Schedules`) and published
after it as the exact bytes written, so a redelivery after a crash anywhere
publishes the same reply and effects, and never applies the command twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from herald.services.scheduler import commands, firing, tenant_commands, volume
from herald.services.scheduler.ports import (
    Bodies,
    CalendarSync,
    Clock,
    ConcurrentChange,
    Output,
    Recorded,
    Schedules,
    Stored,
    StoredTenant,
    TenantSettingsStore,
    Written,
)
from herald.shared.contract.identity import ScheduleRef
from herald.shared.contract.messages import (
    AnyCommand,
    ChangeTenantSettings,
    CommandAccepted,
    CommandRejected,
    CreateSchedule,
    Envelope,
    FieldError,
    ScheduleChanged,
    ScheduleChangeKind,
    ScheduleCommand,
)
from herald.shared.contract.topics import Topics
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runtime.kafka import TRANSIENT_ERRORS, PoisonMessage

log = logging.getLogger("herald.scheduler")

_MAX_CONCURRENT_RETRIES = 20
#: The changes that can add emails to a tenant's forecast.
_GUARDED = frozenset(
    {ScheduleChangeKind.CREATED, ScheduleChangeKind.UPDATED, ScheduleChangeKind.ENABLED}
)


def _now() -> datetime:
    return datetime.now(UTC)


class _ReadFirst(Exception):
    """A create decided without reading its schedule needs the read after all: its id is
    taken, or it is refused (a repeat of an accepted create is answered as it was)."""


@dataclass(frozen=True, slots=True)
class _Handled:
    """A command handled: what to publish, whether its schedule's slots may need a sync,
    and the record to keep under its command id (None: kept already, or rejected)."""

    #: The Kafka key of its outputs that name none.
    schedule_id: str
    outputs: list[Output]
    #: The document id of the schedule whose slots may need a sync; None: none.
    sync: str | None
    record: Recorded | None = None
    #: This batch saved the schedule (`sync` is then its id).
    saved: bool = False


class _Batch:
    """What the commands of one batch share: what was decided, by command id (a repeat
    inside the batch is answered so), and one read of each tenant's settings (a herd of
    creates for one tenant read them once each, a round trip in six)."""

    def __init__(self, tenants: TenantSettingsStore) -> None:
        #: Names the batch's writes (`Schedules.save`), for the calendar to read them back.
        self.id = uuid.uuid4().hex
        self.decided: dict[str, Recorded] = {}
        self._tenants = tenants
        self._reads: dict[str, asyncio.Task[StoredTenant | None]] = {}

    async def tenant(self, tenant_id: str) -> StoredTenant | None:
        if tenant_id not in self._reads:
            self._reads[tenant_id] = asyncio.ensure_future(self._tenants.read(tenant_id))
        return await self._reads[tenant_id]

    def forget_tenant(self, tenant_id: str) -> None:
        """After a change of its settings: the commands after it read them anew."""
        self._reads.pop(tenant_id, None)


@dataclass(frozen=True, slots=True)
class CommandHandler:
    schedules: Schedules
    calendar: CalendarSync
    bodies: Bodies
    topics: Topics
    default_zone: str
    policy: RecipientPolicy
    tenants: TenantSettingsStore
    clock: Clock = _now
    #: Schedules whose commands are handled at once.
    concurrency: int = 32

    def _output(self, message: Envelope) -> Output:
        key = message.key().decode()
        topic = self.topics.for_message(message)
        return Output(topic, message.model_dump_json(), None if key == message.schedule_id else key)

    async def handle(self, key: bytes | None, raw: bytes) -> None:
        """`PoisonMessage` for bytes that cannot be answered (for the DLQ)."""
        (error,) = await self.handle_batch([(key, raw)])
        if error is not None:
            raise error

    async def handle_batch(
        self, records: Sequence[tuple[bytes | None, bytes]]
    ) -> list[Exception | None]:
        """Many commands: each schedule's in order, different schedules side by side.

        Then the calendar of every schedule changed in one `sync_many`, then every
        reply and effect in one publish, in the batch's order. Returns per command
        the error that stopped it (for the DLQ) or None; a transient error stops
        the whole batch, which is read again and answered from what was recorded.
        """
        results: list[_Handled | Exception] = [PoisonMessage("not handled")] * len(records)
        by_schedule: dict[ScheduleRef, list[tuple[int, AnyCommand | CommandRejected]]] = {}
        for index, (key, raw) in enumerate(records):
            parsed = commands.parse(raw, key)
            if isinstance(parsed, commands.Unanswerable):
                results[index] = PoisonMessage(parsed.reason)
            else:
                ref = ScheduleRef(parsed.tenant_id, parsed.schedule_id)
                by_schedule.setdefault(ref, []).append((index, parsed))
        room = asyncio.Semaphore(self.concurrency)
        batch = _Batch(self.tenants)

        async def handle_in_order(queue: list[tuple[int, AnyCommand | CommandRejected]]) -> None:
            async with room:
                for index, parsed in queue:
                    try:
                        results[index] = handled = await self._decide(parsed, batch)
                    except TRANSIENT_ERRORS:
                        raise
                    except Exception as exc:
                        results[index] = exc
                    else:
                        if handled.record is not None:
                            batch.decided.setdefault(str(parsed.command_id), handled.record)

        queues = [asyncio.create_task(handle_in_order(q)) for q in by_schedule.values()]
        try:
            await asyncio.gather(*queues)
        except BaseException:
            # The batch is read again: nothing of this delivery may go on beside it.
            for queue in queues:
                queue.cancel()
            raise
        handled = [r for r in results if isinstance(r, _Handled)]
        # Kept before anything is published: a reply out is a reply that can be given again.
        # The slots are synced meanwhile: both are repeated if either fails.
        saved = frozenset(h.sync for h in handled if h.saved and h.sync is not None)
        await asyncio.gather(
            self.schedules.record_many(list(batch.decided.items())),
            self.calendar.sync_many(
                (h.sync for h in handled if h.sync is not None), Written(batch.id, saved)
            ),
        )
        await self.bodies.publish_bodies(
            [(o.topic, o.key or h.schedule_id, o.body) for h in handled for o in h.outputs]
        )
        return [r if isinstance(r, Exception) else None for r in results]

    async def _decide(
        self, parsed: AnyCommand | CommandRejected, batch: _Batch, read: bool = False
    ) -> _Handled:
        """What to publish for one command, written first when it changes anything.

        The schedule is read once: it says whether the command was handled before
        (its outbox), and is the state the command applies to. A command it does
        not explain is looked up by id (a test email changes no schedule; an id
        may have been used on another schedule, or left the outbox). A create is
        read only if its id turns out taken or it is refused (`read`): a repeat, say.
        """
        if isinstance(parsed, CommandRejected) and parsed.command_id is None:
            return self._rejected(parsed)  # no id: nothing to look up, never a repeat
        command_id = str(parsed.command_id)
        if isinstance(parsed, CreateSchedule) and not read:
            # Most creates meet a free id: written unread, read only if taken or refused.
            try:
                return await self._apply(parsed, None, batch, unread=True)
            except _ReadFirst:
                return await self._decide(parsed, batch, read=True)
        tenant: StoredTenant | None = None
        stored: Stored | StoredTenant | None
        if isinstance(parsed, ChangeTenantSettings):
            stored = tenant = await self.tenants.read(parsed.tenant_id)
        else:
            stored = await self.schedules.read(ScheduleRef(parsed.tenant_id, parsed.schedule_id))
        recorded = batch.decided.get(command_id)
        # Found in the outbox alone, it is copied under the command id: the outbox
        # keeps only the latest commands.
        copy = None
        if recorded is None and stored is not None and command_id in stored.outbox:
            recorded = copy = Recorded(stored.state.tenant_id, stored.outbox[command_id])
        if recorded is None and not (isinstance(parsed, CreateSchedule) and stored is None):
            recorded = await self.schedules.recorded(command_id)
        if recorded is not None:
            # Finish what a crash may have cut short, then answer as before.
            answer = self._answer_again(parsed, recorded)
            if isinstance(parsed, ChangeTenantSettings) and answer is recorded.outputs:
                await self._keep_logo(parsed)
            sync = stored.stored_id if isinstance(stored, Stored) else None
            return _Handled(parsed.schedule_id, answer, sync=sync, record=copy)
        if isinstance(parsed, CommandRejected):
            return self._rejected(parsed)
        if isinstance(parsed, ChangeTenantSettings):
            batch.forget_tenant(parsed.tenant_id)
            return await self._apply_settings(parsed, tenant)
        assert not isinstance(stored, StoredTenant)
        return await self._apply(parsed, stored, batch)

    def _rejected(self, rejection: CommandRejected) -> _Handled:
        log.info(
            "command %s (%s) rejected: %s",
            rejection.command_id,
            rejection.command_type,
            "; ".join(f"{e.field}: {e.message}" for e in rejection.errors),
        )
        # Nothing is written for a rejected command: a repeat is judged anew.
        return _Handled(rejection.schedule_id, [self._output(rejection)], sync=None)

    async def _apply_settings(
        self, command: ChangeTenantSettings, stored: StoredTenant | None
    ) -> _Handled:
        """Decided on the logo's id (its content's hash) before anything is stored: a
        rejected command stores no logo. An accepted one stores it before the settings name
        it, so no reader meets a missing logo; a crash between leaves it unnamed, and the
        command read again stores the same file (or, refused then, leaves it to the
        clean-up of unnamed logos, `cleanup.UnusedLogos`). Once saved it keeps it again
        (`logo_bin.keep_logo`), before anything is published."""
        upload = command.branding.logo_upload if command.branding else None
        logo = upload.stored_as() if upload is not None else None
        logo_stored = False
        for attempt in range(_MAX_CONCURRENT_RETRIES):
            if attempt:
                stored = await self.tenants.read(command.tenant_id)
            current = stored.state if stored else None
            decision = tenant_commands.decide(command, current, logo)
            messages: list[Envelope] = [decision.reply]
            if decision.state is not None:
                sections = list(decision.sections)
                effects = [
                    decision.state.audited(command, sections),
                    decision.state.published(command),
                ]
                messages = [*effects, decision.reply]
            outputs = [self._output(m) for m in messages]
            if decision.state is not None:
                if upload is not None and not logo_stored:
                    await self.tenants.put_logo(upload)
                    logo_stored = True
                try:
                    await self.tenants.save(
                        current, decision.state, str(command.command_id), outputs
                    )
                except ConcurrentChange:
                    continue
                # Once more, now that the settings name it: a clean-up pass that found the
                # same bytes unnamed just before may be purging them (`logo_bin`).
                await self._keep_logo(command)
            log.info(
                "command %s (%s) on the settings of tenant %s: %s",
                command.command_id,
                command.type,
                command.tenant_id,
                decision.reply.type,
            )
            accepted = decision.state is not None
            record = Recorded(command.tenant_id, outputs) if accepted else None
            return _Handled(command.schedule_id, outputs, sync=None, record=record)
        raise RuntimeError(f"the settings of tenant {command.tenant_id} keep changing")

    async def _keep_logo(self, command: ChangeTenantSettings) -> None:
        """The logo an accepted command names kept for its settings, before they are
        published: after its save, and again when a redelivery is answered from the outbox
        (a crash or a failure after the save left that undone)."""
        upload = command.branding.logo_upload if command.branding else None
        if upload is not None:
            await self.tenants.put_logo(upload)

    def _answer_again(
        self, command: AnyCommand | CommandRejected, recorded: Recorded
    ) -> list[Output]:
        """The recorded answer of a repeat; a command id another tenant's or another
        schedule's command took is refused instead (`duplicate`): a repeat carries its own
        schedule id, so the id was reused, and answering as for the other schedule told the
        sender that a command never applied had been."""
        if (recorded.tenant_id, _schedule_of(recorded)) == (command.tenant_id, command.schedule_id):
            log.info("command %s seen before: answering again", command.command_id)
            return recorded.outputs
        log.warning(
            "command %s on %s/%s: its id was used for another command, which stands; refused",
            command.command_id,
            command.tenant_id,
            command.schedule_id,
        )
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

    async def _apply(
        self, command: ScheduleCommand, stored: Stored | None, batch: _Batch, unread: bool = False
    ) -> _Handled:
        """`unread`: `stored` is None unread; a taken id or a refusal raises `_ReadFirst`."""
        if isinstance(command, CreateSchedule) and command.spec.timezone is None:
            # The tenant's default zone, if it set one, is written into the schedule.
            tenant = await batch.tenant(command.tenant_id)
            zone = tenant.state.default_timezone if tenant else None
            if zone is not None:
                spec = command.spec.model_copy(update={"timezone": zone})
                command = command.model_copy(update={"spec": spec})
        ref = ScheduleRef(command.tenant_id, command.schedule_id)
        for attempt in range(_MAX_CONCURRENT_RETRIES):
            if attempt:
                stored = await self.schedules.read(ref)
            current = stored.live() if stored else None
            stored_id = stored.stored_id if stored else ref.key
            now = self.clock()
            decision = commands.decide(
                command,
                current,
                now=now,
                default_zone=self.default_zone,
                id_taken=stored is not None,
                policy=self.policy,
            )
            decision = await self._guard_volume(command, decision, now, batch)
            outputs = [self._output(m) for m in self._messages(command, decision)]
            if decision.change is not None:
                try:
                    await self.schedules.save(
                        current,
                        decision.state,
                        stored_id=stored_id,
                        tenant_id=command.tenant_id,
                        command_id=str(command.command_id),
                        outputs=outputs,
                        batch=batch.id,
                    )
                except ConcurrentChange:
                    if unread:
                        raise _ReadFirst from None
                    continue
            elif unread:
                raise _ReadFirst
            log.info(
                "command %s (%s) on schedule %s of tenant %s: %s",
                command.command_id,
                command.type,
                command.schedule_id,
                command.tenant_id,
                decision.reply.type,
            )
            accepted = isinstance(decision.reply, CommandAccepted)
            record = Recorded(command.tenant_id, outputs) if accepted else None
            saved = decision.change is not None
            return _Handled(command.schedule_id, outputs, stored_id, record, saved)
        raise RuntimeError(f"schedule {command.schedule_id} keeps changing under command")

    async def _guard_volume(
        self, command: ScheduleCommand, decision: commands.Decision, now: datetime, batch: _Batch
    ) -> commands.Decision:
        """A change that would take the tenant's schedules over its provider's allowed volume
        is accepted with a warning, or rejected when the tenant's settings say `enforce`.

        Only tenants that set an allowed volume pay for it: their live schedules are read
        and forecast (`volume.py`) with this schedule as it would be.
        """
        state = decision.state
        if decision.change not in _GUARDED or state is None or not state.spec.enabled:
            return decision
        tenant = await batch.tenant(command.tenant_id)
        email = tenant.state.email if tenant else None
        if email is None or (email.max_per_minute is None and email.max_per_day is None):
            return decision
        specs = await self.schedules.live_specs(command.tenant_id)
        specs[command.schedule_id] = state.spec
        zone = (tenant.state.default_timezone if tenant else None) or self.default_zone
        ahead = volume.forecast(specs.values(), zone, now)
        errors = [
            FieldError(field="volume", message=excess.message(), code="volume_over_allowed")
            for excess in volume.excesses(ahead, email.max_per_minute, email.max_per_day)
        ]
        if not errors:
            return decision
        if email.enforce_volume:
            return commands.Decision(commands.rejection(command, errors))
        return replace(decision, reply=decision.reply.model_copy(update={"warnings": errors}))

    @staticmethod
    def _messages(command: ScheduleCommand, decision: commands.Decision) -> list[Envelope]:
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


def _schedule_of(recorded: Recorded) -> str | None:
    """The schedule a recorded command was for, as its reply (the last output) names it."""
    if not recorded.outputs:
        return None
    schedule_id = json.loads(recorded.outputs[-1].body).get("schedule_id")
    return schedule_id if isinstance(schedule_id, str) else None
