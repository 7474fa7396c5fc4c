"""Keeps each schedule's next firing in the slots and fires the slots that are due.

Two writers touch a shard's slots: a command that changes a schedule, and the
ticker that fires the shard. Both hold the shard's lease while they do. The
calendar runs on ports (`ports.Slots`, `ports.Leases`, `ports.Herd`,
`ports.SlotSchedules`); `app.py` and `for_import` wire the adapters.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from herald.services.scheduler import firing, timing
from herald.services.scheduler.commands import ScheduleState
from herald.services.scheduler.leases import LEASES, LeaseStore
from herald.services.scheduler.ports import Clock, Herd, Lease, Leases, Slots, SlotSchedules
from herald.services.scheduler.slots import SlotStore, minute_of, shard_lease, shard_of
from herald.services.scheduler.store import SchedulerStore
from herald.shared.contract.messages import DeliveryStatus, Envelope, utcnow
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.runtime.kafka import BulkPublisher
from herald.shared.runtime.metrics import FIRING_LATENESS
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings

log = logging.getLogger("herald.scheduler.calendar")

#: A command waits at most this long for the ticker to finish with a shard.
COMMAND_LEASE_WAIT_S = 60.0


def _fires_in(spec: ScheduleSpec, default_zone: str, minute: datetime) -> bool:
    before = minute - timedelta(microseconds=1)
    return minute_of(timing.next_firing(spec, default_zone, before)) == minute


def _synced(doc: dict[str, Any] | None) -> bool:
    """The slots hold this version's firing, or none for a deleted schedule.

    A delete keeps the version (a deleted id stays taken), so a deleted
    schedule whose slots still hold a firing is not synced yet.
    """
    if doc is None:
        return True
    if doc.get("deleted") and doc.get("slot_spec"):
        return False
    return bool(doc.get("slot_version") == doc["version"])


class Calendar:
    def __init__(
        self,
        schedules: SlotSchedules,
        slots: Slots,
        leases: Leases,
        publisher: Herd,
        default_zone: str,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._schedules = schedules
        self._slots = slots
        self._leases = leases
        self._publisher = publisher
        self._zone = default_zone
        self._clock = clock

    @classmethod
    def for_import(cls, db: AsyncDatabase[Document], settings: Settings) -> Calendar:
        """A calendar for `import_schedules` alone (a migration, a benchmark, a test's herd).

        The one wiring outside `app.py`, for callers outside the service. Its
        publisher is never started: importing publishes nothing.
        """
        return cls(
            SchedulerStore(db),
            SlotStore(db),
            LeaseStore(db[LEASES], timedelta(seconds=settings.scheduler.lease_ttl_s)),
            BulkPublisher(settings),
            settings.default_timezone,
        )

    async def sync(self, schedule_id: str) -> None:
        """Make the slots hold exactly the stored schedule's next firing. Idempotent."""
        if _synced(await self._schedules.raw(schedule_id)):
            return
        shard = shard_of(schedule_id)
        async with self._leases.holding(shard_lease(shard), wait_s=COMMAND_LEASE_WAIT_S):
            doc = await self._schedules.raw(schedule_id)
            if doc is None or _synced(doc):
                return
            now = self._clock()
            minutes = set(await self._slots.minutes(shard))
            after = now
            if doc.get("slot_spec"):
                old = ScheduleSpec.model_validate(doc["slot_spec"])
                held = [m for m in minutes if _fires_in(old, self._zone, m)]
                # A firing the ticker has not reached yet is kept, under the new terms.
                for minute in sorted(m for m in held if m <= now):
                    if await self._slots.holds(minute, shard, schedule_id):
                        after = minute - timedelta(microseconds=1)
                        break
                await self._slots.remove(schedule_id, held)
            spec = ScheduleSpec.model_validate(doc["spec"])
            live = not doc.get("deleted") and spec.enabled
            if live:
                due = timing.next_firing(spec, self._zone, after)
                await self._slots.set_minutes(shard, minutes | {minute_of(due)})
                pending = firing.Pending(schedule_id, doc["tenant_id"], doc["version"], spec, due)
                await self._slots.put(shard, [pending])
            await self._schedules.mark_synced(
                schedule_id, doc["version"], doc["spec"] if live else None
            )

    async def forget_deleted(self) -> int:
        """Take out the firings that schedules deleted before issue 13 left in the slots.

        Until then a delete left its schedule's slot entry, so it kept firing;
        run at start-up, idempotent. Returns how many schedules it cleared.
        """
        deleted = await self._schedules.deleted_with_firings()
        for schedule_id in deleted:
            await self.sync(schedule_id)
        if deleted:
            log.warning("cleared the firings of %d deleted schedules", len(deleted))
        return len(deleted)

    async def import_schedules(self, states: list[ScheduleState], now: datetime) -> None:
        """Bulk-create schedules (a migration, a benchmark): slots first, shard by shard."""
        by_shard: dict[int, list[firing.Pending]] = {}
        for state in states:
            if state.spec.enabled:
                due = timing.next_firing(state.spec, self._zone, now)
                by_shard.setdefault(shard_of(state.schedule_id), []).append(
                    firing.Pending(
                        state.schedule_id, state.tenant_id, state.version, state.spec, due
                    )
                )
        for shard, entries in by_shard.items():
            async with self._leases.holding(shard_lease(shard), wait_s=COMMAND_LEASE_WAIT_S):
                minutes = set(await self._slots.minutes(shard))
                await self._slots.set_minutes(shard, minutes | {minute_of(p.due) for p in entries})
                await self._slots.put(shard, entries)
        await self._schedules.import_many(states)

    async def fire_shard(self, shard: int, lease: Lease, now: datetime) -> int:
        """Fire every due slot of a shard; returns how many runs were fired."""
        fired = 0
        minutes = set(await self._slots.minutes(shard))
        for minute in sorted(m for m in minutes if m <= now):
            entries = await self._slots.read(minute, shard)
            at = self._clock()
            messages: list[Envelope] = []
            following: list[firing.Pending] = []
            timelines: dict[firing.CadenceKey, firing.Timeline] = {}
            due_at: list[datetime] = []
            for pending in entries:
                key = firing.cadence_key(pending.spec, pending.due)
                if key not in timelines:
                    timelines[key] = firing.timeline(pending.spec, pending.due, at, self._zone)
                plan = firing.plan(pending, at, self._zone, timelines[key])
                if plan.fire is not None:
                    messages += firing.due_messages(
                        pending.tenant_id, pending.schedule_id, plan.fire
                    )
                    due_at.append(plan.fire.scheduled_for)
                    fired += 1
                messages += [
                    firing.skipped_message(pending.tenant_id, pending.schedule_id, *skip)
                    for skip in plan.skipped
                ]
                following.append(replace(pending, due=plan.next_due))
            await self._leases.renew(lease)
            await self._publisher.publish(messages)
            published = self._clock()
            for due in due_at:
                FIRING_LATENESS.observe((published - due).total_seconds())
            # New entries and their minutes first, then the fired slot goes:
            # a crash in between fires again (downstream drops it), never loses.
            minutes |= {minute_of(p.due) for p in following}
            await self._slots.set_minutes(shard, minutes)
            await self._slots.put(shard, following)
            await self._leases.renew(lease)
            await self._slots.drop(minute, shard)
            minutes.discard(minute)
            await self._slots.set_minutes(shard, minutes)
            self._log(minute, shard, messages, at)
        return fired

    @staticmethod
    def _log(minute: datetime, shard: int, messages: list[Envelope], at: datetime) -> None:
        skipped = sum(1 for m in messages if isinstance(m, DeliveryStatus) and m.reason)
        due = sum(1 for m in messages if not isinstance(m, DeliveryStatus))
        if due or skipped:
            log.info(
                "slot %s#%02d: %d fired, %d skipped, %.1f s after its minute",
                minute.isoformat(),
                shard,
                due,
                skipped,
                (at - minute).total_seconds(),
            )
