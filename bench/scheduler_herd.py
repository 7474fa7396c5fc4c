"""The Monday 08:00 herd: N schedules due in one minute, Herald against APScheduler 3.x.

    .venv/bin/python bench/scheduler_herd.py [--quick]

Against `deploy/local/infra up` (Kafka, FerretDB on PostgreSQL):
1. Herald: N schedules imported (as CreateSchedule would leave them), all due
   at one minute; one scheduler process; the time from that minute until the
   last `ReportDue` is on the topic, and the p99 lateness of all of them.
   Meanwhile a client sends `PROBES_PER_S` CreateSchedule a second through
   the real topics: the p99 of their reply times while the herd fires.
   C CreateSchedule at once to the same scheduler, from the first sent to the
   last answered: creates/s on a database holding the N schedules, before the
   herd (the scheduler otherwise idle), and again the moment the herd is out
   (while it still records the next firings).
2. APScheduler 3.x, AsyncIOScheduler with its MongoDB job store on the same
   FerretDB: N jobs due at one instant, each publishing the same `ReportDue`
   with the same producer settings; the time until the last is published.
3. Idle: M stored schedules, none due; the scheduler's CPU over a minute and
   its RSS.
Ends with `BENCH scheduler_herd schedules=N herald_s=... replicas=1 ratio=...
command_p99_ms=... creates_per_s=... creates_after_herd_per_s=... apscheduler_s=...
p99_late_s=... idle_cpu_pct=... idle_rss_mb=...`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from apscheduler.jobstores.mongodb import MongoDBJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pymongo import MongoClient

from bench.common import bench_settings, herd_minute, import_schedules, log
from herald.client.commands import HeraldClient
from herald.services.scheduler.firing import run_details
from herald.shared.contract.identity import ScheduleRef, fired_run_id
from herald.shared.contract.messages import CreateSchedule, ReportDue
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.contract.topics import Topics
from herald.shared.runtime.kafka import client_options, ensure_topics
from herald.shared.runtime.mongo import connect
from herald.shared.runtime.settings import Settings
from tests.helpers import ServiceProcess, drop_topics


def spec_at(at: dtime) -> ScheduleSpec:
    return ScheduleSpec.model_validate(
        {
            "name": "Weekly Scorecard",
            "report": {"id": "agent_performance"},
            "frequency": "daily",
            "time_of_day": at.isoformat(timespec="minutes"),
            "timezone": "UTC",
            "recipients": ["lead@example.com", "ops@example.com"],
            "format": "pdf",
        }
    )


async def count_due(
    settings: Settings, expected: int, herd: datetime, limit_s: float
) -> list[float]:
    """Lateness (s after `herd`) of every ReportDue, once `expected` have arrived."""
    consumer = AIOKafkaConsumer(
        Topics(settings.kafka.topic_prefix).report_due,
        **client_options(settings.kafka),
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    lateness: list[float] = []
    deadline = time.monotonic() + limit_s
    try:
        while len(lateness) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batch.values():
                lateness += [r.timestamp / 1000 - herd.timestamp() for r in records]
    finally:
        await consumer.stop()
    return lateness


#: CreateSchedule a second the client sends while the herd fires, each timed to its reply.
PROBES_PER_S = 10


@dataclass(frozen=True)
class HeraldFigures:
    drain_s: float
    p99_late_s: float
    #: Reply times of the commands sent while the herd fired.
    command_p99_ms: float
    creates_per_s: float
    creates_after_herd_per_s: float


def probe_spec() -> ScheduleSpec:
    """Due in twelve hours: a probe never joins the herd."""
    return spec_at((datetime.now(UTC) + timedelta(hours=12)).time())


async def create(client: HeraldClient, schedule_id: str, spec: ScheduleSpec) -> tuple[float, float]:
    """(sent at, seconds to its reply) of one CreateSchedule through the real topics."""
    sent = time.time()
    command = CreateSchedule(
        command_id=uuid4(), tenant_id="tenant-probe", schedule_id=schedule_id, spec=spec
    )
    await client.send(command, timeout_s=300)
    return sent, time.time() - sent


async def probe(
    client: HeraldClient, start: datetime, done: asyncio.Event
) -> list[tuple[float, float]]:
    """`PROBES_PER_S` creates a second from `start` until `done`, each on its own."""
    await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()))
    spec = probe_spec()
    sending: list[asyncio.Task[tuple[float, float]]] = []
    while not done.is_set():
        sending.append(asyncio.create_task(create(client, f"probe-{len(sending):06d}", spec)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 1 / PROBES_PER_S)
    return list(await asyncio.gather(*sending))


async def creates_per_s(client: HeraldClient, count: int, prefix: str) -> float:
    """`count` creates sent at once; from the first sent to the last answered."""
    spec = probe_spec()
    started = time.monotonic()
    await asyncio.gather(*(create(client, f"{prefix}-{n:06d}", spec) for n in range(count)))
    return count / (time.monotonic() - started)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else math.nan


async def herald_herd(count: int, creates: int, replicas: int, log_dir: Path) -> HeraldFigures:
    settings = bench_settings("herald")
    await ensure_topics(settings)
    herd = herd_minute(60 + count / 1500)
    log(f"Herald: importing {count} schedules due at {herd:%H:%M}")
    took = await import_schedules(settings, [(spec_at(herd.time()), count)])
    log(f"Herald: imported in {took:.1f} s ({count / took:.0f}/s)")
    if datetime.now(UTC) > herd - timedelta(seconds=15):
        raise SystemExit("the import ran past the herd minute: rerun (or lower N)")
    schedulers = [ServiceProcess("scheduler", settings, log_dir) for _ in range(replicas)]
    try:
        for scheduler in schedulers:
            await scheduler.wait_started()
        log(f"Herald: {replicas} scheduler replica(s) up, waiting for the herd")
        options = client_options(settings.kafka)
        async with HeraldClient(options, topic_prefix=settings.kafka.topic_prefix) as client:
            rate = await creates_per_s(client, creates, "before")
            log(f"Herald: {creates} CreateSchedule at once beside {count} schedules: {rate:.0f}/s")
            if datetime.now(UTC) > herd - timedelta(seconds=10):
                raise SystemExit("the creates ran past the herd minute: rerun (or lower N)")
            done = asyncio.Event()
            probing = asyncio.create_task(probe(client, herd - timedelta(seconds=5), done))
            lateness = await count_due(
                settings, count, herd, (herd - datetime.now(UTC)).total_seconds() + 600
            )
            done.set()
            probes = await probing
            log(f"Herald: the herd is out; {creates} CreateSchedule at once")
            after = await creates_per_s(client, creates, "after")
    finally:
        for scheduler in schedulers:
            scheduler.stop()
    if len(lateness) < count:
        raise SystemExit(f"only {len(lateness)} of {count} ReportDue arrived")
    drain = max(lateness)
    during = [took for sent, took in probes if 0 <= sent - herd.timestamp() <= drain]
    figures = HeraldFigures(
        drain, percentile(lateness, 0.99), 1000 * percentile(during, 0.99), rate, after
    )
    # Said now: the APScheduler half may take long, or fail, at 100,000 jobs.
    log(
        f"Herald: {len(during)} commands sent while the herd fired, p99 reply "
        f"{figures.command_p99_ms:.0f} ms; {after:.0f} CreateSchedule/s after it"
    )
    return figures


#: What APScheduler's job needs: its job store pickles a reference to a module-level function.
_APS: dict[str, Any] = {}


async def aps_fire(schedule_id: str, tenant_id: str) -> None:
    """APScheduler's job: the same `ReportDue` Herald publishes, with the same producer settings."""
    herd: datetime = _APS["herd"]
    details = run_details(
        fired_run_id(ScheduleRef(tenant_id, schedule_id), herd), _APS["spec"], "UTC", herd
    )
    due = ReportDue(tenant_id=tenant_id, schedule_id=schedule_id, run=details)
    await _APS["producer"].send(
        _APS["topic"], due.model_dump_json().encode(), key=schedule_id.encode()
    )


async def apscheduler_herd(count: int, limit_s: float) -> float:
    settings = bench_settings("aps")
    await ensure_topics(settings)
    producer = AIOKafkaProducer(
        **client_options(settings.kafka),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    topic = Topics(settings.kafka.topic_prefix).report_due
    spec = spec_at(dtime(8, 0))
    mongo = MongoClient(settings.mongo.url.get_secret_value())
    store = MongoDBJobStore(database=settings.mongo.database, collection="jobs", client=mongo)
    scheduler = AsyncIOScheduler(jobstores={"default": store}, timezone=UTC)
    herd = herd_minute(60 + count / 400)

    _APS.update(producer=producer, topic=topic, spec=spec, herd=herd)
    log(f"APScheduler: adding {count} jobs due at {herd:%H:%M:%S}")
    started = time.monotonic()
    scheduler.start(paused=True)
    for n in range(count):
        scheduler.add_job(
            aps_fire,
            "date",
            run_date=herd,
            args=[f"s-{n:07d}", f"tenant-{n % 50}"],
            id=f"s-{n:07d}",
            misfire_grace_time=None,
        )
    log(f"APScheduler: added in {time.monotonic() - started:.1f} s")
    if datetime.now(UTC) > herd - timedelta(seconds=10):
        raise SystemExit("adding the jobs ran past the herd: rerun (or lower N)")
    scheduler.resume()
    try:
        lateness = await count_due(
            settings, count, herd, (herd - datetime.now(UTC)).total_seconds() + limit_s
        )
    finally:
        scheduler.shutdown(wait=False)
        await producer.stop()
        mongo.close()
    if len(lateness) < count:
        # Not drained within the limit: report the limit, a lower bound.
        log(f"APScheduler: only {len(lateness)} of {count} within {limit_s:.0f} s")
        return limit_s
    return max(lateness)


async def idle(count: int, log_dir: Path, seconds: float) -> tuple[float, float]:
    settings = bench_settings("idle")
    await ensure_topics(settings)
    # Spread over an hour of minutes, twelve hours away: stored, none due.
    quiet = datetime.now(UTC) + timedelta(hours=12)
    specs = [spec_at((quiet + timedelta(minutes=m)).time()) for m in range(60)]
    log(f"idle: importing {count} schedules, none due for hours")
    await import_schedules(settings, [(spec, count // len(specs)) for spec in specs])
    scheduler = ServiceProcess("scheduler", settings, log_dir)
    try:
        await scheduler.wait_started()
        await asyncio.sleep(10)
        process = psutil.Process(scheduler.process.pid)
        before = process.cpu_times()
        rss: list[float] = []
        for _ in range(int(seconds)):
            await asyncio.sleep(1)
            rss.append(process.memory_info().rss / 2**20)
        after = process.cpu_times()
    finally:
        scheduler.stop()
    busy = (after.user - before.user) + (after.system - before.system)
    return 100 * busy / seconds, max(rss)


async def cleanup() -> None:
    """Drop the benchmark databases and topics (every benchmark's: `bench-...`)."""
    settings = bench_settings("cleanup")
    await drop_topics(settings, prefix="bench-")
    client = connect(settings, "bench")
    for name in await client.list_database_names():
        if name.startswith("bench_"):
            await client.drop_database(name)
    await client.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 schedules, 100,000 idle")
    parser.add_argument(
        "--replicas", type=int, default=1, help="scheduler replicas for the herd (default 1)"
    )
    parser.add_argument(
        "--aps-limit", type=float, default=900, help="seconds to wait for APScheduler to drain"
    )
    parser.add_argument(
        "--only",
        choices=["herald", "apscheduler", "idle"],
        action="append",
        help="run only these parts (repeatable); the BENCH line needs all three",
    )
    args = parser.parse_args()
    parts = set(args.only or ["herald", "apscheduler", "idle"])
    count, idle_count = (10_000, 100_000) if args.quick else (100_000, 1_000_000)
    creates = 1_000 if args.quick else 3_000
    log_dir = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    herald = HeraldFigures(math.nan, math.nan, math.nan, math.nan, math.nan)
    aps_s = cpu = rss = math.nan
    try:
        if "herald" in parts:
            herald = await herald_herd(count, creates, args.replicas, log_dir)
            log(
                f"Herald: last ReportDue {herald.drain_s:.1f} s after the minute, "
                f"p99 {herald.p99_late_s:.1f} s"
            )
        if "apscheduler" in parts:
            aps_s = await apscheduler_herd(count, args.aps_limit)
            log(f"APScheduler: last event {aps_s:.1f} s after the instant")
        if "idle" in parts:
            cpu, rss = await idle(idle_count, log_dir, 30 if args.quick else 60)
            log(f"idle with {idle_count} schedules: {cpu:.2f}% of a core, RSS {rss:.0f} MB")
    finally:
        await cleanup()
    herald_s = herald.drain_s
    print(f"{'':-<60}")
    print(f"{'schedules':<28}{count:>12}")
    print(f"{'scheduler replicas':<28}{args.replicas:>12}")
    print(f"{'Herald drain (s)':<28}{herald_s:>12.1f}   ({count / herald_s:.0f} firings/s)")
    print(f"{'APScheduler drain (s)':<28}{aps_s:>12.1f}")
    print(f"{'ratio':<28}{aps_s / herald_s:>12.1f}")
    print(f"{'Herald p99 lateness (s)':<28}{herald.p99_late_s:>12.1f}")
    print(f"{'command p99 in herd (ms)':<28}{herald.command_p99_ms:>12.0f}")
    print(f"{'CreateSchedule/s':<28}{herald.creates_per_s:>12.0f}   ({creates} at once)")
    print(f"{'  the herd just out':<28}{herald.creates_after_herd_per_s:>12.0f}")
    print(f"{'idle schedules':<28}{idle_count:>12}")
    print(f"{'idle CPU (% of a core)':<28}{cpu:>12.2f}")
    print(f"{'idle RSS (MB)':<28}{rss:>12.0f}")
    print(
        f"BENCH scheduler_herd schedules={count} herald_s={herald_s:.2f} "
        f"replicas={args.replicas} ratio={aps_s / herald_s:.1f} "
        f"command_p99_ms={herald.command_p99_ms:.0f} creates_per_s={herald.creates_per_s:.0f} "
        f"creates_after_herd_per_s={herald.creates_after_herd_per_s:.0f} "
        f"apscheduler_s={aps_s:.2f} p99_late_s={herald.p99_late_s:.2f} "
        f"idle_cpu_pct={cpu:.2f} idle_rss_mb={rss:.0f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
