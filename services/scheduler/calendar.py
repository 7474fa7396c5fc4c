"""Keeps each schedule's next firing in the slots and fires the slots that are due.

Two writers touch a shard's slots: a command that changes a schedule, and the
ticker that fires the shard. Across replicas, the shard's lease makes them take
turns; within one replica, so does the shard's `_Gate`. The ticker fires a
slot a chunk at a time and, when a command waits for the shard, settles what
it fired so far and lets the command in: a command is answered in a chunk's
time, not a herd's, and a deleted or changed schedule never fires on old terms.
The calendar runs on ports (`ports.Slots`, `ports.Leases`, `ports.Herd`,
`ports.SlotSchedules`); `app.py` and `for_import` wire the adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from herald.services.scheduler import firing, timing
from herald.services.scheduler.commands import ScheduleState
from herald.services.scheduler.ports import (
    Clock,
    Herd,
    Lease,
    Leases,
    Slots,
    SlotSchedules,
    Written,
)
from herald.services.scheduler.slots import SlotStore, minute_of, shard_lease, shard_of
from herald.services.scheduler.store import SchedulerStore, schedule_id_of
from herald.shared.contract.messages import DeliveryStatus, Envelope, utcnow
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.contract.tolerance import TOLERANT
from herald.shared.runtime.kafka import BulkPublisher
from herald.shared.runtime.leases import LEASES, LeaseStore
from herald.shared.runtime.metrics import FIRING_LATENESS
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from herald.shared.runtime.turns import in_turns

log = logging.getLogger("herald.scheduler.calendar")

#: A command waits at most this long for another replica to finish with a shard.
COMMAND_LEASE_WAIT_S = 60.0
#: Runs fired between two looks at whether a command waits for the shard.
FIRE_CHUNK = 250
#: Runs planned between two yields to the event loop: commands share the process.
_PLAN_STEP = 50
#: Shards synced at once by one `sync_many`.
_SYNC_CONCURRENCY = 32
_LEASE_POLL_S = 0.05
#: The longest a chunk of a herd waits for commands being handled (see `CommandsFirst`).
COMMANDS_FIRST_S = 0.5
_COMMANDS_POLL_S = 0.005


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


@dataclass(slots=True)
class _Gate:
    """One shard's turn within this process: its ticker and its commands take turns."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Commands waiting for their turn: the ticker settles and lets them in.
    waiting: int = 0
    #: The lease the ticker holds while it fires the shard; commands write under it.
    firing: Lease | None = None


@dataclass(slots=True)
class CommandsFirst:
    """Commands go before a herd's next chunk.

    Firing a herd keeps the process's event loop busy; a command beside it got a
    slice of the loop per step, and waited seconds. While a batch of commands is
    handled, each shard's next chunk waits, for `COMMANDS_FIRST_S` at most, so
    that a flood of commands slows a herd but never stops it.
    """

    handling: int = 0

    @contextlib.asynccontextmanager
    async def handling_commands(self) -> AsyncIterator[None]:
        self.handling += 1
        try:
            yield
        finally:
            self.handling -= 1

    async def before_chunk(self, gate: _Gate) -> None:
        """Wait while commands are handled, unless one waits for this very shard."""
        await self._while_handling(lambda: gate.waiting > 0)

    async def before_projection(self) -> None:
        """The history's writes share the database with commands: after a herd, its
        statuses would halve the rate of creates."""
        await self._while_handling(lambda: False)

    async def _while_handling(self, unless: Callable[[], bool]) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + COMMANDS_FIRST_S
        # Polled: two conditions (no batch left, `unless`) and a deadline, looked at every
        # few milliseconds for half a second at most.
        while self.handling and not unless() and loop.time() < until:  # noqa: ASYNC110
            await asyncio.sleep(_COMMANDS_POLL_S)


@dataclass(slots=True)
class _Slot:
    """A slot being fired: what is left to fire, and the next firings of what was fired."""

    shard: int
    minute: datetime
    left: list[firing.Pending]
    following: list[firing.Pending] = field(default_factory=list)
    fired: int = 0


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
        self._gates: defaultdict[int, _Gate] = defaultdict(_Gate)
        self.commands_first = CommandsFirst()

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

    def sharing_turns(self, schedules: SlotSchedules, slots: Slots, leases: Leases) -> Calendar:
        """This calendar on other adapters, taking turns at the shards with this one.

        The commands sync through their own database client: waiting in the
        ticker's pool behind a herd's slot writes, a command waited for the herd.
        """
        twin = Calendar(schedules, slots, leases, self._publisher, self._zone, clock=self._clock)
        twin._gates, twin.commands_first = self._gates, self.commands_first
        return twin

    @contextlib.asynccontextmanager
    async def _turn(self, shard: int) -> AsyncIterator[_Gate]:
        """This process's turn at the shard, first come first served."""
        gate = self._gates[shard]
        gate.waiting += 1
        try:
            await gate.lock.acquire()
        finally:
            gate.waiting -= 1
        try:
            yield gate
        finally:
            gate.lock.release()

    @contextlib.asynccontextmanager
    async def _holding(self, shard: int) -> AsyncIterator[None]:
        """The shard's slots to write: this process's turn, and the shard's lease.

        When this process's ticker is firing the shard, its lease serves (the
        ticker waits for its turn meanwhile); otherwise the lease is taken, and
        waited for while another replica holds it. The turn is never held while
        waiting, so the ticker's own firing is never kept waiting for it.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + COMMAND_LEASE_WAIT_S
        name = shard_lease(shard)
        while True:
            async with self._turn(shard) as gate:
                if gate.firing is not None:
                    yield
                    return
                lease = await self._leases.acquire(name)
                if lease is not None:
                    try:
                        yield
                    finally:
                        await self._leases.release(lease)
                    return
            if loop.time() > deadline:
                raise TimeoutError(f"lease {name} is busy")
            await asyncio.sleep(_LEASE_POLL_S)

    async def sync(self, stored_id: str) -> None:
        """Make the slots hold exactly the stored schedule's next firing. Idempotent."""
        await self.sync_many([stored_id])

    async def sync_many(self, stored_ids: Iterable[str], written: Written | None = None) -> None:
        """`sync` for many schedules: one turn and lease per shard, each slot read and
        written once, the shards side by side.

        Each schedule is read under its shard's lease only: read before as well, it
        would cost a round trip more for every command, to spare a repeat the lease.
        """
        by_shard: dict[int, list[str]] = {}
        for stored_id in dict.fromkeys(stored_ids):
            by_shard.setdefault(shard_of(stored_id), []).append(stored_id)
        room = asyncio.Semaphore(_SYNC_CONCURRENCY)

        async def sync_shard(shard: int, shard_ids: list[str]) -> None:
            async with room, self._holding(shard):
                stored, listed = await asyncio.gather(
                    self._read(shard, shard_ids, written), self._slots.minutes(shard)
                )
                await self._sync_shard(shard, stored, listed)

        await asyncio.gather(*(sync_shard(shard, i) for shard, i in by_shard.items()))

    async def _read(
        self, shard: int, stored_ids: list[str], written: Written | None
    ) -> list[dict[str, Any]]:
        """The shard's schedules as they are now: those `written` saved in one query.

        One of those that another writer changed since is not found: it is that
        writer's to sync, and it will, under this lease, after this sync.
        """
        saved = written.stored_ids if written is not None else frozenset()
        apart = [i for i in stored_ids if i not in saved]
        reads = [self._schedules.raw(i) for i in apart]
        found = [doc for doc in await asyncio.gather(*reads) if doc is not None]
        if written is not None and len(apart) < len(stored_ids):
            found += await self._schedules.written_in(written.batch, shard)
        return found

    async def _sync_shard(
        self, shard: int, stored: list[dict[str, Any]], listed: Iterable[datetime]
    ) -> None:
        """Under the shard's turn and lease: change the slots for these schedules at once."""
        docs = [doc for doc in stored if not _synced(doc)]
        if not docs:
            return
        now = self._clock()
        minutes = set(listed)
        slots: dict[datetime, dict[str, firing.Pending]] = {}

        async def slot(minute: datetime) -> dict[str, firing.Pending]:
            if minute not in slots:
                entries = await self._slots.read(minute, shard)
                slots[minute] = {p.slot_key: p for p in entries}
            return slots[minute]

        changed: set[datetime] = set()
        marks: list[tuple[str, int, dict[str, Any] | None]] = []
        for doc in docs:
            stored_id = doc["_id"]
            after = now
            if doc.get("slot_spec"):
                old = ScheduleSpec.model_validate(doc["slot_spec"], context=TOLERANT)
                for minute in sorted(m for m in minutes if _fires_in(old, self._zone, m)):
                    if (await slot(minute)).pop(stored_id, None) is None:
                        continue
                    changed.add(minute)
                    # A firing the ticker has not reached yet is kept, under the new terms.
                    if minute <= now and after == now:
                        after = minute - timedelta(microseconds=1)
            spec = ScheduleSpec.model_validate(doc["spec"], context=TOLERANT)
            live = not doc.get("deleted") and spec.enabled
            if live:
                due = timing.next_firing(spec, self._zone, after)
                pending = firing.Pending(
                    schedule_id_of(doc),
                    doc["tenant_id"],
                    doc["version"],
                    spec,
                    due,
                    stored_id=stored_id,
                )
                (await slot(minute_of(due)))[stored_id] = pending
                changed.add(minute_of(due))
            marks.append((stored_id, doc["version"], doc["spec"] if live else None))
        # The minutes first: a slot nobody lists would never fire.
        if changed - minutes:
            await self._slots.set_minutes(shard, minutes | changed)
        await asyncio.gather(
            *(self._slots.replace(m, shard, slots[m].values()) for m in sorted(changed))
        )
        await self._schedules.mark_synced(marks)

    async def forget_deleted(self) -> int:
        """Take out the firings that schedules deleted before issue 13 left in the slots.

        Until then a delete left its schedule's slot entry, so it kept firing;
        run at start-up, idempotent. Returns how many schedules it cleared.
        """
        deleted = await self._schedules.deleted_with_firings()
        await self.sync_many(deleted)
        if deleted:
            log.warning("cleared the firings of %d deleted schedules", len(deleted))
        return len(deleted)

    async def import_schedules(self, states: list[ScheduleState], now: datetime) -> None:
        """Bulk-create schedules (a migration, a benchmark): slots first, shard by shard."""
        by_shard: dict[int, list[firing.Pending]] = {}
        for state in states:
            if state.spec.enabled:
                due = timing.next_firing(state.spec, self._zone, now)
                by_shard.setdefault(shard_of(state.ref.key), []).append(
                    firing.Pending(
                        state.schedule_id, state.tenant_id, state.version, state.spec, due
                    )
                )
        for shard, entries in by_shard.items():
            async with self._holding(shard):
                minutes = set(await self._slots.minutes(shard))
                await self._slots.set_minutes(shard, minutes | {minute_of(p.due) for p in entries})
                await self._slots.put(shard, entries)
        await self._schedules.import_many(states)

    async def fire_shard(self, shard: int, lease: Lease, now: datetime) -> int:
        """Fire every due slot of a shard, holding its lease; returns how many runs were fired.

        A slot goes a chunk at a time. When a command waits for the shard, what
        was fired is settled and the command goes first; the slot is then read
        again, as the command left it.
        """
        gate = self._gates[shard]
        gate.firing = lease
        fired = 0
        try:
            while True:
                async with self._turn(shard):
                    minutes = set(await self._slots.minutes(shard))
                    due = [m for m in minutes if m <= now]
                    if not due:
                        return fired
                    minute = min(due)
                    slot = _Slot(shard, minute, await self._slots.read(minute, shard))
                    # At least a chunk a turn: commands never hold up a firing for good.
                    while slot.left:
                        await self.commands_first.before_chunk(gate)
                        await self._fire_chunk(slot, lease)
                        if gate.waiting:
                            break
                    # Still this replica's shard? A publish can outlast the lease (its
                    # timeout is longer), and a new holder may be writing the slots.
                    await self._leases.renew(lease)
                    await self._settle(slot, minutes)
                    fired += slot.fired
        finally:
            gate.firing = None

    async def _fire_chunk(self, slot: _Slot, lease: Lease) -> None:
        """Publish the next `FIRE_CHUNK` entries' runs; their next firings wait in `slot`."""
        chunk, slot.left = slot.left[:FIRE_CHUNK], slot.left[FIRE_CHUNK:]
        at = self._clock()
        messages: list[Envelope] = []
        timelines: dict[firing.CadenceKey, firing.Timeline] = {}
        due_at: list[datetime] = []
        async for pending in in_turns(chunk, _PLAN_STEP):
            key = firing.cadence_key(pending.spec, pending.due)
            if key not in timelines:
                timelines[key] = firing.timeline(pending.spec, pending.due, at, self._zone)
            plan = firing.plan(pending, at, self._zone, timelines[key])
            if plan.fire is not None:
                messages += firing.due_messages(pending.tenant_id, pending.schedule_id, plan.fire)
                due_at.append(plan.fire.scheduled_for)
            messages += [
                firing.skipped_message(pending.tenant_id, pending.schedule_id, *skip)
                for skip in plan.skipped
            ]
            slot.following.append(replace(pending, due=plan.next_due))
        await self._leases.renew(lease)
        await self._publisher.publish(messages)
        published = self._clock()
        for due in due_at:
            FIRING_LATENESS.observe((published - due).total_seconds())
        slot.fired += len(due_at)
        self._log(slot.minute, slot.shard, messages, at)

    async def _settle(self, slot: _Slot, minutes: set[datetime]) -> None:
        """Record the fired entries' next firings, then take them out of their slot.

        In that order: a crash in between fires them again (downstream drops
        the repeats), never loses one.
        """
        if slot.following:
            minutes |= {minute_of(p.due) for p in slot.following}
            await self._slots.set_minutes(slot.shard, minutes)
            await self._slots.put(slot.shard, slot.following)
            if slot.left:
                await self._slots.replace(slot.minute, slot.shard, slot.left)
        if not slot.left:
            await self._slots.drop(slot.minute, slot.shard)
            minutes.discard(slot.minute)
            await self._slots.set_minutes(slot.shard, minutes)

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
