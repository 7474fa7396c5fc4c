"""What the scheduler's use cases need from outside, as Protocols.

The use cases (`command_handling`, `projection`, `ringing`, `calendar`,
`ticker`) take these, never a broker or a database. `app.py` wires the
adapters: `store.SchedulerStore`, `calendar.Calendar`, `slots.SlotStore`,
`runtime.leases.LeaseStore`, `timers.TimerStore`, `history.store.MongoRunHistory`,
`handlers.BrokerBodies`, `queues.KafkaStageQueues` and `runtime.kafka.BulkPublisher`;
the in-memory fakes with the same promises are in `tests/fakes/scheduler.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from herald.services.scheduler.commands import ScheduleState
from herald.services.scheduler.firing import Pending
from herald.services.scheduler.retries import Timer
from herald.services.scheduler.tenant_commands import TenantState
from herald.shared.contract.identity import ScheduleRef
from herald.shared.contract.messages import DeliveryStatus, Envelope, LogoUpload, RunStatus
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.contract.tenant_settings import LogoRef
from herald.shared.history.fold import Projected, RunRecord

# Re-exported: the use cases take a lease and its loss with the `Leases` port.
from herald.shared.runtime.leases import Lease as Lease
from herald.shared.runtime.leases import LeaseLost as LeaseLost

#: Now, as an aware UTC datetime.
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Output:
    """A message to publish: its topic and JSON body, and its key when not the schedule id."""

    topic: str
    body: str
    key: str | None = None

    def to_document(self) -> dict[str, str]:
        keyed = {"key": self.key} if self.key is not None else {}
        return {"topic": self.topic, "body": self.body} | keyed


@dataclass(frozen=True, slots=True)
class Recorded:
    """A command handled before: whose it was and what it published, byte for byte."""

    tenant_id: str
    outputs: list[Output]


class ConcurrentChange(Exception):
    """The schedule changed between read and write; the command is read again."""


@dataclass(frozen=True, slots=True)
class Stored:
    """A schedule as stored, in one read: whether deleted, and its outbox."""

    state: ScheduleState
    deleted: bool
    #: The outputs of the schedule's recent commands, by command id.
    outbox: dict[str, list[Output]]

    #: The document's id: `ref.key`, or the bare id of a schedule from before issue 18.
    stored_id: str

    def live(self) -> ScheduleState | None:
        """The schedule as its tenant sees it: a deleted one is absent."""
        return None if self.deleted else self.state


class Schedules(Protocol):
    """The schedules, with the outputs of the commands that changed them."""

    async def read(self, ref: ScheduleRef) -> Stored | None:
        """The tenant's schedule of that id, a deleted one included."""

    async def recorded(self, command_id: str) -> Recorded | None:
        """The outputs of an accepted command kept by `record_many` (see also `Stored.outbox`)."""

    async def save(
        self,
        previous: ScheduleState | None,
        new: ScheduleState | None,
        *,
        stored_id: str,
        tenant_id: str,
        command_id: str,
        outputs: list[Output],
        batch: str,
    ) -> None:
        """Write `new` (None: deleted) and the outputs at once, if `previous` is still stored.

        `stored_id` is the document's id (`Stored.stored_id`; for a new one, `ref.key`).
        `batch` names the batch of commands writing it: the calendar reads what a batch
        wrote back by it (`SlotSchedules.written_in`).

        `previous` is compared by version (None: no schedule has the id); when it
        is stale, nothing is written and `ConcurrentChange` is raised.
        """

    async def record_many(self, records: Sequence[tuple[str, Recorded]]) -> None:
        """Keep commands' outputs by command id, in one write; the first record of an id stays."""

    async def live_specs(self, tenant_id: str) -> dict[str, ScheduleSpec]:
        """The tenant's schedules that are not deleted, by id (for its volume forecast)."""


@dataclass(frozen=True, slots=True)
class StoredTenant:
    """A tenant's settings as stored, with the outputs of its recent commands by command id."""

    state: TenantState
    outbox: dict[str, list[Output]]


class TenantSettingsStore(Protocol):
    """Each tenant's settings, with the outputs of the commands that changed them."""

    async def read(self, tenant_id: str) -> StoredTenant | None: ...

    async def save(
        self, previous: TenantState | None, new: TenantState, command_id: str, outputs: list[Output]
    ) -> None:
        """Write `new` and the outputs at once if `previous` is still stored (compared by
        version; None: no settings yet), else raise `ConcurrentChange`."""

    async def put_logo(self, upload: LogoUpload) -> LogoRef:
        """Store the logo's bytes as `upload.stored_as()` names them, for readers by id;
        idempotent (one file per content). A logo found stored is kept: taken out of the
        clean-up's bin, its clock cleared (`logo_bin.keep_logo`)."""


class SlotSchedules(Protocol):
    """The schedules as the calendar reads them: each with the version its slot entry holds."""

    async def raw(self, stored_id: str) -> dict[str, Any] | None:
        """The stored document (outbox aside): `tenant_id`, `spec`, `version`, `deleted`,
        and `slot_version`/`slot_spec` once synced. A deleted schedule keeps its version."""

    async def written_in(self, batch: str, shard: int) -> list[dict[str, Any]]:
        """The documents (as `raw` reads them) that `batch` saved last, in this slot shard:
        a schedule another writer changed since is not among them."""

    async def mark_synced(self, marks: Sequence[tuple[str, int, dict[str, Any] | None]]) -> None:
        """Record, per schedule id, which version's firing the slots hold (`spec` None:
        none, it is off or gone); many schedules in as few writes as the database allows."""

    async def import_many(self, states: list[ScheduleState]) -> None:
        """Store new schedules as synced: their firings are already in the slots."""

    async def deleted_with_firings(self) -> list[str]:
        """Deleted schedules whose slots may still hold a firing (left so before issue 13)."""


@dataclass(frozen=True, slots=True)
class Written:
    """What one batch of commands saved (`Schedules.save`'s `batch`), by document id."""

    batch: str
    stored_ids: frozenset[str]


class CalendarSync(Protocol):
    async def sync_many(self, stored_ids: Iterable[str], written: Written | None = None) -> None:
        """Make the firing slots hold each stored schedule's next firing (by document id);
        idempotent.

        Safe to call concurrently: each shard's slots change under its lease. Those
        `written` saved are read back a shard at a time, not one by one.
        """


class Bodies(Protocol):
    async def publish_bodies(self, bodies: Sequence[tuple[str, str, str]]) -> None:
        """Publish (topic, key, JSON body) triples as they are; returns once all are acked."""


class Herd(Protocol):
    async def publish(self, messages: Sequence[Envelope]) -> None:
        """Publish many at once, each on its topic; returns once all are acked."""


class RunBatches(Protocol):
    """The run records, written a batch at a time (`history.store.MongoRunHistory`)."""

    async def project_runs(self, events: Sequence[DeliveryStatus]) -> Projected:
        """Fold a batch of many runs' events into their records; each run's outcome by run id,
        and the events newly stored.

        The outcome is the record as stored, or the exception that keeps the
        run's events out of it for good (`ValueError`: they contradict it).
        An outage of the database propagates.
        """


class RunHistory(Protocol):
    """The run records, one per run, folded from its `DeliveryStatus` events."""

    async def project_run(self, events: Sequence[DeliveryStatus]) -> RunRecord:
        """Fold one run's events into its record (a set: order and repeats don't matter).

        Returns the record as stored; `ValueError` when the events contradict it.
        """

    async def get_run(self, tenant_id: str, run_id: str) -> RunRecord | None:
        """The run's record if it is this tenant's."""


class StageQueues(Protocol):
    """Where a run's message is: still in the queue of the stage after its status, or read."""

    async def holds(self, status: RunStatus, schedule_id: str) -> bool:
        """True while the stage that takes a run on from `status` (`due`: the renderers,
        `rendered`: the mailers) has not read to the end of the partition the schedule's
        messages go to; False once it has, for any other status, and when it cannot be told."""


class Timers(Protocol):
    """One timer per waiting run attempt, rung by the ticker."""

    async def arm(self, timer: Timer, now: datetime) -> None:
        """Ring at `timer.due` or later, never not at all; replaces the attempt's timer."""

    async def disarm(self, run_id: str, attempt: int) -> None:
        """A missing timer is not an error."""

    async def arm_all(self, timers: Sequence[Timer], now: datetime, *, first: bool = False) -> None:
        """`arm` for many timers, in as few writes as the database allows.

        `first`: none of these attempts had a timer yet (as far as the caller
        knows); one already there may be kept instead (it rings no later than
        needed, sees the run and files itself again).
        """

    async def disarm_all(self, attempts: Sequence[tuple[str, int]]) -> None:
        """`disarm` for many run attempts, in as few writes as the database allows."""


class TimerBuckets(Timers, Protocol):
    """The timers as the ticker rings them: by bucket, behind a shared cursor (`timers.py`).

    An arm never files a timer into a bucket at or before the last one claimed.
    """

    async def ringing(self, bucket: datetime) -> list[Timer]:
        """The timers filed in this bucket."""

    async def ringing_until(self, bucket: datetime) -> list[Timer]:
        """The timers filed in this bucket or an earlier one."""

    async def cursor(self) -> datetime | None:
        """The last bucket whose timers all rang (None: never)."""

    async def claim(self, bucket: datetime, done: datetime) -> None:
        """Before reading `bucket`, `done` being the cursor: arms from now on go past it."""

    async def set_cursor(self, bucket: datetime) -> None:
        """After every timer of `bucket` rang."""


class Slots(Protocol):
    """Each shard's pending firings, one slot per due minute; only the shard's lease holder writes.

    Every write is ordered by the caller so a crash loses no firing: new entries
    and their minutes go in before the slot they came from is dropped.
    """

    async def next_due(self) -> dict[int, datetime]:
        """The earliest pending minute of every shard that has one."""

    async def minutes(self, shard: int) -> list[datetime]:
        """The shard's pending minutes, in order, as last set."""

    async def set_minutes(self, shard: int, minutes: Iterable[datetime]) -> None:
        """Replace the shard's pending minutes (and so its `next_due`)."""

    async def read(self, minute: datetime, shard: int) -> list[Pending]:
        """The entries of one slot; none when it was never written or is dropped."""

    async def put(self, shard: int, entries: Iterable[Pending]) -> set[datetime]:
        """Add entries to the slots of their due minutes, one per schedule and slot (a repeat
        replaces it); returns the minutes written to. The minutes are not recorded here."""

    async def replace(self, minute: datetime, shard: int, entries: Iterable[Pending]) -> None:
        """Make the slot hold exactly these entries (none: drop it), in one write."""

    async def drop(self, minute: datetime, shard: int) -> None:
        """Delete the slot with all its entries."""


class Leases(Protocol):
    """Named leases, one holder at a time; a lease not renewed within its ttl may be taken over.

    Each taking is a new generation; a holder learns it was taken over on `renew`.
    """

    async def acquire(self, name: str, now: datetime | None = None) -> Lease | None:
        """The lease if it is free (never taken, released or expired), else None."""

    async def renew(self, lease: Lease) -> None:
        """Extend the lease by its ttl; `LeaseLost` if a newer generation exists."""

    async def release(self, lease: Lease) -> None:
        """Free the lease at once, unless a newer generation already took it."""

    def holding(self, name: str, *, wait_s: float) -> AbstractAsyncContextManager[Lease]:
        """Hold the lease for a block, waiting up to `wait_s` (then `TimeoutError`)."""
