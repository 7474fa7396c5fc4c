"""The history projection holds runs under way and writes each once with what follows;
what it holds is never committed past, and a lost partition's held runs are forgotten."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from herald.services.scheduler.handlers import StatusCommits, commit_offsets
from herald.services.scheduler.projection import Projection
from herald.services.scheduler.retries import Timer, TimerKind
from herald.shared.contract.messages import DeliveryStatus, RunStatus
from herald.shared.history import fold
from herald.shared.runtime.settings import SchedulerSettings
from tests.fakes.scheduler import MemoryRunHistory, MemoryTimers
from tests.unit.test_history_projection import NOW, STUCK, attempt

HOLD = timedelta(seconds=60)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def holding() -> tuple[Projection[str], MemoryRunHistory, MemoryTimers, Clock]:
    history, timers, clock = MemoryRunHistory(), MemoryTimers(), Clock()
    return Projection(history, timers, STUCK, clock=clock, hold=HOLD), history, timers, clock


def delivered(run_id: str = "s@1") -> DeliveryStatus:
    return DeliveryStatus(
        tenant_id="acme",
        schedule_id="s",
        run_id=run_id,
        attempt=1,
        status=RunStatus.DELIVERED,
        stage="mailer",
        occurred_at=NOW + timedelta(seconds=3),
    )


async def _delivered_in(history: MemoryRunHistory, writes: int) -> None:
    """The run is stored `delivered` with its three events, after `writes` writes."""
    record = await history.get_run("acme", "s@1")
    assert record is not None
    assert record.status is RunStatus.DELIVERED
    assert len(record.events) == 3
    assert history.writes == writes


async def test_a_run_under_way_is_held_then_written_once_with_its_final_event() -> None:
    use_case, history, timers, clock = holding()
    due, rendered, _ = attempt()
    assert await use_case.apply([("k0", due)]) == []
    clock.now += timedelta(seconds=30)
    assert await use_case.apply([("k1", rendered)]) == []
    assert history.writes == 0
    assert sorted(use_case.held_origins()) == ["k0", "k1"]

    assert await use_case.apply([("k2", delivered())]) == []
    await _delivered_in(history, writes=1)
    assert use_case.held == {}
    assert timers.armed == {}, "a run written final never needed a timer"


async def test_a_run_held_for_the_hold_is_written_and_timed_whether_or_not_more_comes() -> None:
    use_case, history, timers, clock = holding()
    due = attempt()[0]
    await use_case.apply([("k0", due)])
    clock.now += HOLD - timedelta(seconds=1)
    assert await use_case.flush() == []
    assert history.writes == 0

    clock.now += timedelta(seconds=1)
    assert await use_case.flush() == []
    record = await history.get_run("acme", "s@1")
    assert record is not None
    assert record.status is RunStatus.DUE
    assert timers.armed == {
        ("s@1", 1): Timer("s@1", "acme", "s", 1, TimerKind.DEADLINE, due.occurred_at + STUCK)
    }
    assert list(use_case.held_origins()) == []


async def test_a_run_still_under_way_at_its_hold_is_written_with_the_event_that_came() -> None:
    use_case, history, _, clock = holding()
    due, rendered, _ = attempt()
    await use_case.apply([("k0", due)])
    clock.now += HOLD
    await use_case.apply([("k1", rendered)])
    await _written_rendered(use_case, history)


async def test_a_retry_is_written_at_once_for_its_timer() -> None:
    use_case, history, timers, _ = holding()
    await use_case.apply(list(enumerate(attempt())))
    assert history.writes == 1
    assert timers.armed[("s@1", 1)].kind is TimerKind.RETRY
    assert use_case.held == {}


async def test_flush_of_everything_writes_every_held_run() -> None:
    use_case, history, _, _ = holding()
    await use_case.apply([(n, attempt(f"s@{n}")[0]) for n in range(5)])
    assert await use_case.flush(everything=True) == []
    assert len(history.records) == 5
    assert use_case.held == {}


class _Flaky(MemoryRunHistory):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def project_runs(self, events: Sequence[DeliveryStatus]) -> fold.Projected:
        if self.down:
            raise ConnectionError("database down")
        return await super().project_runs(events)


async def test_an_outage_keeps_held_what_was_held_and_the_batch_is_applied_again() -> None:
    history, clock = _Flaky(), Clock()
    use_case = Projection(history, MemoryTimers(), STUCK, clock=clock, hold=HOLD)
    due, rendered, _ = attempt()
    await use_case.apply([("k0", due), ("k1", rendered)])

    history.down = True
    with pytest.raises(ConnectionError):
        await use_case.apply([("k2", delivered())])
    assert sorted(use_case.held_origins()) == ["k0", "k1"]
    clock.now += HOLD
    with pytest.raises(ConnectionError):
        await use_case.flush()
    assert sorted(use_case.held_origins()) == ["k0", "k1"]

    history.down = False
    await use_case.apply([("k2", delivered())])  # the batch, read again
    record = await history.get_run("acme", "s@1")
    assert record is not None
    assert len(record.events) == 3
    assert use_case.held == {}


def _record(partition: int, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("statuses", partition, offset, 0, 0, b"k", b"v", None, 1, 1, [])


def test_offsets_are_committed_up_to_the_earliest_held_record_of_each_partition() -> None:
    handled = {TopicPartition("statuses", 0): 10, TopicPartition("statuses", 1): 5}
    held = [_record(0, 7), _record(0, 3), _record(2, 1)]
    assert commit_offsets(handled, held) == {
        TopicPartition("statuses", 0): 3,
        TopicPartition("statuses", 1): 5,
    }


async def test_a_revoked_partitions_held_runs_are_forgotten_for_its_new_owner() -> None:
    use_case: Projection[ConsumerRecord[bytes, bytes]] = Projection(
        MemoryRunHistory(), MemoryTimers(), STUCK, clock=Clock(), hold=HOLD
    )
    await use_case.apply([(_record(0, 1), attempt("s@1")[0]), (_record(1, 1), attempt("s@2")[0])])
    commits = StatusCommits(use_case)
    await commits.on_partitions_revoked([TopicPartition("statuses", 0)])
    assert list(use_case.held) == ["s@2"]


def test_the_hold_stays_well_under_the_stuck_run_timeout() -> None:
    assert SchedulerSettings(stuck_after_s=120).history_hold == timedelta(seconds=30)
    assert SchedulerSettings(history_hold_s=0).history_hold == timedelta(0)
    assert SchedulerSettings().history_hold == timedelta(seconds=60)


class _Disarms(MemoryTimers):
    def __init__(self) -> None:
        super().__init__()
        self.disarmed: list[tuple[str, int]] = []

    async def disarm_all(self, attempts: Sequence[tuple[str, int]]) -> None:
        self.disarmed += attempts
        await super().disarm_all(attempts)


async def test_a_run_written_final_at_once_has_no_timer_to_disarm_and_others_do() -> None:
    timers = _Disarms()
    use_case = Projection(MemoryRunHistory(), timers, STUCK, clock=Clock(), hold=HOLD)
    due, rendered, _ = attempt("s@1")
    await use_case.apply([(0, due), (1, rendered), (2, delivered("s@1"))])
    assert timers.disarmed == []

    await use_case.apply([(3, attempt("s@2")[0])])
    await use_case.flush(everything=True)
    await use_case.apply([(4, delivered("s@2"))])
    assert timers.disarmed == [("s@2", 1)]


async def test_past_the_most_it_may_hold_a_run_is_written_at_once() -> None:
    history = MemoryRunHistory()
    use_case = Projection(history, MemoryTimers(), STUCK, clock=Clock(), hold=HOLD, held_at_most=2)
    await use_case.apply([(n, attempt(f"s@{n}")[0]) for n in range(3)])
    assert len(use_case.held) == 2
    assert list(history.records) == ["s@2"]


async def test_a_late_stage_of_a_run_already_written_is_written_at_once() -> None:
    """A renderer's status delayed behind the mailer's (an outage): the run is final, and
    its record must not lack the late event for the hold."""
    use_case, history, _, _ = holding()
    due, rendered, _ = attempt()
    await use_case.apply([(0, due), (1, delivered())])
    await use_case.apply([(2, rendered)])
    record = await history.get_run("acme", "s@1")
    assert record is not None
    assert len(record.events) == 3
    assert use_case.held == {}


async def _written_rendered(use_case: Projection[str], history: MemoryRunHistory) -> None:
    """The run is stored `rendered`, and nothing of it is held."""
    record = await history.get_run("acme", "s@1")
    assert record is not None
    assert record.status is RunStatus.RENDERED
    assert use_case.held == {}


async def _stored_due(
    use_case: Projection[str], clock: Clock
) -> tuple[DeliveryStatus, DeliveryStatus]:
    """A run whose `due` was held for the whole hold and written (its deadline armed)."""
    due, rendered, _ = attempt()
    await use_case.apply([("k0", due)])
    clock.now += HOLD
    assert await use_case.flush() == []
    return due, rendered


async def test_a_stored_runs_next_stage_waits_for_the_one_after_and_is_written_once() -> None:
    """Renders not shared: a run outlives its first hold; its `rendered` and `delivered`
    are one write, not two."""
    use_case, history, timers, clock = holding()
    _, rendered = await _stored_due(use_case, clock)
    assert history.writes == 1
    assert list(timers.armed) == [("s@1", 1)]
    clock.now += timedelta(seconds=200)
    assert await use_case.apply([("k1", rendered)]) == []
    assert history.writes == 1
    assert list(use_case.held_origins()) == ["k1"]

    assert await use_case.apply([("k2", delivered())]) == []
    await _delivered_in(history, writes=2)
    assert timers.armed == {}
    assert use_case.held == {}


async def test_a_stored_runs_held_stage_is_written_at_its_hold_if_nothing_follows() -> None:
    use_case, history, _, clock = holding()
    _, rendered = await _stored_due(use_case, clock)
    await use_case.apply([("k1", rendered)])
    clock.now += HOLD
    assert await use_case.flush() == []
    await _written_rendered(use_case, history)


async def test_a_stored_run_whose_deadline_is_near_is_written_at_once() -> None:
    """Held, the record would still say `due` when the stuck-run timer reads it."""
    use_case, history, _, clock = holding()
    due, rendered = await _stored_due(use_case, clock)
    clock.now = due.occurred_at + STUCK - 2 * HOLD
    await use_case.apply([("k1", rendered)])
    await _written_rendered(use_case, history)


async def test_a_stored_run_this_projection_did_not_time_is_written_at_once() -> None:
    """After a restart (or a rebalance) the projection does not know the stored run is
    still under way: it may be final."""
    use_case, history, timers, clock = holding()
    _, rendered = await _stored_due(use_case, clock)
    restarted = Projection(history, timers, STUCK, clock=clock, hold=HOLD)
    await restarted.apply([("k1", rendered)])
    await _written_rendered(restarted, history)
