"""A rung timer on in-memory ports: a due retry or a stuck run goes again, or is given up."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from herald.services.scheduler import retries
from herald.services.scheduler.firing import run_details
from herald.services.scheduler.ringing import QUEUED_RECHECK, Ringing
from herald.shared.contract.messages import DeliveryStatus, ReportDue, RunStatus
from herald.shared.runtime.metrics import REGISTRY
from herald.shared.runtime.settings import RetrySettings
from tests.fakes.scheduler import (
    MemoryRunHistory,
    MemoryStageQueues,
    MemoryTimers,
    RecordingHerd,
)
from tests.samples import DAILY_SPEC

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
STUCK = timedelta(minutes=15)
RETRY_AT = NOW + timedelta(minutes=5)


class World:
    def __init__(self) -> None:
        self.history = MemoryRunHistory()
        self.timers = MemoryTimers()
        self.herd = RecordingHerd()
        self.queues = MemoryStageQueues()
        self.ringing = Ringing(
            self.history, self.timers, self.herd, self.queues, STUCK, RetrySettings()
        )

    async def run(self, *statuses: RunStatus, at: datetime = NOW) -> retries.Timer:
        """Run `s@1`'s first attempt through `statuses`, a second apart; its armed timer."""
        details = run_details("s@1", DAILY_SPEC, "UTC", at - timedelta(minutes=1))
        common = {"tenant_id": "acme", "schedule_id": "s", "run_id": "s@1", "attempt": 1}
        events = [
            DeliveryStatus(
                **common,
                status=status,
                stage="scheduler" if status is RunStatus.DUE else "mailer",
                run=details if status is RunStatus.DUE else None,
                next_attempt_at=RETRY_AT if status is RunStatus.PENDING_RETRY else None,
                occurred_at=at + timedelta(seconds=n),
            )
            for n, status in enumerate(statuses)
        ]
        timer = retries.wakeup(await self.history.project_run(events), STUCK)
        assert timer is not None
        await self.timers.arm(timer, at)
        return timer

    def attempts(self) -> list[tuple[str, int]]:
        return [
            (m.run.run_id, m.run.attempt) for m in self.herd.published if isinstance(m, ReportDue)
        ]


async def test_a_due_retry_is_fired_as_the_next_attempt_and_its_timer_disarmed() -> None:
    world = World()
    timer = await world.run(RunStatus.DUE, RunStatus.PENDING_RETRY)
    await world.ringing.ring(timer, RETRY_AT)

    assert world.attempts() == [("s@1", 2)]
    due = [m for m in world.herd.published if isinstance(m, DeliveryStatus)]
    assert [(m.status, m.attempt) for m in due] == [(RunStatus.DUE, 2)]
    assert world.timers.armed == {}


async def test_a_timer_rung_early_is_armed_again_for_when_it_is_due() -> None:
    world = World()
    timer = await world.run(RunStatus.DUE, RunStatus.PENDING_RETRY)
    early = retries.Timer("s@1", "acme", "s", 1, timer.kind, NOW)
    await world.ringing.ring(early, NOW + timedelta(minutes=1))

    assert world.herd.published == []
    assert world.timers.armed == {("s@1", 1): timer}


def _stuck_runs() -> float:
    return REGISTRY.get_sample_value("herald_stuck_runs_total") or 0.0


async def test_a_stuck_run_is_fired_again_and_counted() -> None:
    world = World()
    before = _stuck_runs()
    timer = await world.run(RunStatus.DUE)
    await world.ringing.ring(timer, NOW + STUCK)

    assert world.attempts() == [("s@1", 2)]
    assert world.timers.armed == {}
    assert _stuck_runs() == before + 1
    # A retry fired again is not a stuck run.
    retried = World()
    await retried.ringing.ring(await retried.run(RunStatus.DUE, RunStatus.PENDING_RETRY), RETRY_AT)
    assert _stuck_runs() == before + 1


def _queued(status: RunStatus) -> float:
    return REGISTRY.get_sample_value("herald_stuck_runs_queued_total", {"status": status}) or 0.0


async def test_a_stuck_run_whose_message_still_waits_for_the_next_stage_is_not_fired_again() -> (
    None
):
    world = World()
    before, before_queued = _stuck_runs(), _queued(RunStatus.RENDERED)
    timer = await world.run(RunStatus.DUE, RunStatus.RENDERED)
    world.queues.waiting.add((RunStatus.RENDERED, "s"))
    rung_at = NOW + STUCK + timedelta(seconds=5)
    await world.ringing.ring(timer, rung_at)

    assert world.herd.published == []
    assert world.timers.armed == {("s@1", 1): replace(timer, due=rung_at + QUEUED_RECHECK)}
    assert (_stuck_runs(), _queued(RunStatus.RENDERED)) == (before, before_queued + 1)

    # The mailers read it and nothing came of it: now it is stuck, and fired again.
    world.queues.waiting.clear()
    await world.ringing.ring(world.timers.armed[("s@1", 1)], rung_at + QUEUED_RECHECK)
    assert world.attempts() == [("s@1", 2)]
    assert _stuck_runs() == before + 1


async def test_the_queue_is_asked_about_the_run_s_own_status_and_schedule() -> None:
    world = World()
    timer = await world.run(RunStatus.DUE)
    world.queues.waiting |= {(RunStatus.RENDERED, "s"), (RunStatus.DUE, "other")}
    await world.ringing.ring(timer, NOW + STUCK)

    assert world.attempts() == [("s@1", 2)]


async def test_a_queued_run_past_its_deadline_is_given_up_all_the_same() -> None:
    """The deadline bounds how long the mailer's ledger must remember a run."""
    world = World()
    timer = await world.run(RunStatus.DUE, at=NOW - timedelta(days=2))
    world.queues.waiting.add((RunStatus.DUE, "s"))
    await world.ringing.ring(timer, NOW)

    [failed] = world.herd.published
    assert isinstance(failed, DeliveryStatus)
    assert failed.status is RunStatus.FAILED
    assert world.timers.armed == {}


async def test_a_due_retry_goes_whatever_the_queue_holds() -> None:
    world = World()
    timer = await world.run(RunStatus.DUE, RunStatus.PENDING_RETRY)
    world.queues.waiting |= {(status, "s") for status in RunStatus}
    await world.ringing.ring(timer, RETRY_AT)

    assert world.attempts() == [("s@1", 2)]


async def test_a_run_stuck_past_its_deadline_is_given_up() -> None:
    world = World()
    long_ago = NOW - timedelta(days=2)
    timer = await world.run(RunStatus.DUE, at=long_ago)
    await world.ringing.ring(timer, NOW)

    [failed] = world.herd.published
    assert isinstance(failed, DeliveryStatus)
    assert (failed.status, failed.stage, failed.attempt) == (RunStatus.FAILED, "scheduler", 1)
    assert failed.reason is not None
    assert "gave up" in failed.reason
    assert world.timers.armed == {}


async def test_a_run_that_moved_on_or_is_unknown_is_left_alone() -> None:
    world = World()
    timer = await world.run(RunStatus.DUE, RunStatus.PENDING_RETRY)
    stale = retries.Timer("s@1", "acme", "s", 0, timer.kind, NOW)
    unknown = retries.Timer("s@9", "acme", "s", 1, timer.kind, NOW)
    for each in (stale, unknown):
        await world.ringing.ring(each, RETRY_AT)

    assert world.herd.published == []
    assert world.timers.armed == {("s@1", 1): timer}, "only the rung timers are disarmed"
