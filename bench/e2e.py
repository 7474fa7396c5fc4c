"""End to end: N schedules due in one minute, through scheduler, renderer and mailer, into SMTP.

    .venv/bin/python bench/e2e.py [--quick] [--schedules N] [--single] [--slow-smtp] [--no-shares]
        [--no-shares-pdf-workers N] [--no-shares-print-workers N] [--minutes M]

Against `deploy/local/infra up` (Kafka, FerretDB on PostgreSQL), with an
aiosmtpd server of its own in its own process that logs each message's
Message-ID and arrival time:
1. Seeds the demo dataset (20,000 calls over 14 days up to today) into
   `herald_bench_e2e` once; later runs the same day reuse it.
2. Imports N schedules (10,000; --quick 500) of one tenant, as CreateSchedule
   would leave them: a handful of standard reports, with and without a
   campaign filter, as PDF, CSV and HTML, two recipients each, all due at the
   next whole minute. Runs of the same report, filters and format share one
   render; the table shows how many distinct renders there were.
3. Starts one scheduler, one renderer and one mailer as processes (own topic
   prefix, the database's run state cleared), waits until every run is final
   in the history (--minutes: 15; --quick 5), reading a sample of 50 runs' records
   every 2 s (a read of the whole history during the herd took a quarter of
   FerretDB's CPU: see `FinalWatch`), and sampling each service's RSS with its
   children (the PDF workers) every 0.5 s (PSS every 2 s); each service's MongoDB commands are
   read from its metrics endpoint at the due minute and at the end, and the history's lag
   from the scheduler's `herald_history_lag_seconds` at the end.
4. Again with two renderers and two mailers (--single skips it); --slow-smtp
   adds a single-replica pass whose SMTP server answers each message 150 ms
   late, --no-shares one with shared renders off, its renderer sized for renders:
   one PDF worker and one print worker (a worker per core of the 2-core machine;
   --no-shares-pdf-workers, --no-shares-print-workers), the shape that keeps the
   renderer under 300 MB; the other passes keep the default of one PDF worker,
   since shared renders leave a second idle.
Prints the figures as a table: time from the due minute to the last email,
p50/p95/p99 due-to-delivery, emails/s, success (runs the mailer reported
delivered / schedules), runs final in the history and how long after its last
email each became final (history_lag_s: the longest a delivered status came
after its run's last email, plus the scheduler's histogram bucket that holds
every final status's time to its storing; history_lag_poll_s: from the polls
of the sampled runs, an upper bound for those runs as coarse as a poll is
long), duplicates (Message-IDs received more than once), when the last
ReportDue / ReportRendered / history update happened (where the time goes),
MongoDB commands per run, peak RSS per service; and ends with
`BENCH e2e schedules=N emails=... delivered=... duplicates=... total_s=...
p95_s=... history_lag_s=... history_lag_poll_s=... success_pct=... speedup_2x=...
mongo_ops_per_run=... slow_smtp_total_s=... no_shares_total_s=...
slow_smtp_success_pct=... no_shares_success_pct=... no_shares_pdf_workers=...
no_shares_print_workers=...` (the
single-replica figures, then the extra passes'; a pass not run prints `na`, and so does
the total of a pass that ran out of time before every run was delivered).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families
from pymongo.asynchronous.database import AsyncDatabase
from rich.console import Console
from rich.table import Table

from bench.common import (
    SEED_MARKER,
    ArrivalLog,
    bench_settings,
    ensure_seed,
    herd_minute,
    import_schedules,
    log,
    read_arrivals,
    start_smtp_sink,
)
from herald.services.mailer.compose import message_id
from herald.services.renderer.calldata.store import (
    CALLS_PREFIX,
    DIMENSIONS,
    ROLLUP_CELLS,
    ROLLUPS,
    SESSIONS,
)
from herald.shared.contract.catalog import unaccepted_filters
from herald.shared.contract.identity import ScheduleRef, fired_run_id
from herald.shared.contract.messages import DeliveryStatus, ReportRendered, RunStatus
from herald.shared.contract.schedule_spec import (
    Filters,
    Frequency,
    ReportFormat,
    ReportRef,
    ScheduleSpec,
)
from herald.shared.contract.topics import Topics
from herald.shared.history.replay import read_records
from herald.shared.history.store import RUNS
from herald.shared.runtime.kafka import client_options, ensure_topics
from herald.shared.runtime.mongo import Document, connect
from herald.shared.runtime.settings import Settings
from tests.helpers import ServiceProcess, drop_topics, ops_get
from tests.smtp_server import free_port

DATABASE = "herald_bench_e2e"
TENANT = "bench"
CALLS, DAYS = 20_000, 14
#: Daily schedules report the previous day, weekly ones the previous week.
REPORTS = ("campaign_summary", "agent_performance", "hourly_activity", "roi", "compliance")
FILTERS = (Filters(), Filters(campaign_ids=["solar"]))
FORMATS = (ReportFormat.PDF, ReportFormat.CSV, ReportFormat.HTML)
FINAL = [
    s.value
    for s in (RunStatus.DELIVERED, RunStatus.FAILED, RunStatus.SKIPPED, RunStatus.SKIPPED_EMPTY)
]
RECIPIENTS = ["lead@example.com", "ops@example.com"]
SAMPLE_S = 0.5
#: PSS is read at every fourth sample (2 s): it walks each process's page tables, about
#: 1.4 ms a process, which made the sampler the bench's largest CPU cost on the machine
#: it measures; RSS (`statm`) is read at every sample.
PSS_EVERY = 4
#: A pool worker's age by which it has loaded what it will (its role is then known).
ROLE_SETTLED_S = 30.0
#: Runs whose history is read during the herd (each by `_id`), for the polled lag.
HISTORY_SAMPLE = 50
#: How late the slow SMTP server of `--slow-smtp` answers each message.
SLOW_SMTP_S = 0.15
MONGO_COMMANDS = "herald_mongo_commands_total"
HISTORY_LAG = "herald_history_lag_seconds_bucket"
STUCK_RUNS = "herald_stuck_runs_total"
STUCK_RUNS_QUEUED = "herald_stuck_runs_queued_total"
#: Set-up (import, services starting) and reading the topics afterwards, over a pass's limit.
PASS_OVERHEAD_S = 600.0

console = Console(width=120)


def specs(herd: datetime) -> list[ScheduleSpec]:
    """Every accepted combination of report, filters and format, daily or weekly, due at `herd`."""
    found = []
    for report_id in REPORTS:
        for filters in FILTERS:
            if unaccepted_filters(report_id, bool(filters.campaign_ids), bool(filters.agent_ids)):
                continue
            for fmt in FORMATS:
                for weekly in (False, True):
                    found.append(
                        ScheduleSpec(
                            name=f"{report_id} {fmt.value}",
                            report=ReportRef(id=report_id),
                            filters=filters,
                            frequency=Frequency.WEEKLY if weekly else Frequency.DAILY,
                            weekday=herd.weekday() if weekly else None,
                            time_of_day=herd.time(),
                            timezone="UTC",
                            recipients=RECIPIENTS,
                            format=fmt,
                        )
                    )
    return found


def spread(total: int, parts: int) -> list[int]:
    """`total` split into `parts` counts as equal as can be."""
    return [total // parts + (1 if n < total % parts else 0) for n in range(parts)]


async def clear_run_state(db: AsyncDatabase[Document]) -> None:
    """Drop all but the seeded call data: every pass starts with no schedules, runs or artifacts."""
    data = {ROLLUPS, ROLLUP_CELLS, SESSIONS, SEED_MARKER, *(c for c, _ in DIMENSIONS.values())}
    for name in await db.list_collection_names():
        if not (name.startswith(CALLS_PREFIX) or name in data):
            await db.drop_collection(name)


@dataclass
class RssSampler:
    """Peak memory of each service process with its children, sampled every half second.

    RSS sums each process's resident pages, so the pages a renderer shares with its PDF
    workers (libraries, fonts) count once per process; PSS splits each shared page
    between its sharers, which is what the processes cost the machine together.
    """

    services: dict[str, list[ServiceProcess]]
    peaks: dict[str, float] = field(default_factory=dict)
    pss_peaks: dict[str, float] = field(default_factory=dict)
    #: What each service's peak RSS was made of: its processes, by role.
    peak_parts: dict[str, str] = field(default_factory=dict)
    #: CPU seconds of every process each service ran, by pid: (role, seconds at the last
    #: sample). A recycled pool worker's seconds stay counted after it is replaced.
    cpu_seen: dict[str, dict[int, tuple[str, float]]] = field(default_factory=dict)
    #: Each process's role once known for good (`_role`), by pid.
    roles: dict[int, str] = field(default_factory=dict)

    async def run(self) -> None:
        for sample in itertools.count():
            with_pss = sample % PSS_EVERY == 0
            for name, replicas in self.services.items():
                for service in replicas:
                    members = _tree(service.process.pid, self.roles, with_pss)
                    rss = sum(m.rss for m in members) / 2**20
                    seen = self.cpu_seen.setdefault(name, {})
                    seen.update((m.pid, (m.role, m.cpu_s)) for m in members)
                    if rss > self.peaks.get(name, 0.0):
                        self.peaks[name] = rss
                        self.peak_parts[name] = " + ".join(
                            f"{m.role} {m.rss / 2**20:.0f}" for m in members
                        )
                    if with_pss:
                        pss = sum(m.pss for m in members) / 2**20
                        self.pss_peaks[name] = max(self.pss_peaks.get(name, 0.0), pss)
            await asyncio.sleep(SAMPLE_S)

    @property
    def cpu_parts(self) -> dict[str, str]:
        """Each service's CPU seconds by role, over all its replicas and the workers it ran
        (not those seen only as they started, with no CPU time yet: a worker replaced as
        the pass ended)."""
        parts = {}
        for name, seen in self.cpu_seen.items():
            by_role: dict[str, list[float]] = {}
            for role, seconds in seen.values():
                if seconds > 0:
                    by_role.setdefault(role, []).append(seconds)
            parts[name] = " + ".join(
                f"{role} {sum(s):.1f}" + (f" ({len(s)} processes)" if len(s) > 1 else "")
                for role, s in by_role.items()
            )
        return parts


@dataclass(frozen=True, slots=True)
class Member:
    """One process of a service at a sample: memory in bytes, CPU seconds so far."""

    pid: int
    role: str
    rss: int
    #: 0 when not read at this sample (`PSS_EVERY`).
    pss: int
    cpu_s: float


def _tree(pid: int, roles: dict[int, str], with_pss: bool) -> list[Member]:
    """A service process and its children, each with its role (`roles` keeps those known)."""
    try:
        process = psutil.Process(pid)
        tree = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    members = []
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, OSError):
            memory = member.memory_full_info() if with_pss else member.memory_info()
            times = member.cpu_times()
            role = roles.get(member.pid) or _role(member, pid)
            # A worker still importing matplotlib looks like a print worker for a while.
            if role != "printer" or time.time() - member.create_time() > ROLE_SETTLED_S:
                roles[member.pid] = role
            members.append(
                Member(
                    member.pid,
                    role,
                    memory.rss,
                    getattr(memory, "pss", 0),
                    times.user + times.system,
                )
            )
    return members


def _role(member: psutil.Process, service_pid: int) -> str:
    """The service process itself, multiprocessing's resource tracker, or a pool worker:
    one that has loaded matplotlib, or a print worker (or a worker still starting)."""
    if member.pid == service_pid:
        return "main"
    if "resource_tracker" in " ".join(member.cmdline()):
        return "tracker"
    maps = Path(f"/proc/{member.pid}/maps").read_text()
    return "worker" if "/matplotlib/" in maps else "printer"


def final_lag_bound(metrics: str) -> float:
    """The smallest `le` of the scheduler's history lag histogram that holds every final
    status (nan when it counted none)."""
    by_bound: Counter[float] = Counter()
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == HISTORY_LAG and sample.labels["status"] in FINAL:
                by_bound[float(sample.labels["le"])] += int(sample.value)
    total = by_bound[math.inf]
    if not total:
        return math.nan
    return min(bound for bound, n in by_bound.items() if n == total)


def counted(metrics: str, name: str) -> int:
    """A counter's total over its labels in a service's Prometheus text. The scheduler's
    stuck-run timer counts the runs it fired again (`STUCK_RUNS`: a stage read them and
    lost them) and those it found still queued for a stage (`STUCK_RUNS_QUEUED`)."""
    return sum(
        int(sample.value)
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == name
    )


def mongo_commands(metrics: str) -> Counter[str]:
    """MongoDB commands by name and collection (`insert artifacts.chunks`) in a service's
    Prometheus text (`herald_mongo_commands_total`)."""
    found: Counter[str] = Counter()
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == MONGO_COMMANDS:
                key = f"{sample.labels['command']} {sample.labels['collection']}".strip()
                found[key] += int(sample.value)
    return found


async def command_counts(services: dict[str, list[ServiceProcess]]) -> dict[str, Counter[str]]:
    """Each service's MongoDB commands so far, its replicas summed, read from their ops ports."""
    counts: dict[str, Counter[str]] = {}
    for name, replicas in services.items():
        counts[name] = Counter()
        for service in replicas:
            status, body = await asyncio.to_thread(ops_get, service.ops_port, "/metrics")
            if status != 200:
                log(f"  {name}'s metrics did not answer ({status}): its MongoDB count is short")
            counts[name] += mongo_commands(body)
    return counts


async def command_counts_at(
    moment: datetime, services: dict[str, list[ServiceProcess]]
) -> dict[str, Counter[str]]:
    """`command_counts` at `moment`: the herd's own commands are those counted after it."""
    await asyncio.sleep(max(0.0, moment.timestamp() - time.time()))
    return await command_counts(services)


async def machine_cpu_at(moment: datetime) -> Any:
    """The machine's CPU times at `moment` (`busy_pct` compares two)."""
    await asyncio.sleep(max(0.0, moment.timestamp() - time.time()))
    return psutil.cpu_times()


def busy_pct(before: Any, after: Any) -> float:
    """How busy the machine's CPUs were between two readings, every process counted: near
    100, the pass was bound by the CPUs; well below, by waiting."""
    total = sum(after) - sum(before)
    idle = (after.idle + after.iowait) - (before.idle + before.iowait)
    return 100 * (1 - idle / total) if total > 0 else math.nan


@dataclass
class PassPlan:
    """What a pass changes from the plain single-replica one."""

    label: str
    replicas: int = 1
    smtp_delay_s: float = 0.0
    share_renders: bool = True
    #: The renderer's PDF workers, if not the settings' default.
    pdf_workers: int | None = None
    #: The renderer's print workers (`RendererSettings.print_workers`).
    print_workers: int = 0


@dataclass
class Pass:
    label: str
    schedules: int
    emails: int = 0
    delivered_runs: int = 0
    final_runs: int = 0
    duplicates: int = 0
    total_s: float = math.nan
    p50_s: float = math.nan
    p95_s: float = math.nan
    p99_s: float = math.nan
    last_due_s: float = math.nan
    last_rendered_s: float = math.nan
    all_final_s: float = math.nan
    #: Per sampled run that emailed: its last email's arrival to the history seen final.
    history_lags: list[float] = field(default_factory=list)
    #: The longest a look at the sampled runs took: with the 2 s between looks, the
    #: resolution of those lags.
    poll_s: float = 0.0
    #: The scheduler's own measure: every final status was stored within this many seconds
    #: of happening (the smallest bucket of `herald_history_lag_seconds` that holds them all).
    stored_within_s: float = math.nan
    #: The longest a run's `delivered` status happened after its last email.
    status_after_email_s: float = math.nan
    #: Runs the stuck-run timer fired again, and times it found one still queued (`counted`).
    fired_again: int = 0
    found_queued: int = 0
    renders: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=dict)
    pss_peaks: dict[str, float] = field(default_factory=dict)
    peak_parts: dict[str, str] = field(default_factory=dict)
    cpu_parts: dict[str, str] = field(default_factory=dict)
    #: MongoDB commands each service sent from the due minute on, by command name and
    #: collection (`mongo_commands`).
    mongo: dict[str, Counter[str]] = field(default_factory=dict)
    #: The machine's CPUs, busy from the due minute until every run was final (`busy_pct`).
    machine_busy_pct: float = math.nan

    @property
    def success_pct(self) -> float:
        return 100 * self.delivered_runs / self.schedules

    @property
    def per_s(self) -> float:
        return self.emails / self.total_s if self.total_s > 0 else math.nan

    @property
    def history_lag_s(self) -> float:
        """An upper bound of every run's last email to its final record: the slowest status
        after its email plus the slowest status to its storing."""
        return self.status_after_email_s + self.stored_within_s

    @property
    def history_lag_poll_s(self) -> float:
        return self.history_lags[-1] if self.history_lags else math.nan

    @property
    def history_lag_p50_s(self) -> float:
        return quantile(self.history_lags, 0.50)

    def mongo_per_run(self, service: str | None = None) -> float:
        """MongoDB commands per scheduled run, of one service or of all three."""
        counts = [c for name, c in self.mongo.items() if service in (None, name)]
        return sum(c.total() for c in counts) / self.schedules if counts else math.nan

    def top_commands(self, service: str | None = None) -> str:
        """The commands a run costs most of: of one service by name and collection, of all
        three by name alone."""
        counts = [c for name, c in self.mongo.items() if service in (None, name)]
        every = Counter[str]()
        for count in counts:
            for key, n in count.items():
                every[key if service else key.split()[0]] += n
        shown = every.most_common(5 if service is None else 8)
        return ", ".join(f"{key} {n / self.schedules:.1f}" for key, n in shown)


def quantile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def last_emails(
    run_ids: Iterable[str], arrivals: Iterable[tuple[float, str]], from_address: str
) -> dict[str, float]:
    """Per run that emailed anyone: its last email's arrival (each email at its first: a
    duplicate is no later delivery)."""
    first: dict[str, float] = {}
    for at, mid in arrivals:
        first[mid] = min(at, first.get(mid, at))
    last = {}
    for run_id in run_ids:
        mids = (message_id(run_id, recipient, from_address) for recipient in RECIPIENTS)
        arrived = [first[mid] for mid in mids if mid in first]
        if arrived:
            last[run_id] = max(arrived)
    return last


def history_lags(final_at: dict[str, float], last: dict[str, float], until: float) -> list[float]:
    """Per run that emailed anyone, sorted: its last email to the history seen final by a
    poll; a run never seen final counts until `until`, so its lag is a lower bound."""
    return sorted(final_at.get(run_id, until) - at for run_id, at in last.items())


def status_after_email(delivered_at: dict[str, float], last: dict[str, float]) -> float:
    """The longest a run's `delivered` status happened after its last email (the mailer
    confirms each recipient in its ledger first), or nan."""
    gaps = [delivered_at[run_id] - at for run_id, at in last.items() if run_id in delivered_at]
    return max(gaps, default=math.nan)


async def last_timestamp(
    settings: Settings, topic: str, herd: datetime
) -> tuple[float, list[bytes]]:
    """Seconds after `herd` of the topic's last record, and every record's value."""
    last, values = math.nan, []
    async for record in read_records(settings, topic):
        values.append(record.value)
        at = record.timestamp / 1000 - herd.timestamp()
        last = at if math.isnan(last) else max(last, at)
    return last, values


@dataclass
class FinalWatch:
    """When runs became final in the history, watched without taking the herd's database time.

    A read of every final run took up to 13 s at 10,000 runs, and such polls were a
    quarter of FerretDB's CPU during the herd they measured (a CPU profile of FerretDB,
    `MsgGetMore`). So during the herd the history is read only for a sample of runs,
    each by `_id` (pushed down to PostgreSQL: a lookup), and the status topic, read on
    by one consumer, tells which runs the stages have finished. Only once the topic
    shows every run final is the history read whole, until it agrees.
    """

    settings: Settings
    sample: list[str]
    final_at: dict[str, float] = field(default_factory=dict)
    #: The longest one look at the sample took: a run became final at most this long before.
    poll_s: float = 0.0
    #: Runs a final status on the topic ended.
    reported: set[str] = field(default_factory=set)
    #: Runs final in the history, at its last whole read.
    final_runs: int = 0

    async def wait(
        self, db: AsyncDatabase[Document], expected: int, herd: datetime, limit_s: float
    ) -> float:
        """Watches until `expected` runs are final in the history or the limit; when they
        all were (or nan)."""
        statuses = AIOKafkaConsumer(
            Topics(self.settings.kafka.topic_prefix).delivery_status,
            **client_options(self.settings.kafka),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await statuses.start()
        try:
            return await self._watch(db, statuses, expected, herd, limit_s)
        finally:
            await statuses.stop()

    async def _watch(
        self,
        db: AsyncDatabase[Document],
        statuses: AIOKafkaConsumer,
        expected: int,
        herd: datetime,
        limit_s: float,
    ) -> float:
        deadline = herd.timestamp() + limit_s
        last_log = 0.0
        while time.time() < deadline:
            started = time.time()
            await self._sample(db)
            seen = time.time()
            self.poll_s = max(self.poll_s, seen - started)
            for records in (await statuses.getmany(timeout_ms=100, max_records=50_000)).values():
                for record in records:
                    event = DeliveryStatus.model_validate_json(record.value)
                    if event.status.value in FINAL:
                        self.reported.add(event.run_id)
            if len(self.reported) >= expected:
                final = [
                    str(doc["_id"])
                    for status in FINAL
                    async for doc in db[RUNS].find({"status": status}, {"_id": 1})
                ]
                self.final_runs = len(final)
                if len(final) >= expected:
                    return time.time() - herd.timestamp()
            if time.monotonic() - last_log > 15 and seen > herd.timestamp():
                log(f"  {len(self.reported)}/{expected} runs reported final")
                last_log = time.monotonic()
            await asyncio.sleep(max(0.0, started + 2.0 - time.time()))
        return math.nan

    async def _sample(self, db: AsyncDatabase[Document]) -> None:
        for run_id in self.sample:
            if run_id in self.final_at:
                continue
            doc = await db[RUNS].find_one({"_id": run_id}, {"status": 1})
            if doc is not None and doc["status"] in FINAL:
                self.final_at[run_id] = time.time()


def sampled_runs(count: int, herd: datetime) -> list[str]:
    """The run ids of HISTORY_SAMPLE schedules spread evenly over the imported ones."""
    step = max(1, count // HISTORY_SAMPLE)
    return [fired_run_id(ScheduleRef(TENANT, f"s-{n:07d}"), herd) for n in range(0, count, step)]


async def one_pass(plan: PassPlan, count: int, log_dir: Path, limit_s: float) -> Pass:
    label = plan.label
    settings = bench_settings(f"e2e{plan.replicas}x", DATABASE)
    port = free_port()
    renderer = settings.renderer.model_copy(
        update={
            "share_renders": plan.share_renders,
            "pdf_workers": plan.pdf_workers or settings.renderer.pdf_workers,
            "print_workers": plan.print_workers,
        }
    )
    settings = settings.model_copy(
        update={
            "smtp": settings.smtp.model_copy(update={"host": "127.0.0.1", "port": port}),
            "renderer": renderer,
        }
    )
    arrivals_path = log_dir / f"arrivals-{settings.kafka.topic_prefix}.tsv"
    sink = start_smtp_sink(
        port,
        f"{ArrivalLog.__module__}.{ArrivalLog.__name__}",
        str(arrivals_path),
        str(plan.smtp_delay_s),
    )
    client = connect(settings, "herald-bench")
    db = client[DATABASE]
    result = Pass(label, count)
    services: dict[str, list[ServiceProcess]] = {}
    run_ids: set[str] = set()
    delivered_at: dict[str, float] = {}
    try:
        await clear_run_state(db)
        await ensure_topics(settings)
        # Importing took up to 0.7 s a kind plus 12 ms a schedule here; starting the services 30 s.
        herd = herd_minute(60 + 0.7 * len(specs(herd_minute(0))) + 0.015 * count)
        kinds = specs(herd)
        log(f"{label}: importing {count} schedules ({len(kinds)} kinds) due at {herd:%H:%M}")
        took = await import_schedules(
            settings, list(zip(kinds, spread(count, len(kinds)), strict=True)), lambda _: TENANT
        )
        log(f"{label}: imported in {took:.1f} s")
        services = {
            "scheduler": [ServiceProcess("scheduler", settings, log_dir)],
            "renderer": [
                ServiceProcess("renderer", settings, log_dir) for _ in range(plan.replicas)
            ],
            "mailer": [ServiceProcess("mailer", settings, log_dir) for _ in range(plan.replicas)],
        }
        everyone = [s for group in services.values() for s in group]
        await asyncio.gather(*(s.wait_started(120) for s in everyone))
        if datetime.now(UTC) > herd - timedelta(seconds=5):
            raise SystemExit("setting up ran past the due minute: rerun (or lower N)")
        log(f"{label}: services up, waiting for {herd:%H:%M:%S}")
        watch = FinalWatch(settings, sampled_runs(count, herd))
        sampler = RssSampler(services)
        sampling = asyncio.create_task(sampler.run())
        at_herd = asyncio.create_task(command_counts_at(herd, services))
        cpu_at_herd = asyncio.create_task(machine_cpu_at(herd))
        try:
            result.all_final_s = await watch.wait(db, count, herd, limit_s)
            result.machine_busy_pct = busy_pct(await cpu_at_herd, psutil.cpu_times())
            before = await at_herd
            after = await command_counts(services)
            (scheduler,) = services["scheduler"]
            _, metrics = await asyncio.to_thread(ops_get, scheduler.ops_port, "/metrics")
            result.stored_within_s = final_lag_bound(metrics)
            result.fired_again = counted(metrics, STUCK_RUNS)
            result.found_queued = counted(metrics, STUCK_RUNS_QUEUED)
        finally:
            sampling.cancel()
            at_herd.cancel()
            cpu_at_herd.cancel()
        result.mongo = {name: after[name] - before[name] for name in services}
        result.peaks, result.pss_peaks = sampler.peaks, sampler.pss_peaks
        result.peak_parts, result.cpu_parts = sampler.peak_parts, sampler.cpu_parts
        result.final_runs, result.poll_s = watch.final_runs, watch.poll_s
        log(f"{label}: {result.final_runs}/{count} runs final; reading what happened")
        pipeline = [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]
        grouped = await (await db[RUNS].aggregate(pipeline)).to_list()
        result.statuses = {str(doc["_id"]): int(doc["n"]) for doc in grouped}
        topics = Topics(settings.kafka.topic_prefix)
        result.last_due_s, _ = await last_timestamp(settings, topics.report_due, herd)
        result.last_rendered_s, rendered = await last_timestamp(
            settings, topics.report_rendered, herd
        )
        result.renders = len(
            {ReportRendered.model_validate_json(value).artifact_id for value in rendered}
        )
        _, statuses = await last_timestamp(settings, topics.delivery_status, herd)
        events = [DeliveryStatus.model_validate_json(value) for value in statuses]
        run_ids = {e.run_id for e in events}
        for e in events:
            if e.status is RunStatus.DELIVERED:
                at = e.occurred_at.timestamp()
                delivered_at[e.run_id] = min(at, delivered_at.get(e.run_id, at))
        # The mailer's verdict: the history may lag behind it (the table shows both).
        result.delivered_runs = len({e.run_id for e in events if e.status is RunStatus.DELIVERED})
        failed = [
            e.reason for e in events if e.status in (RunStatus.FAILED, RunStatus.PENDING_RETRY)
        ]
        if failed:
            log(
                f"{label}: {len(failed)} failures or retries, e.g. {Counter(failed).most_common(3)}"
            )
    finally:
        for group in services.values():
            for service in group:
                service.stop()
        sink.terminate()
        sink.wait(10)
        await client.close()
        await drop_topics(settings)
    arrivals = read_arrivals(arrivals_path)
    ids = Counter(mid for _, mid in arrivals)
    result.emails = len(ids)
    result.duplicates = sum(n - 1 for n in ids.values() if n > 1)
    latencies = sorted(at - herd.timestamp() for at, _ in arrivals)
    if latencies:
        result.total_s = latencies[-1]
        result.p50_s = quantile(latencies, 0.50)
        result.p95_s = quantile(latencies, 0.95)
        result.p99_s = quantile(latencies, 0.99)
    last = last_emails(run_ids, arrivals, settings.smtp.from_address)
    sampled = {run_id: last[run_id] for run_id in watch.sample if run_id in last}
    result.history_lags = history_lags(watch.final_at, sampled, herd.timestamp() + limit_s)
    result.status_after_email_s = status_after_email(delivered_at, last)
    return result


def summary(done: Pass) -> str:
    """One pass's headline, logged as soon as it ends (the table waits for all)."""
    rss = ", ".join(
        f"{name} {mb:.0f} (PSS {done.pss_peaks.get(name, math.nan):.0f})"
        for name, mb in done.peaks.items()
    )
    return (
        f"{done.label}: {done.emails:,} emails, {done.delivered_runs:,}/{done.schedules:,} runs "
        f"delivered, last email {done.total_s:.1f} s after the minute, p95 {done.p95_s:.1f} s, "
        f"history lag within {done.history_lag_s:.1f} s (polled {done.history_lag_poll_s:.1f} s), "
        f"{done.duplicates} duplicates, "
        f"{done.renders} renders, {done.mongo_per_run():.1f} MongoDB commands a run, "
        f"the machine's CPUs {done.machine_busy_pct:.0f} % busy, "
        f"peak RSS MB {rss}; at the peak, RSS by process: "
        + "; ".join(f"{name} {parts}" for name, parts in done.peak_parts.items())
        + "; CPU s by process: "
        + "; ".join(f"{name} {parts}" for name, parts in done.cpu_parts.items())
    )


def report(passes: list[Pass]) -> None:
    table = Table(title=f"{passes[0].schedules:,} schedules due in one minute, end to end")
    table.add_column("")
    for done in passes:
        table.add_column(done.label, justify="right")

    def row(name: str, cell: str) -> None:
        table.add_row(name, *(cell.format(p=p) for p in passes))

    row("emails received (distinct)", "{p.emails:,}")
    row("duplicates (Message-ID twice)", "{p.duplicates:,}")
    row("runs delivered (mailer's status)", "{p.delivered_runs:,}")
    row("machine's CPUs busy, due minute to all final (%)", "{p.machine_busy_pct:.0f}")
    row("runs final in the history", "{p.final_runs:,}")
    row("success %", "{p.success_pct:.2f}")
    row("distinct renders", "{p.renders:,}")
    row("due minute -> last email (s)", "{p.total_s:.1f}")
    row("due -> delivery p50 (s)", "{p.p50_s:.1f}")
    row("due -> delivery p95 (s)", "{p.p95_s:.1f}")
    row("due -> delivery p99 (s)", "{p.p99_s:.1f}")
    row("emails/s", "{p.per_s:.1f}")
    row("last ReportDue at (s)", "{p.last_due_s:.1f}")
    row("last ReportRendered at (s)", "{p.last_rendered_s:.1f}")
    row("all runs final in history at (s)", "{p.all_final_s:.1f}")
    row(
        f"last email -> final in history p50, {HISTORY_SAMPLE} runs polled (s)",
        "{p.history_lag_p50_s:.1f}",
    )
    row(
        f"last email -> final in history max, {HISTORY_SAMPLE} runs polled (s)",
        "{p.history_lag_poll_s:.1f}",
    )
    row("last email -> delivered status, max (s)", "{p.status_after_email_s:.1f}")
    row("final status -> stored, all within (s)", "{p.stored_within_s:.1f}")
    row("last email -> final in history, bound (s)", "{p.history_lag_s:.1f}")
    row("history sample poll took up to (s)", "{p.poll_s:.2f}")
    row("runs fired again by the stuck-run timer", "{p.fired_again:,}")
    row("stuck-run timer found a run still queued (times)", "{p.found_queued:,}")
    for service in (None, "scheduler", "renderer", "mailer"):
        table.add_row(
            f"MongoDB commands a run ({service or 'all'})",
            *(f"{p.mongo_per_run(service):.1f}: {p.top_commands(service)}" for p in passes),
        )
    for service in ("scheduler", "renderer", "mailer"):
        table.add_row(
            f"peak RSS {service} (MB, with children)",
            *(f"{p.peaks.get(service, math.nan):.0f}" for p in passes),
        )
        table.add_row(
            f"peak PSS {service} (MB, with children)",
            *(f"{p.pss_peaks.get(service, math.nan):.0f}" for p in passes),
        )
    table.add_row(
        "runs in the history by status",
        *(", ".join(f"{k} {v}" for k, v in sorted(p.statuses.items())) for p in passes),
    )
    console.print(table)


def figure(value: float, digits: int) -> str:
    """A BENCH value: `na` for a pass not run (or a figure it could not measure)."""
    return "na" if math.isnan(value) else f"{value:.{digits}f}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 schedules, 5 minutes at most")
    parser.add_argument("--schedules", type=int, default=None, help="default 10,000 (500 quick)")
    parser.add_argument("--single", action="store_true", help="skip the two-replica pass")
    parser.add_argument(
        "--slow-smtp",
        action="store_true",
        help=f"add a pass whose SMTP server answers {SLOW_SMTP_S * 1000:.0f} ms late",
    )
    parser.add_argument(
        "--no-shares", action="store_true", help="add a pass with shared renders off"
    )
    parser.add_argument(
        "--no-shares-pdf-workers",
        type=int,
        default=1,
        help="PDF workers of the --no-shares pass's renderer (default 1)",
    )
    parser.add_argument(
        "--no-shares-print-workers",
        type=int,
        default=1,
        help="print workers (PDFs only, no matplotlib) of the --no-shares pass's renderer "
        "(default 1: with the PDF worker, one per core here)",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="how long a pass may take after the due minute (15; 5 quick): longer, a slow "
        "pass (--no-shares) reports its time instead of na",
    )
    parser.add_argument("--reseed", action="store_true", help="seed the demo data again")
    args = parser.parse_args()
    count = args.schedules or (500 if args.quick else 10_000)
    if count < 1:
        raise SystemExit("--schedules must be at least 1")
    if args.no_shares_pdf_workers < 1:
        raise SystemExit("--no-shares-pdf-workers must be at least 1")
    if args.no_shares_print_workers < 0:
        raise SystemExit("--no-shares-print-workers must be 0 or more")
    if args.minutes is not None and args.minutes <= 0:
        raise SystemExit("--minutes must be more than 0")
    limit_s = 60.0 * (args.minutes or (5 if args.quick else 15))
    log_dir = Path(tempfile.mkdtemp(prefix="herald-bench-e2e-"))
    log(f"service logs and arrivals in {log_dir}")
    settings = bench_settings("e2e", DATABASE)
    client = connect(settings, "herald-bench")
    try:
        await ensure_seed(
            client,
            DATABASE,
            tenant_id=TENANT,
            calls=CALLS,
            days=DAYS,
            anchor=date.today(),
            zone=ZoneInfo("UTC"),
            reseed=args.reseed,
        )
    finally:
        await client.close()
    plans = {"single": PassPlan("1 renderer, 1 mailer")}
    if not args.single:
        plans["double"] = PassPlan("2 renderers, 2 mailers", replicas=2)
    if args.slow_smtp:
        plans["slow_smtp"] = PassPlan(
            f"SMTP {SLOW_SMTP_S * 1000:.0f} ms a message", smtp_delay_s=SLOW_SMTP_S
        )
    if args.no_shares:
        workers, printers = args.no_shares_pdf_workers, args.no_shares_print_workers
        plans["no_shares"] = PassPlan(
            f"no shared renders, {workers} PDF workers"
            + (f" + {printers} print workers" if printers else ""),
            share_renders=False,
            pdf_workers=workers,
            print_workers=printers,
        )
    # SIGTERM as Ctrl-C: the passes' clean-up stops the services and the SMTP server.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    passes: dict[str, Pass] = {}
    for key, plan in plans.items():
        try:
            # Also bounds a pass whose database or broker stops answering mid-way.
            async with asyncio.timeout(limit_s + PASS_OVERHEAD_S):
                passes[key] = await one_pass(plan, count, log_dir, limit_s)
        except TimeoutError:
            log(f"{plan.label}: ran out of time (a server not answering?); its figures are na")
            continue
        log(summary(passes[key]))
    if "single" not in passes:
        raise SystemExit("the single-replica pass did not finish: no figures")
    report(list(passes.values()))
    single = passes["single"]
    # Emails per second, not total times: a pass cut short by its time limit still compares
    # (with every email delivered in both, it is the ratio of the total times).
    speedup = passes["double"].per_s / single.per_s if "double" in passes else math.nan
    if "double" in passes:
        console.print(f"speed-up with two renderers and two mailers: x{speedup:.2f}")
    print(
        f"BENCH e2e schedules={count} emails={single.emails} delivered={single.delivered_runs} "
        f"duplicates={single.duplicates} total_s={figure(single.total_s, 1)} "
        f"p95_s={figure(single.p95_s, 1)} history_lag_s={figure(single.history_lag_s, 1)} "
        f"history_lag_poll_s={figure(single.history_lag_poll_s, 1)} "
        f"success_pct={single.success_pct:.2f} speedup_2x={figure(speedup, 2)} "
        f"mongo_ops_per_run={figure(single.mongo_per_run(), 1)} "
        f"{extra_pass('slow_smtp', passes.get('slow_smtp'))} "
        f"{extra_pass('no_shares', passes.get('no_shares'))} "
        f"no_shares_pdf_workers={args.no_shares_pdf_workers if args.no_shares else 'na'} "
        f"no_shares_print_workers={args.no_shares_print_workers if args.no_shares else 'na'}"
    )


def extra_pass(name: str, done: Pass | None) -> str:
    """An extra pass's BENCH figures: its last email (`na` if the pass ran out of time with
    runs undelivered, since that last email is not the herd's end) and how far it got."""
    if done is None:
        return f"{name}_total_s=na {name}_success_pct=na"
    total = done.total_s if done.delivered_runs == done.schedules else math.nan
    return f"{name}_total_s={figure(total, 1)} {name}_success_pct={done.success_pct:.2f}"


if __name__ == "__main__":
    asyncio.run(main())
