"""The history projection on in-memory ports: a run's events are a set, its timer follows it."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from herald.services.scheduler.firing import run_details
from herald.services.scheduler.projection import Projection
from herald.services.scheduler.retries import Timer, TimerKind
from herald.shared.contract.messages import DeliveryStatus, RunStatus
from herald.shared.history.fold import RunRecord
from herald.shared.runtime.metrics import REGISTRY
from tests.fakes.scheduler import MemoryRunHistory, MemoryTimers
from tests.samples import DAILY_SPEC

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
STUCK = timedelta(minutes=15)
RETRY_AT = NOW + timedelta(minutes=5)


def attempt(run_id: str = "s@1", tenant: str = "acme") -> list[DeliveryStatus]:
    """A first attempt that the mailer sent to `pending_retry`, a second apart."""
    details = run_details(run_id, DAILY_SPEC, "UTC", NOW - timedelta(minutes=1))
    common = {"tenant_id": tenant, "schedule_id": "s", "run_id": run_id, "attempt": 1}
    return [
        DeliveryStatus(
            **common, status=RunStatus.DUE, stage="scheduler", run=details, occurred_at=NOW
        ),
        DeliveryStatus(
            **common,
            status=RunStatus.RENDERED,
            stage="renderer",
            artifact_id="a",
            occurred_at=NOW + timedelta(seconds=1),
        ),
        DeliveryStatus(
            **common,
            status=RunStatus.PENDING_RETRY,
            stage="mailer",
            reason="451 later",
            next_attempt_at=RETRY_AT,
            occurred_at=NOW + timedelta(seconds=2),
        ),
    ]


def projection() -> tuple[Projection, MemoryRunHistory, MemoryTimers]:
    history, timers = MemoryRunHistory(), MemoryTimers()
    return Projection(history, timers, STUCK, clock=lambda: NOW), history, timers


async def project(events: Sequence[DeliveryStatus]) -> RunRecord:
    use_case, history, _ = projection()
    assert await use_case.apply(list(enumerate(events))) == []
    record = await history.get_run("acme", events[0].run_id)
    assert record is not None
    return record


async def test_a_runs_events_in_any_order_give_one_record() -> None:
    events = attempt()
    records = [await project(order) for order in itertools.permutations(events)]
    assert all(record == records[0] for record in records)
    assert records[0].status is RunStatus.PENDING_RETRY
    assert records[0].next_attempt_at == RETRY_AT


async def test_events_seen_before_are_ignored() -> None:
    use_case, history, _ = projection()
    events = attempt()
    await use_case.apply(list(enumerate(events + events[:1])))
    first = await history.get_run("acme", "s@1")
    assert await use_case.apply(list(enumerate(events))) == []

    assert history.writes == 1, "one write for the batch, none for its repeat"
    assert await history.get_run("acme", "s@1") == first
    assert first is not None
    assert len(first.events) == 3


async def test_events_that_contradict_their_run_are_returned_for_the_dead_letters() -> None:
    use_case, history, _ = projection()
    await use_case.apply(list(enumerate(attempt())))
    intruder = attempt(tenant="globex")
    good = attempt("s@2")
    failed = await use_case.apply([("bad", e) for e in intruder] + [("ok", e) for e in good])

    assert [(f.origins, type(f.error)) for f in failed] == [(["bad"] * 3, ValueError)]
    assert await history.get_run("globex", "s@1") is None
    assert await history.get_run("acme", "s@2") is not None


async def test_an_outage_of_the_history_propagates_for_the_batch_to_be_read_again() -> None:
    class Down(MemoryRunHistory):
        async def project_run(self, events: Sequence[DeliveryStatus]) -> RunRecord:
            raise ConnectionError("database down")

    use_case = Projection(Down(), MemoryTimers(), STUCK)
    with pytest.raises(ConnectionError):
        await use_case.apply(list(enumerate(attempt())))


async def test_a_run_waiting_on_a_retry_is_timed_for_it() -> None:
    use_case, _, timers = projection()
    await use_case.apply(list(enumerate(attempt())))
    assert timers.armed == {("s@1", 1): Timer("s@1", "acme", "s", 1, TimerKind.RETRY, RETRY_AT)}


async def test_a_run_in_a_stage_is_timed_for_when_it_would_be_stuck() -> None:
    use_case, _, timers = projection()
    await use_case.apply(list(enumerate(attempt()[:2])))
    rendered_at = NOW + timedelta(seconds=1)
    assert timers.armed == {
        ("s@1", 1): Timer("s@1", "acme", "s", 1, TimerKind.DEADLINE, rendered_at + STUCK)
    }


async def test_a_final_run_has_no_timer() -> None:
    use_case, _, timers = projection()
    await use_case.apply(list(enumerate(attempt())))
    failed = DeliveryStatus(
        tenant_id="acme",
        schedule_id="s",
        run_id="s@1",
        attempt=1,
        status=RunStatus.FAILED,
        stage="mailer",
        reason="550 no such mailbox",
        occurred_at=NOW + timedelta(seconds=3),
    )
    await use_case.apply([(0, failed)])
    assert timers.armed == {}


async def test_a_batch_of_many_runs_is_one_call_to_the_history_and_a_timer_each() -> None:
    use_case, history, timers = projection()
    runs = [f"s@{n}" for n in range(100)]
    batch = [(run_id, e) for run_id in runs for e in attempt(run_id)]
    assert await use_case.apply(batch[::-1]) == []

    assert history.batches == 1
    assert history.writes == len(runs)
    assert sorted(run_id for run_id, _ in timers.armed) == sorted(runs)
    assert {timer.kind for timer in timers.armed.values()} == {TimerKind.RETRY}


class _BrokenTimers(MemoryTimers):
    """Arming the timer of `broken` fails with `error`."""

    def __init__(self, broken: str, error: Exception) -> None:
        super().__init__()
        self.broken, self.error = broken, error

    async def arm(self, timer: Timer, now: datetime) -> None:
        if timer.run_id == self.broken:
            raise self.error
        await super().arm(timer, now)


async def test_a_timer_that_can_never_be_written_sends_its_run_alone_to_the_dead_letters() -> None:
    timers = _BrokenTimers("s@2", ValueError("cannot encode"))
    use_case = Projection(MemoryRunHistory(), timers, STUCK, clock=lambda: NOW)
    batch = [(run_id, e) for run_id in ("s@1", "s@2", "s@3") for e in attempt(run_id)]
    failed = await use_case.apply(batch)

    assert [(f.origins, type(f.error)) for f in failed] == [(["s@2"] * 3, ValueError)]
    assert sorted(run_id for run_id, _ in timers.armed) == ["s@1", "s@3"]


async def test_an_outage_of_the_timers_propagates_for_the_batch_to_be_read_again() -> None:
    timers = _BrokenTimers("s@2", ConnectionError("database down"))
    use_case = Projection(MemoryRunHistory(), timers, STUCK, clock=lambda: NOW)
    batch = [(run_id, e) for run_id in ("s@1", "s@2") for e in attempt(run_id)]
    with pytest.raises(ConnectionError):
        await use_case.apply(batch)


class _CountingTimers(MemoryTimers):
    def __init__(self) -> None:
        super().__init__()
        self.arms: list[Timer] = []

    async def arm(self, timer: Timer, now: datetime) -> None:
        self.arms.append(timer)
        await super().arm(timer, now)


async def test_a_deadline_that_would_only_move_later_is_not_written_again() -> None:
    """The stored deadline rings first and files itself again (`retries.on_timer`):
    a stage's event costs no timer write; a retry, an earlier time or a restart does."""
    timers = _CountingTimers()
    use_case = Projection(MemoryRunHistory(), timers, STUCK, clock=lambda: NOW)
    due, rendered, pending = attempt()
    await use_case.apply([(0, due)])
    await use_case.apply([(1, rendered)])
    assert [t.due for t in timers.arms] == [NOW + STUCK]

    await use_case.apply([(2, pending)])
    assert [t.kind for t in timers.arms] == [TimerKind.DEADLINE, TimerKind.RETRY]
    assert timers.armed == {("s@1", 1): Timer("s@1", "acme", "s", 1, TimerKind.RETRY, RETRY_AT)}

    restarted = Projection(use_case.history, timers, STUCK, clock=lambda: NOW)
    await restarted.apply([(2, pending)])
    assert len(timers.arms) == 3, "a new process arms what it has not armed itself"


async def test_a_batch_arms_and_disarms_its_timers_in_one_call_each() -> None:
    class Batched(MemoryTimers):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []

        async def arm_all(
            self, timers: Sequence[Timer], now: datetime, *, first: bool = False
        ) -> None:
            self.calls.append(f"{'first' if first else 'arm'} {len(timers)}")
            await super().arm_all(timers, now, first=first)

        async def disarm_all(self, attempts: Sequence[tuple[str, int]]) -> None:
            self.calls.append(f"disarm {len(attempts)}")
            await super().disarm_all(attempts)

    timers = Batched()
    use_case = Projection(MemoryRunHistory(), timers, STUCK, clock=lambda: NOW)
    first = [(n, e) for n in range(50) for e in attempt(f"s@{n}")[:1]]
    await use_case.apply(first)
    delivered = [
        (n, attempt(f"s@{n}")[2].model_copy(update={"status": RunStatus.DELIVERED}))
        for n in range(0, 50, 2)
    ]
    await use_case.apply(delivered)
    assert timers.calls == ["first 50", "disarm 25"]
    assert len(timers.armed) == 25


def _lateness(bucket: str) -> float:
    labels = {"le": bucket}
    return REGISTRY.get_sample_value("herald_delivery_lateness_seconds_bucket", labels) or 0.0


async def test_a_delivery_is_measured_against_its_due_time() -> None:
    """Due at NOW - 1 min, delivered 4 min later: late by 5 min, in the 300 s bucket."""
    due, *_ = attempt()
    delivered = DeliveryStatus(
        tenant_id="acme",
        schedule_id="s",
        run_id="s@1",
        attempt=1,
        status=RunStatus.DELIVERED,
        stage="mailer",
        scheduled_for=NOW - timedelta(minutes=1),
        occurred_at=NOW + timedelta(minutes=4),
    )
    on_time, late = _lateness("300.0"), _lateness("120.0")
    await project([due, delivered])
    assert (_lateness("300.0"), _lateness("120.0")) == (on_time + 1, late)


def _history_lag(status: str, bucket: str) -> float:
    labels = {"status": status, "le": bucket}
    return REGISTRY.get_sample_value("herald_history_lag_seconds_bucket", labels) or 0.0


async def test_the_history_lag_counts_each_event_once_from_when_it_occurred() -> None:
    """The events occurred 0-2 s before NOW, when they are stored: each counts once by its
    status, and a redelivery, already in the history, counts nowhere."""
    use_case, _, _ = projection()
    events = [e.model_copy(update={"occurred_at": NOW - timedelta(seconds=2)}) for e in attempt()]
    counts = {
        status: (_history_lag(status, "1.0"), _history_lag(status, "2.0"))
        for status in ("due", "rendered", "pending_retry")
    }
    await use_case.apply(list(enumerate(events[:2])))
    await use_case.apply(list(enumerate(events)))  # the first two again, after a rebalance
    for status, (within_1s, within_2s) in counts.items():
        assert _history_lag(status, "1.0") == within_1s, status
        assert _history_lag(status, "2.0") == within_2s + 1, status
