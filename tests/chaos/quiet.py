"""Waiting until the system is quiet: every run final, no consumer lag, nothing changing.

Quiet means, for `settle_s` seconds in a row: every run of the herd is in a
final state, every consumer group has read its topics to the end, and neither
the history nor the SMTP server's record changed. Only then are the
invariants worth checking: a redelivered message still in flight could send
an email after the check. Past the deadline the wait fails with what it saw.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from herald.shared.contract.messages import RunStatus
from herald.shared.contract.topics import Topics
from herald.shared.history import store as history_store
from herald.shared.history.fold import FINAL_STATUSES
from herald.shared.runtime.kafka import client_options, group_id
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.chaos.fleet import Fleet
from tests.chaos.herd import Herd
from tests.chaos.mail_sink import MailSink


def consumed_topics(topics: Topics) -> dict[str, tuple[str, ...]]:
    """Each service's consumer group and the topics it reads."""
    return {
        "scheduler": (topics.commands, topics.delivery_status),
        "renderer": (topics.report_due,),
        "mailer": (topics.report_rendered,),
    }


async def consumer_lag(settings: Settings) -> dict[str, int]:
    """Messages each service's group has not committed yet, over all partitions of its topics."""
    options = client_options(settings.kafka)
    admin = AIOKafkaAdminClient(**options, request_timeout_ms=5000)
    reader = AIOKafkaConsumer(**options, group_id=None, request_timeout_ms=5000)
    await admin.start()
    await reader.start()
    try:
        lag: dict[str, int] = {}
        for service, names in consumed_topics(Topics(settings.kafka.topic_prefix)).items():
            partitions = [
                TopicPartition(name, p)
                for name in names
                for p in sorted(reader.partitions_for_topic(name) or ())
            ]
            ends = await reader.end_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(group_id(settings, service))
            lag[service] = sum(
                ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in partitions
            )
        return lag
    finally:
        await reader.stop()
        await admin.close()


#: A retry is late, not merely waiting, once it is this far past its time: a timer
#: bucket (10 s), a tick and the ring itself take less on a loaded machine.
LATE_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class RunState:
    """A run that is not final yet, as one read of the history showed it."""

    run_id: str
    status: str
    attempt: int
    next_attempt_at: datetime | None
    updated_at: datetime | None
    reason: str | None

    def verdict(self, at: datetime, stuck_after: timedelta) -> str:
        """`waiting` for a future attempt, `in flight` in a stage, or `stuck` (a failure)."""
        if self.status == RunStatus.PENDING_RETRY.value:
            if self.next_attempt_at is not None and self.next_attempt_at + LATE_AFTER > at:
                return "waiting"
            return "stuck"
        if self.updated_at is not None and self.updated_at + stuck_after + LATE_AFTER > at:
            return "in flight"
        return "stuck"

    def describe(self, at: datetime) -> str:
        def ago(instant: datetime | None) -> str:
            return f"{(at - instant).total_seconds():+.0f} s ago" if instant else "never"

        next_attempt = (
            f", next attempt {self.next_attempt_at:%H:%M:%S} ({ago(self.next_attempt_at)})"
            if self.next_attempt_at
            else ""
        )
        return (
            f"{self.run_id}: {self.status} attempt {self.attempt}, "
            f"last event {ago(self.updated_at)}{next_attempt}, reason {self.reason!r}"
        )


@dataclass(frozen=True)
class Snapshot:
    taken_at: datetime
    by_status: Counter[str]
    #: Each run's revision: any change of the history changes it.
    revisions: frozenset[tuple[str, int]]
    #: The herd's runs that are not final, from the same read as everything else here.
    pending: list[RunState]
    lag: dict[str, int]
    emails: int

    @property
    def quiet(self) -> bool:
        return not self.pending and not any(self.lag.values())


_FIELDS = {"status": 1, "rev": 1, "attempt": 1, "next_attempt_at": 1, "updated_at": 1, "reason": 1}


async def snapshot(
    settings: Settings, db: AsyncDatabase[Document], herd: Herd, sink: MailSink
) -> Snapshot:
    taken_at = datetime.now(UTC)
    docs = {doc["_id"]: doc async for doc in db[history_store.RUNS].find({}, _FIELDS)}
    final = {s.value for s in FINAL_STATUSES}
    pending = [
        RunState(
            run,
            doc["status"] if doc else "(no record)",
            int(doc["attempt"]) if doc else 0,
            doc.get("next_attempt_at") if doc else None,
            doc.get("updated_at") if doc else None,
            doc.get("reason") if doc else None,
        )
        for run in herd.runs
        if (doc := docs.get(run)) is None or doc["status"] not in final
    ]
    return Snapshot(
        taken_at=taken_at,
        by_status=Counter(
            docs[run]["status"] if run in docs else "(no record)" for run in herd.runs
        ),
        revisions=frozenset((run_id, int(doc.get("rev", 0))) for run_id, doc in docs.items()),
        pending=pending,
        lag=await consumer_lag(settings),
        emails=sum(sink.record().accepted.values()),
    )


async def wait_until_quiet(
    settings: Settings,
    db: AsyncDatabase[Document],
    herd: Herd,
    sink: MailSink,
    fleet: Fleet,
    *,
    timeout_s: float,
    settle_s: float = 3.0,
) -> float:
    """Seconds it took; fails with what the last look saw and the services' logs at the deadline."""
    started = time.monotonic()
    deadline = started + timeout_s
    last: Snapshot | None = None
    quiet_since: float | None = None
    problem = ""
    while True:
        now = time.monotonic()
        try:
            seen = await snapshot(settings, db, herd, sink)
        except (KafkaError, PyMongoError, OSError) as exc:
            problem, quiet_since = f"last check failed: {exc!r}", None
        else:
            problem = ""
            unchanged = (
                last is not None and seen.revisions == last.revisions and seen.emails == last.emails
            )
            if not (seen.quiet and unchanged):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= settle_s:
                return quiet_since - started
            last = seen
        if now > deadline:
            stuck_after = timedelta(seconds=settings.scheduler.stuck_after_s)
            raise AssertionError(diagnostic(last, problem, timeout_s, stuck_after) + fleet.tails())
        await asyncio.sleep(1.0)


def diagnostic(
    last: Snapshot | None, problem: str, timeout_s: float, stuck_after: timedelta
) -> str:
    """What the last look saw, all of it from that one look: no run is read again."""
    lines = [f"the system was not quiet after {timeout_s:.0f} s"]
    if problem:
        lines.append(problem)
    if last is not None:
        lines.append(f"runs by status at {last.taken_at:%H:%M:%S}: {dict(last.by_status)}")
        lines.append(f"consumer lag: {last.lag}")
        lines.append(f"emails accepted: {last.emails}")
        groups: dict[str, list[RunState]] = {}
        for run in last.pending:
            groups.setdefault(run.verdict(last.taken_at, stuck_after), []).append(run)
        meaning = {
            "stuck": "a failure: overdue, nothing will move them",
            "waiting": "expected: their next attempt is due later",
            "in flight": "expected: a stage is working on them",
        }
        for verdict in ("stuck", "waiting", "in flight"):
            runs = groups.get(verdict, [])
            if runs:
                lines.append(f"{len(runs)} run(s) {verdict} ({meaning[verdict]}):")
                lines += [f"  {run.describe(last.taken_at)}" for run in runs[:5]]
    return "\n".join(lines) + "\n"
