"""Test helpers for real infrastructure: service processes, Mailpit's API, waiting."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from herald.cli import support
from herald.client.commands import HeraldClient
from herald.shared.contract.messages import CreateSchedule, RunNow
from herald.shared.contract.schedule_spec import Frequency, ReportFormat, ReportRef, ScheduleSpec
from herald.shared.history.replay import read_records
from herald.shared.runtime.kafka import client_options, ensure_topics, group_id
from herald.shared.runtime.metrics import REGISTRY
from herald.shared.runtime.mongo import connect
from herald.shared.runtime.settings import Settings
from tests.infra import REPO
from tests.smtp_server import free_port

T = TypeVar("T")


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a service process exactly these settings."""
    return {
        "HERALD_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "HERALD_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "HERALD_KAFKA__PARTITIONS": str(settings.kafka.partitions),
        "HERALD_KAFKA__SECURITY_PROTOCOL": settings.kafka.security_protocol.value,
        "HERALD_KAFKA__SASL_MECHANISM": settings.kafka.sasl_mechanism.value,
        "HERALD_MONGO__URL": settings.mongo.url.get_secret_value(),
        "HERALD_MONGO__DATABASE": settings.mongo.database,
        "HERALD_SMTP__HOST": settings.smtp.host,
        "HERALD_SMTP__PORT": str(settings.smtp.port),
        "HERALD_SMTP__SECURITY": settings.smtp.security.value,
        "HERALD_DEFAULT_TIMEZONE": settings.default_timezone,
        "HERALD_RETRY__BASE_S": str(settings.retry.base_s),
        "HERALD_RETRY__MAX_ATTEMPTS": str(settings.retry.max_attempts),
        "HERALD_SCHEDULER__TICK_S": str(settings.scheduler.tick_s),
        "HERALD_SCHEDULER__STUCK_AFTER_S": str(settings.scheduler.stuck_after_s),
        "HERALD_SCHEDULER__LEASE_TTL_S": str(settings.scheduler.lease_ttl_s),
        "HERALD_SCHEDULER__HISTORY_HOLD_S": str(settings.scheduler.history_hold_s),
        "HERALD_RENDERER__PDF_MAX_ROWS": str(settings.renderer.pdf_max_rows),
        "HERALD_RENDERER__HTML_MAX_ROWS": str(settings.renderer.html_max_rows),
        "HERALD_RENDERER__PDF_WORKERS": str(settings.renderer.pdf_workers),
        "HERALD_RENDERER__PRINT_WORKERS": str(settings.renderer.print_workers),
        "HERALD_RENDERER__RENDERS_PER_WORKER": str(settings.renderer.renders_per_worker),
        "HERALD_RENDERER__ATTACHMENT_LIMIT_BYTES": str(settings.renderer.attachment_limit_bytes),
        "HERALD_SMTP__POOL_SIZE": str(settings.smtp.pool_size),
        "HERALD_MAILER__CONCURRENCY": str(settings.mailer.concurrency),
        "HERALD_MAILER__SMTP_ALLOWED_PRIVATE": json.dumps(settings.mailer.smtp_allowed_private),
        "HERALD_RENDERER__CONCURRENCY": str(settings.renderer.concurrency),
        "HERALD_RENDERER__SHARE_RENDERS": str(settings.renderer.share_renders).lower(),
        "HERALD_OPS__SHUTDOWN_GRACE_S": str(settings.ops.shutdown_grace_s),
        "HERALD_BRANDING__PLATFORM_NAME": settings.branding.platform_name,
        "HERALD_BRANDING__PLATFORM_BASE_URL": settings.branding.platform_base_url,
        "HERALD_BRANDING__SCHEDULE_URL": settings.branding.schedule_url,
        "HERALD_RETRY__CAP_S": str(settings.retry.cap_s),
        "HERALD_RETRY__JITTER": str(settings.retry.jitter),
        "HERALD_MONGO__SERVER_SELECTION_TIMEOUT_MS": str(
            settings.mongo.server_selection_timeout_ms
        ),
        "HERALD_SMTP__TIMEOUT_S": str(settings.smtp.timeout_s),
        "HERALD_SCHEDULER__CONCURRENCY": str(settings.scheduler.concurrency),
        "HERALD_RENDERER__RENDER_TIMEOUT_S": str(settings.renderer.render_timeout_s),
        "HERALD_REPORTS__SOURCE": settings.reports.source.value,
        "HERALD_REPORTS__USE_ROLLUPS": str(settings.reports.use_rollups).lower(),
        "HERALD_REPORTS__REUSE_READS_S": str(settings.reports.reuse_reads_s),
        "HERALD_REPORTS__HTTP__TIMEOUT_S": str(settings.reports.http.timeout_s),
        "HERALD_REPORTS__HTTP__RETRIES": str(settings.reports.http.retries),
        "HERALD_REPORTS__HTTP__RETRY_BASE_S": str(settings.reports.http.retry_base_s),
        "HERALD_SECURITY__ALLOWED_RECIPIENT_DOMAINS": json.dumps(
            settings.security.allowed_recipient_domains
        ),
        "HERALD_SECURITY__TENANT_ALLOWED_RECIPIENT_DOMAINS": json.dumps(
            settings.security.tenant_allowed_recipient_domains
        ),
        "HERALD_SECRETS__PRIVATE_KEYS": json.dumps(
            {k: v.get_secret_value() for k, v in settings.secrets.private_keys.items()}
        ),
        "HERALD_RETRY__SETTINGS_PROBLEM_S": str(settings.retry.settings_problem_s),
    } | {
        name: value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        for name, value in (
            ("HERALD_KAFKA__SASL_USERNAME", settings.kafka.sasl_username),
            ("HERALD_KAFKA__SASL_PASSWORD", settings.kafka.sasl_password),
            ("HERALD_KAFKA__TLS_CA_FILE", settings.kafka.tls_ca_file),
            ("HERALD_SMTP__USERNAME", settings.smtp.username),
            ("HERALD_SMTP__PASSWORD", settings.smtp.password),
            ("HERALD_SMTP__TLS_CA_FILE", settings.smtp.tls_ca_file),
            ("HERALD_SMTP__MAX_PER_MINUTE", settings.smtp.max_per_minute),
            ("HERALD_BRANDING__LOGO_FILE", settings.branding.logo_file),
            ("HERALD_BRANDING__UNSUBSCRIBE_URL", settings.branding.unsubscribe_url),
            ("HERALD_REPORTS__HTTP__URL", settings.reports.http.url),
            ("HERALD_SECRETS__PUBLIC_KEY", settings.secrets.public_key),
        )
        if value is not None
    }


class ServiceProcess:
    """One Herald service as its own process (`python -m herald.services.<name>`)."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        log_dir: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        """`extra_env`: variables other than the settings' (`OTEL_*`, say)."""
        self.name = name
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        env |= settings_env(settings) | (extra_env or {})
        #: Each process its own health and metrics port: several run side by side here.
        self.ops_port = free_port()
        env["HERALD_OPS__PORT"] = str(self.ops_port)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"herald.services.{name}"],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_started(self, timeout_s: float = 60.0) -> None:
        await wait_until(
            lambda: _ready(self), timeout_s, f"{self.name} to start (log: {self.log_path})"
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
        return self.process.returncode


@contextlib.asynccontextmanager
async def three_services(
    settings: Settings,
    log_dir: Path,
    extra_env: dict[str, str] | None = None,
    **own: Settings,
) -> AsyncIterator[list[ServiceProcess]]:
    """Scheduler, renderer and mailer started and ready; stopped (SIGTERM) on the way out.

    `own` gives a service settings of its own (`mailer=strict`); `extra_env`, variables
    every process gets besides its settings (`OTEL_*`, say).
    """
    services = [
        ServiceProcess(name, own.get(name, settings), log_dir, extra_env)
        for name in ("scheduler", "renderer", "mailer")
    ]
    try:
        for service in services:
            await service.wait_started()
        yield services
    finally:
        for service in services:
            service.stop()


@contextlib.asynccontextmanager
async def running_scheduler(settings: Settings, log_dir: Path) -> AsyncIterator[Settings]:
    """A scheduler process on fresh topics; its database is dropped on the way out."""
    await ensure_topics(settings)
    process = ServiceProcess("scheduler", settings, log_dir)
    try:
        await process.wait_started()
        yield settings
    finally:
        process.stop()
        client = connect(settings, "herald-tests")
        await client.drop_database(settings.mongo.database)
        await client.close()


def mongo_commands_sent(command: str, collection: str | None = None) -> float:
    """This process's MongoDB commands of one name so far, on one collection or on all."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        for sample in metric.samples
        if sample.name == "herald_mongo_commands_total"
        and sample.labels["command"] == command
        and collection in (None, sample.labels["collection"])
    )


def ops_get(port: int, path: str) -> tuple[int, str]:
    """A service's health or metrics endpoint: status and body, (0, "") when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


async def _ready(service: ServiceProcess) -> bool:
    if service.process.poll() is not None:
        raise AssertionError(f"{service.name} exited early:\n{service.log()[-3000:]}")
    return "started successfully" in service.log()


async def wait_until(
    check: Callable[[], Awaitable[T | None]], timeout_s: float, what: str, interval_s: float = 0.3
) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(interval_s)


class Mailpit:
    """Reads what the SMTP server received, through Mailpit's HTTP API."""

    def __init__(self, base_url: str) -> None:
        self._base = base_url.rstrip("/")

    def _get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"{self._base}{path}", timeout=10) as response:
            return bytes(response.read())

    def search(self, query: str) -> list[dict[str, Any]]:
        found = json.loads(
            self._get("/api/v1/search?" + urllib.parse.urlencode({"query": query, "limit": 1000}))
        )
        return list(found["messages"])

    def to(self, address: str) -> list[dict[str, Any]]:
        return self.search(f'to:"{address}"')

    def raw(self, message_id: str) -> bytes:
        return self._get(f"/api/v1/message/{message_id}/raw")


async def read_topic(
    settings: Settings, topic: str, timeout_s: float = 10.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on a topic from its start, read without a consumer group."""

    async def read_all() -> list[ConsumerRecord[bytes, bytes]]:
        return [record async for record in read_records(settings, topic)]

    try:
        return await asyncio.wait_for(read_all(), timeout_s)
    except TimeoutError as exc:
        raise AssertionError(f"could not read {topic} to its end in {timeout_s} s") from exc


async def commit_as(settings: Settings, service: str, offsets: dict[TopicPartition, int]) -> None:
    """Commits for the service's consumer group what it commits once it has finished every
    record before these offsets."""
    consumer = AIOKafkaConsumer(
        **client_options(settings.kafka),
        group_id=group_id(settings, service),
        enable_auto_commit=False,  # else its stop may commit its own position over these
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def ends_of(settings: Settings, topic: str) -> dict[TopicPartition, int]:
    """The end offset of each of the topic's partitions."""
    consumer = AIOKafkaConsumer(**client_options(settings.kafka))
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


#: The command client on a test deployment's Kafka and topics: the CLI's own factory.
command_client = support.client


def off_hours(spec: ScheduleSpec, now: datetime | None = None) -> ScheduleSpec:
    """The spec at a time of day twelve hours from now, in its own zone: a test that runs a
    schedule now must not also get its regular firing. At the default 08:00 UTC, a test that
    began at 07:59:52 got every email twice, the second from the 08:00 run. A cron keeps its
    own times."""
    if spec.frequency is Frequency.CUSTOM:
        return spec
    return spec.model_copy(update={"time_of_day": off_hours_time(spec.timezone or "UTC", now)})


def off_hours_time(zone: str, now: datetime | None = None) -> clock_time:
    """The whole minute twelve hours from now on the clocks of `zone` (`off_hours`)."""
    tz = ZoneInfo(zone)
    local = (now.astimezone(tz) if now else datetime.now(tz)) + timedelta(hours=12)
    return local.time().replace(second=0, microsecond=0)


async def create_and_run(
    herald: HeraldClient, tenant_id: str, schedule_id: str, spec: ScheduleSpec
) -> str:
    """Create the schedule (at `off_hours`), then run it now; the run's id."""
    ids = {"tenant_id": tenant_id, "schedule_id": schedule_id}
    await herald.send(CreateSchedule(command_id=uuid4(), spec=off_hours(spec), **ids))
    ran = await herald.send(RunNow(command_id=uuid4(), **ids))
    assert ran.run_id is not None
    return ran.run_id


async def daily_briefs_run_now(
    settings: Settings, recipients: list[list[str]], prefix: str = "acme"
) -> list[str]:
    """Schedule `<prefix>-NN` of tenant acme per recipient list (a daily Campaign Summary CSV),
    each run now.

    Returns the run ids in order.
    """
    runs: list[str] = []
    async with command_client(settings) as herald:
        for n, to in enumerate(recipients):
            spec = ScheduleSpec(
                name=f"Brief {n}",
                report=ReportRef(id="campaign_summary"),
                frequency=Frequency.DAILY,
                recipients=to,
                format=ReportFormat.CSV,
            )
            runs.append(await create_and_run(herald, "acme", f"{prefix}-{n:02d}", spec))
    return runs


async def drop_topics(settings: Settings, prefix: str | None = None) -> None:
    """Delete the topics of a test or a benchmark pass (those of its topic prefix, or
    all that start with `prefix`), so that a broker kept between runs does not pile up
    partitions: 4,000 of them had slowed the whole machine."""
    admin = AIOKafkaAdminClient(**client_options(settings.kafka))
    await admin.start()
    try:
        prefix = prefix or f"{settings.kafka.topic_prefix}."
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


@dataclass(frozen=True)
class Cli:
    exit_code: int
    output: str


async def run_cli(settings: Settings, *args: str, stdin: str = "", timeout_s: float = 180) -> Cli:
    """`herald ARGS...` as its own process, configured by the environment alone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env |= settings_env(settings) | {"COLUMNS": "200"}
    done = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).with_name("herald")), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    return Cli(done.returncode, done.stdout + done.stderr)


def unwrapped(output: str) -> str:
    """A CLI's output as one line: rich wraps it at the terminal's width, mid-sentence."""
    return " ".join(output.split())
