"""One scheduler deployment in memory, for the calendar's and the ticker's tests.

The stores (schedules, slots, timers, history) and the herd are shared, as
the database and Kafka are; each replica has its own leases' owner, calendar
and ticker. Time moves only when a test moves `clock`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from herald.services.scheduler.calendar import Calendar
from herald.services.scheduler.command_handling import CommandHandler
from herald.services.scheduler.slots import SlotStore, shard_of
from herald.services.scheduler.store import SchedulerStore
from herald.services.scheduler.ticker import Ticker
from herald.shared.contract.identity import ScheduleRef
from herald.shared.contract.messages import Command, DeliveryStatus, ReportDue, RunStatus
from herald.shared.contract.topics import Topics
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runtime.settings import Settings
from tests.fakes.mailer import Clock
from tests.fakes.scheduler import (
    MemoryLeases,
    MemoryRunHistory,
    MemorySchedules,
    MemorySlots,
    MemoryStageQueues,
    MemoryTenants,
    MemoryTimers,
    RecordingBodies,
    RecordingHerd,
    keyed,
)

LEASE_TTL = timedelta(seconds=30)
ZONE = "UTC"


def one_shard(count: int, tenant_id: str = "acme") -> list[str]:
    """Schedule ids of the tenant that share a shard, so one slot holds them all."""

    def shard(schedule_id: str) -> int:
        return shard_of(ScheduleRef(tenant_id, schedule_id).key)

    ids = (f"s-{n}" for n in itertools.count())
    first = next(ids)
    return [first, *itertools.islice((i for i in ids if shard(i) == shard(first)), count - 1)]


@dataclass(frozen=True, slots=True)
class Replica:
    leases: MemoryLeases
    calendar: Calendar
    ticker: Ticker


class World:
    def __init__(
        self,
        now: datetime,
        schedules: MemorySchedules | SchedulerStore | None = None,
        slots: MemorySlots | SlotStore | None = None,
        herd: RecordingHerd | None = None,
    ) -> None:
        """In memory, unless given the real schedules and slots (an integration test's)."""
        self.clock = Clock(now)
        self.schedules = schedules or MemorySchedules()
        self.slots = slots or MemorySlots()
        self.timers = MemoryTimers()
        self.history = MemoryRunHistory()
        self.herd = herd or RecordingHerd()
        self.queues = MemoryStageQueues()
        #: What the commands published: replies and effects.
        self.bodies = RecordingBodies()
        self.first = self.replica(MemoryLeases(self.clock, LEASE_TTL))

    def replica(self, leases: MemoryLeases | None = None) -> Replica:
        """Another replica of the scheduler (the first one's when `leases` is given)."""
        leases = leases or self.first.leases.replica()
        calendar = Calendar(self.schedules, self.slots, leases, self.herd, ZONE, clock=self.clock)
        ticker = Ticker(
            Settings(),
            calendar,
            self.slots,
            leases,
            self.timers,
            self.history,
            self.herd,
            self.queues,
            clock=self.clock,
        )
        return Replica(leases, calendar, ticker)

    def _handler(self) -> CommandHandler:
        return CommandHandler(
            self.schedules,
            self.first.calendar,
            self.bodies,
            Topics("unit"),
            ZONE,
            RecipientPolicy(),
            MemoryTenants(),
            clock=self.clock,
        )

    async def send(self, *commands: Command) -> None:
        """Handle the commands as the first replica does: the calendar syncs each schedule."""
        handler = self._handler()
        for command in commands:
            await handler.handle(*keyed(command.model_dump_json().encode()))

    async def send_batch(self, *commands: Command) -> None:
        """Handle the commands as one batch of records, as a poll hands them over."""
        records = [keyed(command.model_dump_json().encode()) for command in commands]
        assert await self._handler().handle_batch(records) == [None] * len(records)

    async def tick_at(self, at: datetime) -> None:
        """The first replica's tick at `at`."""
        self.clock.now = at
        await self.first.ticker.tick()

    def fired(self) -> list[ReportDue]:
        return [m for m in self.herd.published if isinstance(m, ReportDue)]

    def fired_ids(self) -> list[str]:
        return sorted(m.run.run_id for m in self.fired())

    def published_ids(self) -> list[tuple[str, str, UUID | None]]:
        """What was published, in order, by what downstream deduplicates on."""
        return [
            (type(m).__name__, m.run.run_id, None)
            if isinstance(m, ReportDue)
            else (type(m).__name__, m.run_id, m.event_id)
            for m in self.herd.published
            if isinstance(m, ReportDue | DeliveryStatus)
        ]

    def statuses(self, status: RunStatus) -> list[DeliveryStatus]:
        return [
            m for m in self.herd.published if isinstance(m, DeliveryStatus) and m.status is status
        ]

    def pending(self) -> dict[str, datetime]:
        """Each schedule's pending firing, as the in-memory slots hold it."""
        assert isinstance(self.slots, MemorySlots)
        return {p.schedule_id: p.due for p in self.slots.entries()}
