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

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from shared import history_store
from shared.history import FINAL_STATUSES
from shared.kafka import client_options, group_id
from shared.mongo import Document
from shared.settings import Settings
from shared.topics import Topics
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


@dataclass(frozen=True)
class Snapshot:
    by_status: Counter[str]
    #: Each run's revision: any change of the history changes it.
    revisions: frozenset[tuple[str, int]]
    not_final: list[str]
    lag: dict[str, int]
    emails: int

    @property
    def quiet(self) -> bool:
        return not self.not_final and not any(self.lag.values())


async def snapshot(
    settings: Settings, db: AsyncDatabase[Document], herd: Herd, sink: MailSink
) -> Snapshot:
    docs = [
        doc async for doc in db[history_store.RUNS].find({}, {"status": 1, "rev": 1, "attempt": 1})
    ]
    status = {doc["_id"]: doc["status"] for doc in docs}
    final = {s.value for s in FINAL_STATUSES}
    not_final = [run for run in herd.runs if status.get(run) not in final]
    by_status = Counter(status.get(run, "(no record)") for run in herd.runs)
    return Snapshot(
        by_status=by_status,
        revisions=frozenset((doc["_id"], int(doc.get("rev", 0))) for doc in docs),
        not_final=not_final,
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
    """Seconds it took; fails with runs by status, lag and the services' logs at the deadline."""
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
            raise AssertionError(
                _diagnostic(last, problem, timeout_s) + await _stuck(db, last) + fleet.tails()
            )
        await asyncio.sleep(1.0)


def _diagnostic(last: Snapshot | None, problem: str, timeout_s: float) -> str:
    lines = [f"the system was not quiet after {timeout_s:.0f} s"]
    if problem:
        lines.append(problem)
    if last is not None:
        lines.append(f"runs by status: {dict(last.by_status)}")
        lines.append(f"consumer lag: {last.lag}")
        lines.append(f"emails accepted: {last.emails}")
    return "\n".join(lines) + "\n"


async def _stuck(db: AsyncDatabase[Document], last: Snapshot | None) -> str:
    """A few of the runs that did not finish, as the history shows them."""
    if last is None or not last.not_final:
        return ""
    shown = []
    for run_id in last.not_final[:5]:
        doc = await db[history_store.RUNS].find_one({"_id": run_id})
        if doc is None:
            shown.append(f"{run_id}: no history record")
            continue
        events = [f"{e['stage']}:{e['status']}#{e['attempt']}" for e in doc.get("events", [])]
        shown.append(
            f"{run_id}: {doc['status']} attempt {doc['attempt']}, "
            f"next {doc.get('next_attempt_at')}, reason {doc.get('reason')!r}, events {events}"
        )
    return "runs not final:\n" + "\n".join(shown) + "\n"
