"""The tenant's allowed volume, counted across every mailer replica: one slot document per email.

A provider allows so many emails a minute (and a day) per account, whatever
number of mailers send for it, so the count must be shared; an in-process
limiter lets N replicas send N times the volume. FerretDB 1.x offers no
atomic conditional update, only insert-unique on `_id` (docs/architecture.md,
"Storage rules"), so the count is made of slots: a window of a tenant has
`limit` of them, `<tenant>|m|<minute>|<n>` for n in 0..limit-1 (`|d|<day>|`
for the day), and an email may go once its insert of one of them succeeds.
A taken slot (duplicate key) sends it to the next; all taken, it sleeps until
the window ends and tries the next window.

Windows are fixed and UTC-aligned (epoch multiples of their length), so every
replica names the same ones; that rests on the replicas' clocks agreeing
(NTP). A fixed window allows up to its limit at its very start, so across a
window boundary a sliding minute may see up to twice the limit, as providers
that count per calendar minute allow.

Round trips: each process keeps the next slot to try per tenant and window,
and hands concurrent admits distinct numbers, so they never race on one slot
and never retry one they know is taken; their inserts are group-committed
(one `insert_many` for all the admits of a moment, any tenant). A slot whose
insert failed or was abandoned is lost for that window: the count errs on the
low side, never the high.

Each slot carries `at` and `day`, so the mailer's retention (`cleanup.py`,
through `shared/runtime/retention.py`) expires them after `KEEP`: by a TTL
index on MongoDB, by day on FerretDB, which has no TTL indexes.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase

from herald.shared.runtime.group_commit import GroupCommit
from herald.shared.runtime.mongo import Document, insert_new

VOLUME = "send_volume"
MINUTE = "m"
DAY = "d"
#: Slots are kept this long (the day window's with a day to spare), then expire.
KEEP = timedelta(days=2)
#: Slot inserts in one command at most.
SLOTS_PER_WRITE = 64
#: Past a window's computed end, so that a sleeper wakes inside the next window.
_WAKE_MARGIN_S = 0.001


@dataclass(frozen=True, slots=True)
class _Window:
    kind: str
    index: int
    length: float

    @classmethod
    def at(cls, kind: str, length: float, now: float) -> _Window:
        return cls(kind, math.floor(now / length), length)

    @property
    def start(self) -> float:
        return self.index * self.length

    @property
    def end(self) -> float:
        return (self.index + 1) * self.length

    def label(self) -> str:
        """The minute's (the day's) UTC ISO name; finer for the short windows of tests."""
        start = datetime.fromtimestamp(self.start, UTC)
        if self.length % 86400 == 0:
            return start.date().isoformat()
        if self.length % 60 == 0:
            return start.isoformat(timespec="minutes")
        return start.isoformat(timespec="milliseconds")


def slot_id(tenant_id: str, window: _Window, n: int) -> str:
    return f"{tenant_id}|{window.kind}|{window.label()}|{n}"


class VolumeGate:
    """The `VolumeGate` port on MongoDB or FerretDB: collection `send_volume`."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        minute_s: float = 60.0,
        day_s: float = 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._slots = db[VOLUME]
        #: Shorter windows for tests only; the clock is UTC epoch seconds.
        self._minute_s = minute_s
        self._day_s = day_s
        self._clock = clock
        #: (key, kind) -> (window index, next slot number to try): only goes up in a window.
        self._next: dict[tuple[str, str], tuple[int, int]] = {}
        self._inserts = GroupCommit(self._insert, SLOTS_PER_WRITE)

    async def admit(self, tenant_id: str, per_minute: int | None, per_day: int | None) -> float:
        began = self._clock()
        slept = False
        # The slot this email holds per kind of window, kept while its window lasts.
        held: dict[str, _Window] = {}
        while True:
            now = self._clock()
            full: _Window | None = None
            for kind, limit, length in (
                (MINUTE, per_minute, self._minute_s),
                (DAY, per_day, self._day_s),
            ):
                if limit is None:
                    continue
                window = _Window.at(kind, length, now)
                if held.get(kind) == window:
                    continue
                if not await self._take(tenant_id, window, limit):
                    full = window
                    break
                held[kind] = window
            if full is None:
                # A slot of a window that ended meanwhile counts for none the email is sent in.
                if all(self._clock() < window.end for window in held.values()):
                    return self._clock() - began if slept else 0.0
                continue
            await asyncio.sleep(max(0.0, full.end - self._clock()) + _WAKE_MARGIN_S)
            slept = True

    async def _take(self, tenant_id: str, window: _Window, limit: int) -> bool:
        """A slot of the window is this email's; False once all are taken (or it is past)."""
        while True:
            n = self._ticket(tenant_id, window)
            if n is None or n >= limit:
                return False
            if await self._inserts.submit(self._slot(tenant_id, window, n)):
                return True

    def _ticket(self, tenant_id: str, window: _Window) -> int | None:
        """The next slot number not yet tried here; concurrent admits get distinct ones.

        None when another admit of this process is in a later window: this one's is over.
        """
        key = (tenant_id, window.kind)
        index, n = self._next.get(key, (window.index, 0))
        if index > window.index:
            return None
        if index < window.index:
            n = 0
        self._next[key] = (window.index, n + 1)
        return n

    def _slot(self, tenant_id: str, window: _Window, n: int) -> Document:
        now = datetime.fromtimestamp(self._clock(), UTC)
        day = datetime.fromtimestamp(window.start, UTC).date().isoformat()
        return {"_id": slot_id(tenant_id, window, n), "at": now, "day": day}

    async def _insert(self, docs: list[Document]) -> list[bool]:
        return await insert_new(self._slots, docs)
