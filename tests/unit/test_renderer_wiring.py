"""The renderer's subscriber on FastStream's in-memory broker: `ReportDue` in, its answers out."""

from __future__ import annotations

from faststream.kafka import TestKafkaBroker

from herald.services.renderer import handlers
from herald.services.renderer.due_runs import DueRuns
from herald.services.renderer.render import Renderer
from herald.services.renderer.reports.model import Column, ReportData, Table
from herald.shared.contract.messages import (
    DeliveryStatus,
    ReportDue,
    ReportRendered,
    RunStatus,
)
from herald.shared.contract.schedule_spec import ReportFormat
from herald.shared.contract.topics import Topics
from herald.shared.ports import artifact_id
from herald.shared.runs import retry
from herald.shared.runtime.kafka import KafkaPublisher, group_id, make_broker
from herald.shared.runtime.settings import Settings
from tests.fakes.artifacts import MemoryArtifacts
from tests.fakes.renderer import FakePrinter, MemoryShares, MemorySource
from tests.samples import run_details

SETTINGS = Settings()
TOPICS = Topics(SETTINGS.kafka.topic_prefix)


async def test_a_report_due_comes_back_rendered_with_its_status() -> None:
    broker = make_broker(SETTINGS, "renderer")
    artifacts = MemoryArtifacts()
    report = ReportData("Campaign Summary", (Table((Column("agent", "Agent"),), [("a-1",)]),))
    renderer = Renderer(MemorySource(report), artifacts, FakePrinter(), SETTINGS)
    shares = MemoryShares(artifacts)
    due_runs = DueRuns(renderer, artifacts, shares, KafkaPublisher(broker, TOPICS), SETTINGS)
    handlers.register(
        broker, TOPICS, group_id(SETTINGS, "renderer"), due_runs, SETTINGS.renderer.concurrency
    )
    rendered: list[ReportRendered] = []
    statuses: list[DeliveryStatus] = []

    @broker.subscriber(TOPICS.report_rendered)
    async def on_rendered(message: ReportRendered) -> None:
        rendered.append(message)

    @broker.subscriber(TOPICS.delivery_status)
    async def on_status(message: DeliveryStatus) -> None:
        statuses.append(message)

    due = ReportDue(tenant_id="acme", schedule_id="s-1", run=run_details())
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(due, TOPICS.report_due, key=due.key())

    stored = artifact_id(due.run.run_id, "csv")
    assert [(m.run.run_id, m.artifact_id, m.rows) for m in rendered] == [
        (due.run.run_id, stored, 1)
    ]
    assert [(s.status, s.artifact_id) for s in statuses] == [(RunStatus.RENDERED, stored)]
    assert artifacts.ids() == {stored}


async def test_the_source_is_told_the_runs_retry_deadline() -> None:
    """A source asked to wait (`Retry-After`) never waits in place past it."""
    report = ReportData("Campaign Summary", (Table((Column("c", "C"),), [("x",)]),))
    source = MemorySource(report)
    renderer = Renderer(source, MemoryArtifacts(), FakePrinter(), SETTINGS)
    run = run_details(format=ReportFormat.CSV)
    await renderer.render("acme", "s-1", run)
    (request,) = source.requests
    assert request.deadline == retry.deadline(run, SETTINGS.retry)
    assert request.deadline is not None
