"""What the scheduler's use cases need from outside, as Protocols.

The use cases (`command_handling`, `projection`, `ringing`) take these, never a
broker or a database. `app.py` wires the adapters: `store.SchedulerStore`,
`calendar.Calendar`, `timers.TimerStore`, `history.store.MongoRunHistory`,
`handlers.BrokerBodies` and `runtime.kafka.BulkPublisher`; the in-memory fakes
with the same promises are in `tests/fakes/scheduler.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from herald.services.scheduler.commands import ScheduleState
from herald.services.scheduler.retries import Timer
from herald.shared.contract.messages import DeliveryStatus, Envelope
from herald.shared.history.fold import RunRecord

#: Now, as an aware UTC datetime.
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Output:
    """A message to publish: its topic and JSON body."""

    topic: str
    body: str

    def to_document(self) -> dict[str, str]:
        return {"topic": self.topic, "body": self.body}


@dataclass(frozen=True, slots=True)
class Recorded:
    """A command handled before: whose it was and what it published, byte for byte."""

    tenant_id: str
    outputs: list[Output]


class ConcurrentChange(Exception):
    """The schedule changed between read and write; the command is read again."""


class Schedules(Protocol):
    """The schedules, with the outputs of the commands that changed them."""

    async def recorded(self, command_id: str, schedule_id: str) -> Recorded | None:
        """The outputs of an accepted command, kept by `record` or by its `save`."""

    async def load(self, schedule_id: str, tenant_id: str) -> ScheduleState | None:
        """A live schedule of this tenant; another tenant's or a deleted one is None."""

    async def exists(self, schedule_id: str) -> bool:
        """Whether any schedule holds the id, another tenant's or a deleted one included."""

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
        """Write `new` (None: deleted) and the outputs at once, if `previous` is still stored.

        `previous` is compared by version (None: no schedule has the id); when it
        is stale, nothing is written and `ConcurrentChange` is raised.
        """

    async def record(self, command_id: str, tenant_id: str, outputs: list[Output]) -> None:
        """Keep a command's outputs by its id; the first record of an id stays."""


class CalendarSync(Protocol):
    async def sync(self, schedule_id: str) -> None:
        """Make the firing slots hold the stored schedule's next firing; idempotent."""


class Bodies(Protocol):
    async def publish_bodies(self, bodies: Sequence[tuple[str, str, str]]) -> None:
        """Publish (topic, key, JSON body) triples as they are; returns once all are acked."""


class Herd(Protocol):
    async def publish(self, messages: Sequence[Envelope]) -> None:
        """Publish many at once, each on its topic; returns once all are acked."""


class RunHistory(Protocol):
    """The run records, one per run, folded from its `DeliveryStatus` events."""

    async def project_run(self, events: Sequence[DeliveryStatus]) -> RunRecord:
        """Fold one run's events into its record (a set: order and repeats don't matter).

        Returns the record as stored; `ValueError` when the events contradict it.
        """

    async def get_run(self, tenant_id: str, run_id: str) -> RunRecord | None:
        """The run's record if it is this tenant's."""


class Timers(Protocol):
    """One timer per waiting run attempt, rung by the ticker."""

    async def arm(self, timer: Timer, now: datetime) -> None:
        """Ring at `timer.due` or later, never not at all; replaces the attempt's timer."""

    async def disarm(self, run_id: str, attempt: int) -> None:
        """A missing timer is not an error."""
