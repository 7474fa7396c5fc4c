"""The history projection: batches of `DeliveryStatus` into `runs`, and the timers they call for.

A batch costs one round of reads of its runs (by `_id`, a few at a time:
FerretDB pushes no `$in` down) and a few bulk writes of the records that
changed (`RunBatches`), not a read and a write awaited per run; the records
this process wrote lately are not read again. Then the batch's timers are
armed and disarmed in a bulk write each.

One writer per run document still holds (FerretDB 1.x has no atomic
conditional update): a run's events share a partition, and a partition's
batch is handled by one consumer at a time.

A run still under way (`due` or `rendered`) is held in memory for up to
`hold` and written once with what followed: in a herd its record is then
inserted once, final, instead of inserted and replaced at every stage (a
replace costs FerretDB about 2.3 ms of CPU). Its Kafka offsets are not
committed while it is held (`held_origins`), so a crash reads its events
again and loses nothing. `hold` stays well under the stuck-run timeout: the
timer of a held run is armed when the run is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, MutableMapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from cachetools import LRUCache

from herald.services.scheduler import retries
from herald.services.scheduler.ports import Clock, RunBatches, Timers
from herald.services.scheduler.retries import Timer, TimerKind
from herald.shared.contract.messages import DeliveryStatus, RunStatus, utcnow
from herald.shared.history.fold import RunRecord, apply_all
from herald.shared.runtime.kafka import TRANSIENT_ERRORS
from herald.shared.runtime.logs import bound
from herald.shared.runtime.metrics import (
    DELIVERY_LATENESS,
    HISTORY_HELD,
    HISTORY_LAG,
    RETRIES,
    RUNS,
)

log = logging.getLogger("herald.scheduler")

#: Timers remembered as armed, to skip arming them again (a few MB).
ARMED_REMEMBERED = 50_000

Origin = TypeVar("Origin")
#: What a run may be held in: a stage still under way, with no timer it needs soon.
UNDER_WAY = frozenset({RunStatus.DUE, RunStatus.RENDERED})
#: Runs held at most (about 5 KB each): past it, a run is written at once. A herd of
#: 100,000 firings would otherwise sit in one replica's memory for the whole hold.
HELD_AT_MOST = 20_000


@dataclass(frozen=True, slots=True)
class Unprojectable(Generic[Origin]):
    """A run whose events can never be projected (they contradict its record): for the DLQ."""

    origins: list[Origin]
    error: Exception


@dataclass(slots=True)
class Held(Generic[Origin]):
    """A run's events not written yet, since the first of them came."""

    since: datetime
    events: list[tuple[Origin, DeliveryStatus]]


@dataclass(frozen=True, slots=True)
class Projection(Generic[Origin]):
    history: RunBatches
    timers: Timers
    stuck_after: timedelta
    clock: Clock = utcnow
    #: How long a run under way may wait in memory for its next events (0: never).
    hold: timedelta = timedelta(0)
    held_at_most: int = HELD_AT_MOST
    #: The timers this projection armed lately (kind and due, by run attempt).
    armed: MutableMapping[tuple[str, int], tuple[TimerKind, datetime]] = field(
        default_factory=lambda: LRUCache(ARMED_REMEMBERED)
    )
    held: dict[str, Held[Origin]] = field(default_factory=dict)

    async def apply(
        self, events: Sequence[tuple[Origin, DeliveryStatus]]
    ) -> list[Unprojectable[Origin]]:
        """Project a batch, holding the runs still under way; an outage of the database
        propagates (the batch is read again, and what was held stays held)."""
        now = self.clock()
        by_run: dict[str, list[tuple[Origin, DeliveryStatus]]] = {}
        for pair in events:
            by_run.setdefault(pair[1].run_id, []).append(pair)
        taken = {run_id: self.held.pop(run_id) for run_id in by_run if run_id in self.held}
        holding: dict[str, Held[Origin]] = {}
        ready: list[tuple[Origin, DeliveryStatus]] = []
        room = self.held_at_most - len(self.held)
        for run_id, new in by_run.items():
            before = taken.get(run_id)
            held = Held(now, new) if before is None else Held(before.since, before.events + new)
            if len(holding) < room and self._holds(held, now):
                holding[run_id] = held
            else:
                ready += held.events
        poisoned = await self._write(ready, taken)
        self.held.update(holding)
        HISTORY_HELD.set(len(self.held))
        return poisoned

    async def flush(self, everything: bool = False) -> list[Unprojectable[Origin]]:
        """Write the runs held for `hold` (all of them with `everything`)."""
        now = self.clock()
        taken = {
            run_id: self.held.pop(run_id)
            for run_id, held in list(self.held.items())
            if everything or now - held.since >= self.hold
        }
        if not taken:
            return []
        poisoned = await self._write(
            [pair for held in taken.values() for pair in held.events], taken
        )
        HISTORY_HELD.set(len(self.held))
        return poisoned

    async def _write(
        self, events: Sequence[tuple[Origin, DeliveryStatus]], taken: dict[str, Held[Origin]]
    ) -> list[Unprojectable[Origin]]:
        """Project `events`; on any failure the runs `taken` out of `held` are held again
        (no offset was committed past them) and the error propagates."""
        try:
            return await self._project(events)
        except BaseException:
            self.held.update(taken)
            raise

    def held_origins(self) -> Iterator[Origin]:
        """Where the held events came from: not to be committed past."""
        for held in self.held.values():
            for origin, _ in held.events:
                yield origin

    def forget(self, gone: Callable[[Origin], bool]) -> None:
        """Drop the held runs that came from where `gone` says (partitions revoked: their
        new owner reads the events again, since their offsets were not committed)."""
        for run_id, held in list(self.held.items()):
            if any(gone(origin) for origin, _ in held.events):
                del self.held[run_id]
        HISTORY_HELD.set(len(self.held))

    def _holds(self, held: Held[Origin], now: datetime) -> bool:
        """A run that began here (its `due` in memory), or one this projection stored
        under way and whose timer rings well after the hold (`_stored_under_way`). A late
        event of any other stored run, final perhaps (a stage's status delayed behind the
        next stage's), is written at once, not left out of the record for the hold."""
        if now - held.since >= self.hold:
            return False
        events = [event for _, event in held.events]
        if not any(event.status is RunStatus.DUE for event in events):
            return self._stored_under_way(events, now)
        try:
            record = apply_all(None, events)
        except ValueError:  # contradicting events: the projection reports them
            return False
        return record is not None and record.status in UNDER_WAY

    def _stored_under_way(self, events: Sequence[DeliveryStatus], now: datetime) -> bool:
        """A stored run's next stage (`rendered`) waiting in memory for the one after:
        where rendering is slow (renders not shared), a run outlives its first hold, and
        its record would be replaced at every stage, not once. Only while the deadline
        this projection armed for it (so it knows the run is not final) rings after the
        hold has ended and as long again: the timer never finds the record behind."""
        if not all(event.status in UNDER_WAY for event in events):
            return False
        known = {self.armed.get((event.run_id, event.attempt)) for event in events}
        if len(known) != 1 or (armed := known.pop()) is None:
            return False
        kind, due = armed
        return kind is TimerKind.DEADLINE and due - now > 2 * self.hold

    async def _project(
        self, events: Sequence[tuple[Origin, DeliveryStatus]]
    ) -> list[Unprojectable[Origin]]:
        if not events:
            return []
        origins: dict[str, list[Origin]] = {}
        for origin, event in events:
            origins.setdefault(event.run_id, []).append(origin)
        projected = await self.history.project_runs([event for _, event in events])
        outcomes = projected.outcomes
        poisoned = [
            Unprojectable(origins[run_id], outcome)
            for run_id, outcome in outcomes.items()
            if isinstance(outcome, Exception)
        ]
        records = [outcome for outcome in outcomes.values() if isinstance(outcome, RunRecord)]
        stored_at = self.clock()
        for event in projected.fresh:
            RUNS.labels(event.status.value).inc()
            lag = (stored_at - event.occurred_at).total_seconds()
            HISTORY_LAG.labels(event.status.value).observe(max(lag, 0.0))
            if event.status is RunStatus.PENDING_RETRY:
                RETRIES.labels(event.stage).inc()
            elif event.status is RunStatus.DELIVERED and event.scheduled_for and not event.test:
                late = (event.occurred_at - event.scheduled_for).total_seconds()
                DELIVERY_LATENESS.observe(max(late, 0.0))
        created = projected.created
        try:
            await self._time_all(records, created)
        except TRANSIENT_ERRORS:
            raise
        except Exception:  # some record's timer: find it, one by one
            poisoned += await self._time_one_by_one(records, created, origins)
        for record in records:
            ids = {"tenant_id": record.tenant_id, "schedule_id": record.schedule_id}
            with bound(ids | {"run_id": record.run_id}):
                log.info(
                    "run %s of schedule %s (tenant %s): %s, attempt %d",
                    record.run_id,
                    record.schedule_id,
                    record.tenant_id,
                    record.status.value,
                    record.attempt,
                )
        return poisoned

    async def _time_all(self, records: Sequence[RunRecord], created: Set[str]) -> None:
        """Each run's timer, in one batch of arms and one of disarms.

        Armed again even when nothing changed (a crash may have come between
        the record's write and its timer's), except a timer this projection
        itself armed to ring no later: it rings then, sees the run has moved
        on, and files itself again for later (`retries.on_timer`). An attempt
        just fired gets its first timer by insert (a herd's in one command).
        A run whose record was `created` final has no timer to disarm (a held run).
        """
        arms: dict[tuple[str, int], Timer] = {}
        firsts: dict[tuple[str, int], Timer] = {}
        disarms: set[tuple[str, int]] = set()
        for record in records:
            timer = retries.wakeup(record, self.stuck_after)
            if timer is None:
                if record.run_id not in created:
                    disarms.add((record.run_id, record.attempt))
            elif record.status is RunStatus.DUE and _key(timer) not in self.armed:
                firsts[_key(timer)] = timer  # an attempt just fired: no timer yet
            elif not self._rings_no_later(timer):
                arms[_key(timer)] = timer
        now = self.clock()
        if firsts:
            await self.timers.arm_all(list(firsts.values()), now, first=True)
        if arms:
            await self.timers.arm_all(list(arms.values()), now)
        if disarms:
            await self.timers.disarm_all(sorted(disarms))
        for key, timer in (firsts | arms).items():
            self.armed[key] = (timer.kind, timer.due)
        for attempt in disarms:
            self.armed.pop(attempt, None)

    def _rings_no_later(self, timer: Timer) -> bool:
        known = self.armed.get(_key(timer))
        return known is not None and known[0] is timer.kind and known[1] <= timer.due

    async def _time_one_by_one(
        self, records: Sequence[RunRecord], created: Set[str], origins: dict[str, list[Origin]]
    ) -> list[Unprojectable[Origin]]:
        poisoned: list[Unprojectable[Origin]] = []
        for record in records:
            try:
                await self._time_all([record], created)
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:  # this run's timer can never be written
                poisoned.append(Unprojectable(origins[record.run_id], exc))
        return poisoned


def _key(timer: Timer) -> tuple[str, int]:
    return timer.run_id, timer.attempt
