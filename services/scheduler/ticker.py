"""The scheduler's clock: every tick, fire due slots and ring due timers.

Any number of replicas run a ticker. Each due shard is taken by one replica
through its lease; timers are rung by the holder of the `timers` lease, which
also keeps the cursor of the last bucket rung, so after downtime no bucket is
missed and none is rung twice. It runs on ports (`ports.Slots`, `ports.Leases`,
`ports.TimerBuckets`, `ports.RunHistory`, `ports.Herd`, `ports.StageQueues`); `app.py`
wires them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import datetime, timedelta

from herald.services.scheduler import retries
from herald.services.scheduler.calendar import Calendar
from herald.services.scheduler.ports import (
    Clock,
    Herd,
    Lease,
    LeaseLost,
    Leases,
    RunHistory,
    Slots,
    StageQueues,
    TimerBuckets,
)
from herald.services.scheduler.ringing import Ringing
from herald.services.scheduler.slots import shard_lease
from herald.services.scheduler.timers import BUCKET, bucket_of
from herald.shared.contract.messages import utcnow
from herald.shared.runtime.settings import Settings

log = logging.getLogger("herald.scheduler.ticker")

TIMERS_LEASE = "timers"
#: How far back a ticker with no cursor looks for timers.
_FIRST_LOOKBACK = timedelta(minutes=10)
#: Behind by more than this, the ticker scans all timers once instead of bucket by bucket.
_SCAN_AFTER = timedelta(minutes=5)
#: Timers rung at once.
_RING_CONCURRENCY = 32


class Ticker:
    def __init__(
        self,
        settings: Settings,
        calendar: Calendar,
        slots: Slots,
        leases: Leases,
        timers: TimerBuckets,
        history: RunHistory,
        publisher: Herd,
        queues: StageQueues,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._calendar = calendar
        self._slots = slots
        self._leases = leases
        self._timers = timers
        stuck_after = timedelta(seconds=settings.scheduler.stuck_after_s)
        self._ringing = Ringing(history, timers, publisher, queues, stuck_after, settings.retry)
        self._stopping = asyncio.Event()
        #: Set while this replica is not firing; the projection waits on it.
        self.quiet = asyncio.Event()
        self.quiet.set()
        #: The last bucket this replica saw rung (by itself or another replica).
        self._rung: datetime | None = None

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        interval = self._settings.scheduler.tick_s
        while not self._stopping.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("tick failed; trying again at the next one")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)

    async def tick(self) -> None:
        now = self._clock()
        due = [shard for shard, minute in (await self._slots.next_due()).items() if minute <= now]
        random.shuffle(due)
        gate = asyncio.Semaphore(self._settings.scheduler.concurrency)

        async def fire(shard: int) -> None:
            async with gate:
                await self._fire_shard(shard, now)

        if due:
            # Firing comes first: the history projection waits while a herd goes out.
            self.quiet.clear()
            try:
                await asyncio.gather(*(fire(shard) for shard in due))
            finally:
                self.quiet.set()
        # Timers ring per bucket: between buckets there is nothing to look for.
        if self._rung is None or now >= self._rung + BUCKET:
            await self._ring_timers(now)

    async def _fire_shard(self, shard: int, now: datetime) -> None:
        lease = await self._leases.acquire(shard_lease(shard))
        if lease is None:
            return  # another replica has it
        try:
            await self._calendar.fire_shard(shard, lease, now)
        except LeaseLost:
            log.warning("lost the lease of shard %d mid-way; its new holder carries on", shard)
        finally:
            await self._leases.release(lease)

    async def _ring_timers(self, now: datetime) -> None:
        lease = await self._leases.acquire(TIMERS_LEASE)
        if lease is None:
            self._rung = bucket_of(now)  # another replica rings this bucket
            return
        try:
            # Always from the shared cursor, never from what this replica saw rung: a
            # holder that lost the lease mid-way left its unfinished buckets behind it.
            done = await self._timers.cursor() or bucket_of(now - _FIRST_LOOKBACK)
            last = bucket_of(now)
            if last - done > _SCAN_AFTER:
                # Back from downtime: one pass over the (in-flight only) timers
                # beats a query per missed bucket.
                await self._timers.claim(last, done)
                await self._ring_all(await self._timers.ringing_until(last), now, lease)
                await self._leases.renew(lease)  # the cursor is the holder's alone to move
                await self._timers.set_cursor(last)
                done = last
            bucket = done + BUCKET
            while bucket <= now:
                await self._timers.claim(bucket, done)
                await self._ring_all(await self._timers.ringing(bucket), now, lease)
                await self._leases.renew(lease)
                await self._timers.set_cursor(bucket)
                done = bucket
                bucket += BUCKET
            self._rung = done
        except LeaseLost:
            log.warning("lost the timers lease mid-way; its new holder carries on")
        finally:
            await self._leases.release(lease)

    async def _ring_all(self, timers: list[retries.Timer], now: datetime, lease: Lease) -> None:
        """A bucket's timers, a chunk at a time; the lease is renewed after each chunk.

        Rung one by one, a bucket of a few hundred retries took longer than the
        lease, and every retry of a herd waited behind the slowest round trips.
        """
        for start in range(0, len(timers), _RING_CONCURRENCY):
            chunk = timers[start : start + _RING_CONCURRENCY]
            await asyncio.gather(*(self._ringing.ring(timer, now) for timer in chunk))
            await self._leases.renew(lease)
