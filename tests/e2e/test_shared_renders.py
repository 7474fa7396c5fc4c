"""Runs asking for the same artifact get one render, through the renderer as its own process.

On real Kafka and FerretDB: five `ReportDue` for one tenant, two of them the
same report, filters, window and format (other schedules, recipients and
names). Those two name one artifact in their `ReportRendered` and the
renderer renders four times, not five (its `herald_render_seconds` count);
a run that differs in the window, the filters or the format renders its own.
The twin is due after the first run's render was stored, and says it was
rendered at its own due, not when that render was stored.
"""

from __future__ import annotations

import re
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.shared.contract.messages import (
    DataWindow,
    DeliveryStatus,
    ReportDue,
    ReportRendered,
    RunDetails,
    RunStatus,
)
from herald.shared.contract.schedule_spec import Filters, ReportFormat, ReportRef
from herald.shared.contract.topics import Topics
from herald.shared.runtime.kafka import client_options
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.helpers import ServiceProcess, read_topic, wait_until

pytestmark = pytest.mark.e2e


def _due(schedule_id: str, fmt: ReportFormat, days: int, filters: Filters) -> ReportDue:
    today = datetime.combine(date.today(), datetime.min.time(), UTC)
    at = today + timedelta(hours=8)
    run = RunDetails(
        run_id=f"{schedule_id}@{at.isoformat()}",
        scheduled_for=at,
        schedule_name=f"Schedule {schedule_id}",
        report=ReportRef(id="agent_performance"),
        filters=filters,
        window=DataWindow(start=today - timedelta(days=days), end=today, timezone="UTC"),
        format=fmt,
        recipients=[f"{schedule_id}@example.com"],
    )
    return ReportDue(tenant_id="acme", schedule_id=schedule_id, run=run)


def _renders(ops_port: int) -> int:
    """How many renders read the source: the count of `herald_render_seconds`."""
    url = f"http://127.0.0.1:{ops_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    counts = re.findall(r"^herald_render_seconds_count\{[^}]*\} (\S+)$", text, re.MULTILINE)
    return sum(int(float(count)) for count in counts)


async def test_identical_runs_share_one_render_and_different_ones_render_their_own(
    topics_ready: Settings, db: AsyncDatabase[Document], log_dir: Path
) -> None:
    settings = topics_ready
    await demo.seed(db, tenant_id="acme", calls=2000, days=10, anchor=date.today())
    everyone = Filters()
    dues = {
        "first": _due("acme-first", ReportFormat.CSV, 7, everyone),
        "window": _due("acme-window", ReportFormat.CSV, 1, everyone),
        "filters": _due("acme-filters", ReportFormat.CSV, 7, Filters(campaign_ids=["solar"])),
        "format": _due("acme-format", ReportFormat.HTML, 7, everyone),
    }
    topics = Topics(settings.kafka.topic_prefix)

    async def send(*sent: ReportDue) -> None:
        producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all")
        await producer.start()
        try:
            for due in sent:
                await producer.send_and_wait(
                    topics.report_due, due.model_dump_json().encode(), key=due.key()
                )
        finally:
            await producer.stop()

    async def all_rendered() -> dict[str, ReportRendered] | None:
        records = await read_topic(settings, topics.report_rendered)
        found = [ReportRendered.model_validate_json(r.value) for r in records]
        by_schedule = {r.schedule_id: r for r in found}
        return by_schedule if len(by_schedule) == len(dues) else None

    renderer = ServiceProcess("renderer", settings, log_dir)
    try:
        await renderer.wait_started()
        await send(*dues.values())
        await wait_until(all_rendered, 120, "a ReportRendered for every run")
        dues["twin"] = _due("acme-twin", ReportFormat.CSV, 7, everyone)  # due now
        await send(dues["twin"])
        rendered = await wait_until(all_rendered, 120, "a ReportRendered for every run")
        renders = _renders(renderer.ops_port)
    finally:
        renderer.stop()
    statuses = [
        DeliveryStatus.model_validate_json(r.value)
        for r in await read_topic(settings, topics.delivery_status)
    ]

    first, twin = rendered["acme-first"], rendered["acme-twin"]
    assert first.artifact_id == twin.artifact_id
    assert first.sha256 == twin.sha256
    # Each message is still about its own run.
    assert twin.run == dues["twin"].run
    assert first.run == dues["first"].run
    others = {rendered[f"acme-{name}"].artifact_id for name in ("window", "filters", "format")}
    assert len(others) == 3
    assert first.artifact_id not in others
    assert renders == 4  # five runs, four distinct artifacts: the twin read no data
    assert "shares the render of" in renderer.log()
    # The twin was rendered when it was due, not when the render it shares was stored.
    twin_due = dues["twin"].occurred_at
    assert first.occurred_at < twin_due
    [twin_status] = [
        s for s in statuses if s.schedule_id == "acme-twin" and s.status is RunStatus.RENDERED
    ]
    assert twin.occurred_at == twin_status.occurred_at == twin_due
