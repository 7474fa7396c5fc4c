"""The scheduler's ports in memory, with the promises of their MongoDB and Kafka adapters.

`MemorySchedules` keeps `SchedulerStore`'s: outputs written with the change
(the outbox) and copied under the command id, the first copy staying; a write
on a stale version (or a create on a taken id) raises `ConcurrentChange`; a
deleted schedule keeps its id, tenant and version.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from herald.services.scheduler.commands import ScheduleState
from herald.services.scheduler.ports import ConcurrentChange, Output, Recorded
from herald.services.scheduler.retries import Timer
from herald.services.scheduler.store import OUTBOX_SIZE
from herald.shared.contract.messages import DeliveryStatus, Envelope
from herald.shared.history import fold
from herald.shared.history.fold import RunRecord


class Crash(Exception):
    """A process dying mid-way, raised by a fake where a test asked for it."""


@dataclass(slots=True)
class _Row:
    state: ScheduleState
    deleted: bool = False
    outbox: list[tuple[str, list[Output]]] = field(default_factory=list)


class MemorySchedules:
    def __init__(self) -> None:
        self.rows: dict[str, _Row] = {}
        self.commands: dict[str, Recorded] = {}
        #: Successful saves, in order: (command id, new state).
        self.saves: list[tuple[str, ScheduleState | None]] = []
        #: Another writer getting in first: the next save runs the first of these, then checks.
        self.races: list[Callable[[], Awaitable[None]]] = []
        self._racing = False
        #: Raised by the next `record`, once (a crash between the write and its copy).
        self.fail_next_record: Exception | None = None

    async def recorded(self, command_id: str, schedule_id: str) -> Recorded | None:
        if command_id in self.commands:
            return self.commands[command_id]
        row = self.rows.get(schedule_id)
        for entry_id, outputs in row.outbox if row else []:
            if entry_id == command_id:
                assert row is not None
                await self.record(command_id, row.state.tenant_id, outputs)
                return Recorded(row.state.tenant_id, outputs)
        return None

    async def load(self, schedule_id: str, tenant_id: str) -> ScheduleState | None:
        row = self.rows.get(schedule_id)
        if row is None or row.deleted or row.state.tenant_id != tenant_id:
            return None
        return row.state

    async def exists(self, schedule_id: str) -> bool:
        return schedule_id in self.rows

    async def save(
        self,
        previous: ScheduleState | None,
        new: ScheduleState | None,
        *,
        schedule_id: str,
        tenant_id: str,
        command_id: str,
        outputs: list[Output],
    ) -> None:
        if self.races and not self._racing:
            self._racing = True  # the race's own save is not raced
            try:
                await self.races.pop(0)()
            finally:
                self._racing = False
        row = self.rows.get(schedule_id)
        entry = (command_id, list(outputs))
        if previous is None:
            assert new is not None
            if row is not None:
                raise ConcurrentChange(schedule_id)
            self.rows[schedule_id] = _Row(new, outbox=[entry])
        else:
            if row is None or row.deleted or row.state.version != previous.version:
                raise ConcurrentChange(schedule_id)
            row.outbox = [*row.outbox, entry][-OUTBOX_SIZE:]
            if new is None:
                row.deleted = True
                row.state = replace(row.state, next_run_at=None)
            else:
                row.state = new
        self.saves.append((command_id, new))

    async def record(self, command_id: str, tenant_id: str, outputs: list[Output]) -> None:
        if self.fail_next_record is not None:
            error, self.fail_next_record = self.fail_next_record, None
            raise error
        self.commands.setdefault(command_id, Recorded(tenant_id, list(outputs)))


class MemoryCalendar:
    """`CalendarSync` as a log of the schedules synced."""

    def __init__(self) -> None:
        self.synced: list[str] = []

    async def sync(self, schedule_id: str) -> None:
        self.synced.append(schedule_id)


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


class MemoryRunHistory:
    """`RunHistory` in a dict: the same fold as `history.store`, one record per run id."""

    def __init__(self) -> None:
        self.records: dict[str, RunRecord] = {}
        self.writes = 0

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
    """`Timers` in a dict by run attempt, keeping the due time asked for."""

    def __init__(self) -> None:
        self.armed: dict[tuple[str, int], Timer] = {}

    async def arm(self, timer: Timer, now: datetime) -> None:
        self.armed[timer.run_id, timer.attempt] = timer

    async def disarm(self, run_id: str, attempt: int) -> None:
        self.armed.pop((run_id, attempt), None)
