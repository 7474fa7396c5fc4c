"""The scheduler's ports in memory, with the promises of their MongoDB and Kafka adapters.

`MemorySchedules` keeps `SchedulerStore`'s: outputs written with the change
(the outbox) and copied under the command id, the first copy staying; a write
on a stale version (or a create on a taken id) raises `ConcurrentChange`; a
deleted schedule keeps its id, tenant and version, and the slot marks of its
last sync. `MemorySlots`, `MemoryLeases` and `MemoryTimers` keep those of
`SlotStore`, `LeaseStore` and `TimerStore` (see their methods).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from herald.services.scheduler import commands
from herald.services.scheduler.commands import ScheduleState
from herald.services.scheduler.firing import Pending
from herald.services.scheduler.logo_bin import StoredLogo, TrashMark, Verdict, keep_logo
from herald.services.scheduler.ports import (
    Clock,
    ConcurrentChange,
    Lease,
    LeaseLost,
    Output,
    Recorded,
    Stored,
    StoredTenant,
    Written,
)
from herald.services.scheduler.retries import Timer
from herald.services.scheduler.slots import minute_of, shard_of
from herald.services.scheduler.store import OUTBOX_SIZE
from herald.services.scheduler.tenant_commands import TenantState
from herald.services.scheduler.timers import BUCKET, ring_bucket
from herald.shared.contract.identity import ScheduleRef
from herald.shared.contract.messages import (
    AnyCommand,
    CommandRejected,
    DeliveryStatus,
    Envelope,
    LogoUpload,
    RunStatus,
    utcnow,
)
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.contract.tenant_settings import LogoRef
from herald.shared.history import fold
from herald.shared.history.fold import RunRecord


class Crash(Exception):
    """A process dying mid-way, raised by a fake where a test asked for it."""


@dataclass(slots=True)
class _Row:
    state: ScheduleState
    deleted: bool = False
    outbox: list[tuple[str, list[Output]]] = field(default_factory=list)
    #: What the slots hold, as `mark_synced` last recorded it.
    slot_version: int | None = None
    slot_spec: dict[str, Any] | None = None
    #: The batch that saved it last, and its shard (`written_in`).
    written_by: tuple[str, int] | None = None


class MemorySchedules:
    def __init__(self) -> None:
        self.rows: dict[str, _Row] = {}
        self.commands: dict[str, Recorded] = {}
        #: Successful saves, in order: (command id, new state).
        self.saves: list[tuple[str, ScheduleState | None]] = []
        #: Another writer getting in first: the next save runs the first of these, then checks.
        self.races: list[Callable[[], Awaitable[None]]] = []
        self._racing = False
        #: Raised by the next `record_many`, once (a crash between the write and its copy).
        self.fail_next_record: Exception | None = None

    async def read(self, ref: ScheduleRef) -> Stored | None:
        row = self.rows.get(ref.key)
        if row is None:
            return None
        return Stored(row.state, row.deleted, {c: list(o) for c, o in row.outbox}, ref.key)

    async def recorded(self, command_id: str) -> Recorded | None:
        return self.commands.get(command_id)

    async def live_specs(self, tenant_id: str) -> dict[str, ScheduleSpec]:
        return {
            row.state.schedule_id: row.state.spec
            for row in self.rows.values()
            if row.state.tenant_id == tenant_id and not row.deleted
        }

    async def load(self, schedule_id: str, tenant_id: str) -> ScheduleState | None:
        """For tests: the schedule as `tenant_id` sees it."""
        stored = await self.read(ScheduleRef(tenant_id, schedule_id))
        return stored.live() if stored else None

    async def save(
        self,
        previous: ScheduleState | None,
        new: ScheduleState | None,
        *,
        stored_id: str,
        tenant_id: str,
        command_id: str,
        outputs: list[Output],
        batch: str = "a test's",
    ) -> None:
        if self.races and not self._racing:
            self._racing = True  # the race's own save is not raced
            try:
                await self.races.pop(0)()
            finally:
                self._racing = False
        row = self.rows.get(stored_id)
        entry = (command_id, list(outputs))
        if previous is None:
            assert new is not None
            if row is not None:
                raise ConcurrentChange(stored_id)
            self.rows[stored_id] = _Row(new, outbox=[entry])
        else:
            if row is None or row.deleted or row.state.version != previous.version:
                raise ConcurrentChange(stored_id)
            row.outbox = [*row.outbox, entry][-OUTBOX_SIZE:]
            if new is None:
                row.deleted = True
                row.state = replace(row.state, next_run_at=None)
            else:
                row.state = new
        self.rows[stored_id].written_by = (batch, shard_of(stored_id))
        self.saves.append((command_id, new))

    async def record_many(self, records: Sequence[tuple[str, Recorded]]) -> None:
        if self.fail_next_record is not None:
            error, self.fail_next_record = self.fail_next_record, None
            raise error
        for command_id, recorded in records:
            self.commands.setdefault(command_id, recorded)

    async def raw(self, stored_id: str) -> dict[str, Any] | None:
        return self._document(stored_id)

    def _document(self, stored_id: str) -> dict[str, Any] | None:
        row = self.rows.get(stored_id)
        if row is None:
            return None
        doc = {
            "_id": stored_id,
            "schedule_id": row.state.schedule_id,
            "tenant_id": row.state.tenant_id,
            "spec": row.state.spec.model_dump(mode="json"),
            "version": row.state.version,
            "next_run_at": row.state.next_run_at,
            "deleted": row.deleted,
        }
        synced = {"slot_version": row.slot_version, "slot_spec": row.slot_spec}
        return doc if row.slot_version is None else doc | synced

    async def written_in(self, batch: str, shard: int) -> list[dict[str, Any]]:
        found = [i for i, row in self.rows.items() if row.written_by == (batch, shard)]
        return [doc for doc in map(self._document, found) if doc is not None]

    async def mark_synced(self, marks: Sequence[tuple[str, int, dict[str, Any] | None]]) -> None:
        for stored_id, version, spec in marks:
            row = self.rows.get(stored_id)
            if row is not None:
                row.slot_version, row.slot_spec = version, spec

    async def deleted_with_firings(self) -> list[str]:
        return [i for i, row in self.rows.items() if row.deleted and row.slot_spec]

    async def import_many(self, states: list[ScheduleState]) -> None:
        """Stores the new ones; a taken id raises once the rest are in, like `insert_many`."""
        taken = [s.ref.key for s in states if s.ref.key in self.rows]
        for state in states:
            spec = state.spec.model_dump(mode="json")
            self.rows.setdefault(
                state.ref.key, _Row(state, slot_version=state.version, slot_spec=spec)
            )
        if taken:
            raise ConcurrentChange(", ".join(taken))


#: A step of `MemoryLogos` a test acts at: (operation, "before" or "after").
Step = tuple[str, str]


class MemoryLogos:
    """The logos' `LogoStorage` in memory: files by id (each upload numbered like GridFS's
    `attempt`), marks and verdicts; `names` reads the tenants' settings it is given.

    `at[(op, "before"|"after")]` runs once at that step of an operation (a crash, another
    actor's whole work: an interleaving); `watch` runs before every operation.
    """

    def __init__(self, names: Callable[[], dict[str, str]]) -> None:
        self.logos: dict[str, bytes] = {}
        self.attempts: dict[str, int] = {}
        self.unused: dict[str, datetime] = {}
        self.trash: dict[str, TrashMark] = {}
        self.verdict: dict[str, Verdict] = {}
        self._names = names
        self._uploads = 0
        self.at: dict[Step, Callable[[], Awaitable[None]]] = {}
        self.watch: Callable[[str], None] | None = None
        #: Every operation, in order.
        self.log: list[str] = []

    async def _step(self, op: str, when: str) -> None:
        if when == "before":
            self.log.append(op)
            if self.watch is not None:
                self.watch(op)
        action = self.at.pop((op, when), None)
        if action is not None:
            await action()

    def _logo(self, logo_id: str) -> StoredLogo | None:
        if logo_id not in self.logos:
            return None
        return StoredLogo(logo_id, self.attempts.get(logo_id), self.unused.get(logo_id))

    async def stored(self) -> list[StoredLogo]:
        await self._step("stored", "before")
        found = [logo for i in list(self.logos) if (logo := self._logo(i)) is not None]
        await self._step("stored", "after")
        return found

    async def find(self, logo_id: str) -> StoredLogo | None:
        await self._step("find", "before")
        found = self._logo(logo_id)
        await self._step("find", "after")
        return found

    async def upload(self, upload: LogoUpload) -> None:
        await self._step("upload", "before")
        asset_id = upload.stored_as().asset_id
        if asset_id not in self.logos:
            self._uploads += 1
            self.logos[asset_id] = upload.data
            self.attempts[asset_id] = self._uploads
            self.unused.pop(asset_id, None)
        await self._step("upload", "after")

    async def remove(self, logo: StoredLogo) -> None:
        await self._step("remove", "before")
        if logo.logo_id in self.logos and self.attempts.get(logo.logo_id) == logo.attempt:
            del self.logos[logo.logo_id]
            self.unused.pop(logo.logo_id, None)
        await self._step("remove", "after")

    async def set_unused_since(self, logo: StoredLogo, since: datetime | None) -> None:
        await self._step("set_unused_since", "before")
        if logo.logo_id in self.logos:
            if since is None:
                self.unused.pop(logo.logo_id, None)
            else:
                self.unused[logo.logo_id] = since
        await self._step("set_unused_since", "after")

    async def names(self) -> dict[str, str]:
        await self._step("names", "before")
        found = self._names()
        await self._step("names", "after")
        return found

    async def marks(self, logo_id: str | None = None) -> list[TrashMark]:
        await self._step("marks", "before")
        found = [m for m in self.trash.values() if logo_id in (None, m.logo_id)]
        await self._step("marks", "after")
        return found

    async def add_mark(self, mark: TrashMark) -> None:
        await self._step("add_mark", "before")
        assert mark.mark_id not in self.trash
        self.trash[mark.mark_id] = mark
        await self._step("add_mark", "after")

    async def drop_mark(self, mark_id: str) -> None:
        await self._step("drop_mark", "before")
        self.trash.pop(mark_id, None)
        await self._step("drop_mark", "after")

    async def verdicts(self) -> dict[str, Verdict]:
        await self._step("verdicts", "before")
        found = dict(self.verdict)
        await self._step("verdicts", "after")
        return found

    async def decide(self, mark_id: str, verdict: Verdict) -> Verdict:
        await self._step("decide", "before")
        standing = self.verdict.setdefault(mark_id, verdict)
        await self._step("decide", "after")
        return standing

    async def drop_verdict(self, mark_id: str) -> None:
        await self._step("drop_verdict", "before")
        self.verdict.pop(mark_id, None)
        await self._step("drop_verdict", "after")


class MemoryTenants:
    """The `TenantSettingsStore` in memory; logos are kept by content like GridFS's ids, by
    the real `keep_logo` on `MemoryLogos`."""

    def __init__(self) -> None:
        self.rows: dict[str, StoredTenant] = {}
        self.bin = MemoryLogos(self.names)
        self.logos: dict[str, bytes] = self.bin.logos
        #: Every `put_logo`, in order (a stored logo is put again once its settings name it).
        self.logo_puts: list[str] = []
        #: Raised by the next `save`, once, after writing (a crash before the publish).
        self.crash_after_save: Exception | None = None
        #: Run (and awaited, if it gives an awaitable) by the next `save`, once, before
        #: writing (a crash, a clean-up meanwhile).
        self.before_save: Callable[[], object] | None = None
        self.reads: Counter[str] = Counter()

    def names(self) -> dict[str, str]:
        """The logo each tenant's stored settings name."""
        return {
            tenant: row.state.branding.logo.asset_id
            for tenant, row in self.rows.items()
            if row.state.branding is not None and row.state.branding.logo is not None
        }

    async def read(self, tenant_id: str) -> StoredTenant | None:
        self.reads[tenant_id] += 1
        await asyncio.sleep(0)  # a round trip: concurrent readers overlap
        return self.rows.get(tenant_id)

    async def save(
        self, previous: TenantState | None, new: TenantState, command_id: str, outputs: list[Output]
    ) -> None:
        if self.before_save is not None:
            hook, self.before_save = self.before_save, None
            if inspect.isawaitable(done := hook()):
                await done
        row = self.rows.get(new.tenant_id)
        if (row.state.version if row else None) != (previous.version if previous else None):
            raise ConcurrentChange(new.tenant_id)
        outbox = dict(list((row.outbox if row else {}).items())[-(OUTBOX_SIZE - 1) :])
        self.rows[new.tenant_id] = StoredTenant(new, outbox | {command_id: list(outputs)})
        if self.crash_after_save is not None:
            error, self.crash_after_save = self.crash_after_save, None
            raise error

    async def put_logo(self, upload: LogoUpload) -> LogoRef:
        self.logo_puts.append(upload.stored_as().asset_id)
        return await keep_logo(self.bin, upload)


class MemoryCalendar:
    """`CalendarSync` as a log of the schedules synced."""

    def __init__(self) -> None:
        self.synced: list[str] = []
        #: The `sync_many` calls, each with its schedules, and what their batch saved.
        self.calls: list[list[str]] = []
        self.written: list[Written | None] = []

    async def sync_many(self, schedule_ids: Iterable[str], written: Written | None = None) -> None:
        self.calls.append(list(schedule_ids))
        self.written.append(written)
        self.synced.extend(self.calls[-1])


class RecordingBodies:
    """`Bodies` as a list of the (topic, key, body) triples published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, str]] = []
        #: Raised by the next publish, once (a broker that refuses, a crash).
        self.fail_next: Exception | None = None

    async def publish_bodies(self, bodies: Sequence[tuple[str, str, str]]) -> None:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        self.published.extend(bodies)


class RecordingHerd:
    """`Herd` as a list of the messages published."""

    def __init__(self) -> None:
        self.published: list[Envelope] = []

    async def publish(self, messages: Sequence[Envelope]) -> None:
        self.published.extend(messages)


@dataclass
class MemoryStageQueues:
    """`StageQueues`: the (status, schedule id) pairs whose message a stage has yet to read."""

    waiting: set[tuple[RunStatus, str]] = field(default_factory=set)

    async def holds(self, status: RunStatus, schedule_id: str) -> bool:
        return (status, schedule_id) in self.waiting


class MemoryRunHistory:
    """`RunHistory` in a dict: the same fold as `history.store`, one record per run id."""

    def __init__(self) -> None:
        self.records: dict[str, RunRecord] = {}
        self.writes = 0
        #: Calls of `project_runs`: each is one read and one bulk write in `history.store`.
        self.batches = 0

    async def project_runs(self, events: Sequence[DeliveryStatus]) -> fold.Projected:
        self.batches += 1
        by_run: dict[str, list[DeliveryStatus]] = {}
        for event in events:
            by_run.setdefault(event.run_id, []).append(event)
        projected = fold.Projected({}, [])
        for run_id, run_events in by_run.items():
            before = self.records.get(run_id)
            try:
                record = projected.outcomes[run_id] = await self.project_run(run_events)
            except ValueError as exc:
                projected.outcomes[run_id] = exc
                continue
            projected.fresh.extend(fold.added(before, record))
            if before is None:
                projected.created.add(run_id)
        return projected

    async def project_run(self, events: Sequence[DeliveryStatus]) -> RunRecord:
        record = self.records.get(events[0].run_id)
        updated = fold.apply_all(record, events)
        if updated is None:
            assert record is not None
            return record
        self.records[updated.run_id] = updated
        self.writes += 1
        return updated

    async def get_run(self, tenant_id: str, run_id: str) -> RunRecord | None:
        record = self.records.get(run_id)
        return record if record is not None and record.tenant_id == tenant_id else None


class MemoryTimers:
    """`TimerBuckets` in dicts by run attempt: the due time asked for, and the bucket filed in.

    As in `TimerStore`, an arm never files a timer into a bucket at or before
    the last one claimed: it goes to the bucket after.
    """

    def __init__(self) -> None:
        self.armed: dict[tuple[str, int], Timer] = {}
        self.buckets: dict[tuple[str, int], datetime] = {}
        self.done: datetime | None = None
        self.claimed: datetime | None = None

    async def arm(self, timer: Timer, now: datetime) -> None:
        bucket = ring_bucket(timer.due, now)
        if self.claimed is not None and self.claimed >= bucket:
            bucket = self.claimed + BUCKET
        self.armed[timer.run_id, timer.attempt] = timer
        self.buckets[timer.run_id, timer.attempt] = bucket

    async def disarm(self, run_id: str, attempt: int) -> None:
        self.armed.pop((run_id, attempt), None)
        self.buckets.pop((run_id, attempt), None)

    async def arm_all(self, timers: Sequence[Timer], now: datetime, *, first: bool = False) -> None:
        for timer in timers:
            if not (first and (timer.run_id, timer.attempt) in self.armed):
                await self.arm(timer, now)

    async def disarm_all(self, attempts: Sequence[tuple[str, int]]) -> None:
        for run_id, attempt in attempts:
            await self.disarm(run_id, attempt)

    def _filed(self, rings: Callable[[datetime], bool]) -> list[Timer]:
        return [self.armed[key] for key, bucket in self.buckets.items() if rings(bucket)]

    async def ringing(self, bucket: datetime) -> list[Timer]:
        return self._filed(lambda filed: filed == bucket)

    async def ringing_until(self, bucket: datetime) -> list[Timer]:
        return self._filed(lambda filed: filed <= bucket)

    async def cursor(self) -> datetime | None:
        return self.done

    async def claim(self, bucket: datetime, done: datetime) -> None:
        self.done, self.claimed = done, bucket

    async def set_cursor(self, bucket: datetime) -> None:
        self.done = self.claimed = bucket


class MemorySlots:
    """`Slots` in dicts: each (minute, shard) slot's entries by schedule, each shard's minutes."""

    def __init__(self) -> None:
        self.slots: dict[tuple[datetime, int], dict[str, Pending]] = {}
        self.pending: dict[int, list[datetime]] = {}
        #: Raised by the next `drop`, once (a crash after a slot's messages went out).
        self.fail_next_drop: Exception | None = None

    async def next_due(self) -> dict[int, datetime]:
        return {shard: minutes[0] for shard, minutes in self.pending.items() if minutes}

    async def minutes(self, shard: int) -> list[datetime]:
        return list(self.pending.get(shard, []))

    async def set_minutes(self, shard: int, minutes: Iterable[datetime]) -> None:
        self.pending[shard] = sorted(set(minutes))

    async def read(self, minute: datetime, shard: int) -> list[Pending]:
        return list(self.slots.get((minute, shard), {}).values())

    async def put(self, shard: int, entries: Iterable[Pending]) -> set[datetime]:
        written: set[datetime] = set()
        for pending in entries:
            minute = minute_of(pending.due)
            self.slots.setdefault((minute, shard), {})[pending.slot_key] = pending
            written.add(minute)
        return written

    async def replace(self, minute: datetime, shard: int, entries: Iterable[Pending]) -> None:
        kept = {p.slot_key: p for p in entries}
        if kept:
            self.slots[(minute, shard)] = kept
        else:
            self.slots.pop((minute, shard), None)

    async def drop(self, minute: datetime, shard: int) -> None:
        if self.fail_next_drop is not None:
            error, self.fail_next_drop = self.fail_next_drop, None
            raise error
        self.slots.pop((minute, shard), None)

    def entries(self) -> list[Pending]:
        """Every pending firing of every slot."""
        return [p for entries in self.slots.values() for p in entries.values()]


@dataclass(slots=True)
class _Generation:
    lease: Lease
    until: datetime
    released: bool = False


class MemoryLeases:
    """`Leases` of one replica over generations shared with its `replica()`s.

    As in `LeaseStore`: a lease is free once released or past its ttl, each
    taking is the next generation, and the holder of an older one learns it
    lost the lease on `renew`; its `release` then changes nothing.
    """

    def __init__(
        self,
        clock: Clock = utcnow,
        ttl: timedelta = timedelta(seconds=30),
        latest: dict[str, _Generation] | None = None,
    ) -> None:
        self._clock = clock
        self._ttl = ttl
        self.latest: dict[str, _Generation] = {} if latest is None else latest
        self.owner = uuid.uuid4().hex[:12]

    def replica(self) -> MemoryLeases:
        """Another replica (another owner) contending for the same leases."""
        return MemoryLeases(self._clock, self._ttl, self.latest)

    def _current(self, lease: Lease) -> _Generation | None:
        latest = self.latest.get(lease.name)
        return latest if latest is not None and latest.lease == lease else None

    async def acquire(self, name: str, now: datetime | None = None) -> Lease | None:
        now = now or self._clock()
        latest = self.latest.get(name)
        if latest is not None and not latest.released and latest.until > now:
            return None
        generation = 0 if latest is None else latest.lease.generation + 1
        lease = Lease(name, generation, self.owner)
        self.latest[name] = _Generation(lease, now + self._ttl)
        return lease

    async def renew(self, lease: Lease) -> None:
        current = self._current(lease)
        if current is None:
            raise LeaseLost(lease.name)
        current.until = self._clock() + self._ttl

    async def release(self, lease: Lease) -> None:
        if (current := self._current(lease)) is not None:
            current.released = True

    @contextlib.asynccontextmanager
    async def holding(self, name: str, *, wait_s: float) -> AsyncIterator[Lease]:
        """Waits for no one: no other task frees a lease while a test's step runs."""
        lease = await self.acquire(name)
        if lease is None:
            raise TimeoutError(f"lease {name} is busy")
        try:
            yield lease
        finally:
            await self.release(lease)


def keyed(raw: bytes) -> tuple[bytes | None, bytes]:
    """A command record as a well-behaved client sends it: keyed by its schedule id."""
    try:
        schedule_id = json.loads(raw).get("schedule_id")
    except (ValueError, AttributeError, RecursionError):
        schedule_id = None
    key = schedule_id.encode("utf-8", "surrogatepass") if isinstance(schedule_id, str) else None
    return key, raw


def parse_keyed(raw: bytes) -> AnyCommand | CommandRejected | commands.Unanswerable:
    """`commands.parse` of a command keyed as a client keys it."""
    key, _ = keyed(raw)
    return commands.parse(raw, key)
