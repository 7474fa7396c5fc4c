"""The alert rules and the dashboard on a real Prometheus, scraping the three services.

Debian's `prometheus` (installed by `deploy/local/infra up`) runs with a config of its own:
a scrape a second of the scheduler, renderer and mailer started as processes, and
deploy/prometheus/herald-rules.yaml loaded. A small herd goes through them: one run while
the SMTP server is down (a retry), then more once it is up, and one unparseable command (a
dead letter). Then, through Prometheus' HTTP API: every rule and dashboard query parses,
every rule evaluates without error, and every metric they name has series.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaProducer
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.shared.contract.messages import RunStatus
from herald.shared.contract.schedule_spec import Frequency, ReportFormat, ReportRef, ScheduleSpec
from herald.shared.contract.topics import Topics
from herald.shared.history import store as history_store
from herald.shared.runtime.kafka import client_options
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import RetrySettings, Settings, SmtpSettings
from tests.helpers import ServiceProcess, command_client, create_and_run, three_services, wait_until
from tests.promql import (
    RULES,
    dashboard_queries,
    for_prometheus,
    metric_names,
    rules,
)
from tests.smtp_server import SmtpServer, free_port

pytestmark = pytest.mark.integration

#: Not Herald's: kube-state-metrics feeds RendererOOM and NotReady; there is no cluster here.
NOT_HERALD = {
    "kube_pod_container_status_restarts_total",
    "kube_pod_container_status_last_terminated_reason",
    "kube_deployment_status_replicas_available",
    "kube_deployment_spec_replicas",
}
#: Herald metrics whose series appear on their first event only, an event this test does
#: not cause. Keep it short: what is cheap to provoke belongs in the herd below.
APPEAR_ON_FIRST_EVENT = {
    # Counted only for a transient error (Kafka or MongoDB unreachable from a handler),
    # since every other error sends the message to the DLQ (shared/runtime/kafka.py):
    # an outage under a running service is staged in tests/integration/test_outages.py.
    "faststream_received_processed_messages_exceptions_total",
    "herald_handler_transient_failures_total",
}


@pytest.fixture
async def seeded(db: AsyncDatabase[Document]) -> AsyncDatabase[Document]:
    await demo.seed(db, tenant_id="acme", calls=300, days=3, anchor=date.today())
    return db


def _api(port: int, path: str, **params: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # a bad query answers 400 with the error
        answer = json.loads(exc.read())
    return answer


@pytest.fixture
def prometheus_dir(tmp_path: Path) -> Path:
    path = tmp_path / "prometheus"
    path.mkdir()
    return path


class Prometheus:
    """Debian's prometheus on a free port, scraping the given services every second."""

    def __init__(self, directory: Path, services: list[ServiceProcess]) -> None:
        binary = shutil.which("prometheus")
        assert binary, "prometheus is missing: run deploy/local/infra up (Debian package)"
        self.port = free_port()
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {
                    "job_name": "herald",
                    "static_configs": [
                        # The label the rules' `up` selector expects (docs: NoScheduler).
                        {
                            "targets": [f"127.0.0.1:{s.ops_port}"],
                            "labels": {"app_kubernetes_io_component": s.name},
                        }
                        for s in services
                    ],
                }
            ],
        }
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log_path = directory / "prometheus.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    async def wait_ready(self) -> None:
        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2):
                    return True
            except OSError:
                return False

        async def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited:\n{self.log_path.read_text()}")
            return await asyncio.to_thread(answers)

        await wait_until(ready, 30, "prometheus to be ready", interval_s=0.2)

    async def get(self, path: str, **params: str) -> dict[str, Any]:
        return await asyncio.to_thread(_api, self.port, path, **params)

    async def query(self, expr: str) -> dict[str, Any]:
        return await self.get("/api/v1/query", query=expr)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


def _every_query() -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every rule and every dashboard query."""
    for rule in rules():
        yield f"rule {rule.get('alert') or rule['record']}", rule["expr"]
    for title, query in dashboard_queries():
        yield f"dashboard panel {title!r}", for_prometheus(query)


def _required_names() -> set[str]:
    """Every metric named by a rule or the dashboard that must have series after the herd."""
    names = {name for _, expr in _every_query() for name in metric_names(expr)}
    return names - NOT_HERALD - APPEAR_ON_FIRST_EVENT


async def _schedule(settings: Settings, schedule_id: str, recipient: str) -> str:
    spec = ScheduleSpec(
        name=schedule_id,
        report=ReportRef(id="campaign_summary"),
        frequency=Frequency.DAILY,
        recipients=[recipient],
        format=ReportFormat.CSV,
    )
    async with command_client(settings) as herald:
        return await create_and_run(herald, "acme", schedule_id, spec)


async def _in_status(db: AsyncDatabase[Document], run_id: str, status: RunStatus) -> bool:
    record = await history_store.get_run(db[history_store.RUNS], "acme", run_id)
    return record is not None and record.status is status


async def test_rules_and_dashboard_query_what_herald_exposes(
    topics_ready: Settings,
    seeded: AsyncDatabase[Document],
    recipient: str,
    log_dir: Path,
    prometheus_dir: Path,
) -> None:
    smtp_port = free_port()
    settings = topics_ready.model_copy(
        update={
            "smtp": SmtpSettings(host="127.0.0.1", port=smtp_port, timeout_s=5, pool_size=2),
            # The first retry comes 2 s after the SMTP server is found down.
            "retry": RetrySettings(base_s=2, cap_s=5, max_attempts=20, jitter=0),
        }
    )
    smtp = SmtpServer(port=smtp_port)  # not started yet: the mail server is down
    to = [recipient.replace("@", f".{n}@") for n in range(4)]
    prometheus: Prometheus | None = None
    try:
        async with three_services(settings, log_dir) as services:
            prometheus = Prometheus(prometheus_dir, services)
            await prometheus.wait_ready()

            # A run while SMTP is down: herald_retries_total, a transient email result.
            first = await _schedule(settings, "acme-herd-0", to[0])
            await wait_until(
                lambda: _in_status(seeded, first, RunStatus.PENDING_RETRY), 60, "a retry"
            )
            smtp.start()
            # One unparseable command: herald_dead_letters_total.
            producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all")
            await producer.start()
            try:
                await producer.send_and_wait(
                    Topics(settings.kafka.topic_prefix).commands, b"{not json", key=b"acme-x"
                )
            finally:
                await producer.stop()
            runs = [first] + [
                await _schedule(settings, f"acme-herd-{n}", to[n]) for n in range(1, 4)
            ]
            for run_id in runs:
                await wait_until(
                    lambda r=run_id: _in_status(seeded, r, RunStatus.DELIVERED),
                    60,
                    f"run {run_id} to be delivered",
                )

            # Every expression is PromQL Prometheus accepts.
            for where, expr in _every_query():
                answer = await prometheus.query(expr)
                assert answer["status"] == "success", (where, expr, answer.get("error"))

            # Every metric they name has series, once the herd's last scrape is in.
            required = _required_names()

            async def all_present() -> bool:
                missing.clear()
                for name in sorted(required):
                    if not (await prometheus.query(name))["data"]["result"]:
                        missing.append(name)
                return not missing

            missing: list[str] = []
            try:
                await wait_until(all_present, 20, "every metric to have series", interval_s=1)
            except AssertionError as exc:
                raise AssertionError(f"no series for {missing}") from exc

            # Every rule evaluates on the real series without an error.
            groups = (await prometheus.get("/api/v1/rules"))["data"]["groups"]
            evaluated = {
                rule["name"]: (rule["health"], rule.get("lastError", ""))
                for group in groups
                for rule in group["rules"]
            }
            assert set(evaluated) == {r.get("alert") or r["record"] for r in rules()}
            assert {n: h for n, h in evaluated.items() if h[0] != "ok"} == {}
            targets = (await prometheus.get("/api/v1/targets"))["data"]["activeTargets"]
            assert sorted(t["health"] for t in targets) == ["up"] * 3
    finally:
        smtp.stop()
        if prometheus is not None:
            prometheus.stop()
    assert sorted(d.recipient for d in smtp.deliveries) == sorted(to)  # once each
