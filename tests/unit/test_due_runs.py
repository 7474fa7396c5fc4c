"""The renderer's use case on in-memory ports: render, share, skip, fail, hand on."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from gridfs.errors import NoFile
from pymongo.errors import ConnectionFailure, OperationFailure

from herald.services.renderer.due_runs import DueRuns
from herald.services.renderer.render import FULL_CSV, Renderer
from herald.services.renderer.reports.model import (
    Column,
    ColumnKind,
    ReportData,
    ReportUnavailable,
    Row,
    SourceUnavailable,
    Table,
)
from herald.shared.contract.messages import (
    DeliveryStatus,
    ReportDue,
    ReportRendered,
    RunStatus,
    utcnow,
)
from herald.shared.contract.schedule_spec import ReportFormat, ReportRef
from herald.shared.ports import artifact_id
from herald.shared.runtime.settings import RendererSettings, Settings
from tests.fakes.artifacts import MemoryArtifacts
from tests.fakes.publisher import RecordingPublisher
from tests.fakes.renderer import FakePrinter, MemoryShares, MemorySource
from tests.samples import run_details

PDF_CAP, HTML_CAP = 3, 2
SETTINGS = Settings(renderer=RendererSettings(pdf_max_rows=PDF_CAP, html_max_rows=HTML_CAP))
COLUMNS = (Column("agent", "Agent"), Column("calls", "Calls", ColumnKind.INTEGER))


def _rows(count: int) -> list[Row]:
    return [(f"agent-{n}", n) for n in range(1, count + 1)]


def _report(count: int) -> ReportData:
    return ReportData("Campaign Summary", (Table(COLUMNS, _rows(count)),))


def _due(number: int = 1, **changes: Any) -> ReportDue:
    run_id = f"s-{number}@2026-11-27T08:00:00+00:00"
    return ReportDue(
        tenant_id="acme", schedule_id=f"s-{number}", run=run_details(run_id=run_id, **changes)
    )


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 8, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Renderers:
    """One renderer's use case on fakes, and the fakes to look into."""

    source: MemorySource
    printer: FakePrinter
    artifacts: MemoryArtifacts
    shares: MemoryShares | None
    publisher: RecordingPublisher
    clock: Clock
    due_runs: DueRuns

    def rendered(self) -> list[ReportRendered]:
        return self.publisher.of(ReportRendered)

    def statuses(self) -> list[RunStatus]:
        return [s.status for s in self.publisher.of(DeliveryStatus)]


def _renderers(
    *outcomes: ReportData | Exception, share: bool = True, settings: Settings = SETTINGS
) -> Renderers:
    source, printer, artifacts = MemorySource(*outcomes), FakePrinter(), MemoryArtifacts()
    clock = Clock()
    shares = MemoryShares(artifacts, settings.renderer.share_ttl_s, clock) if share else None
    publisher = RecordingPublisher()
    renderer = Renderer(source, artifacts, printer, settings)
    due_runs = DueRuns(renderer, artifacts, shares, publisher, settings)
    return Renderers(source, printer, artifacts, shares, publisher, clock, due_runs)


async def _settle() -> None:
    """Let the other tasks run as far as they can."""
    for _ in range(10):
        await asyncio.sleep(0)


async def _at_once(world: Renderers, leader: ReportDue, waiter: ReportDue) -> None:
    """`waiter` arrives while `leader`'s render is in flight (held at its fetch)."""
    world.source.gate = gate = asyncio.Event()
    first = asyncio.create_task(world.due_runs.handle(leader))
    await _settle()
    assert len(world.source.requests) == 1
    second = asyncio.create_task(world.due_runs.handle(waiter))
    await _settle()
    assert len(world.source.requests) == 1  # the waiter waits on the leader's render
    gate.set()
    await asyncio.gather(first, second)


async def test_a_due_run_is_rendered_stored_and_announced() -> None:
    world = _renderers(_report(3))
    due = _due()
    await world.due_runs.handle(due)
    stored = artifact_id(due.run.run_id, "csv")
    assert len(world.source.requests) == 1
    assert world.artifacts.ids() == {stored}
    [rendered] = world.rendered()
    assert (rendered.artifact_id, rendered.rows, rendered.title) == (stored, 3, "Campaign Summary")
    assert rendered.companions == []
    assert rendered.html_artifact_id is None
    [status] = world.publisher.of(DeliveryStatus)
    assert (status.status, status.artifact_id) == (RunStatus.RENDERED, stored)
    assert world.publisher.published == [rendered, status]  # the artifact before its status


async def test_a_repeated_due_publishes_the_stored_artifact_again_without_rendering() -> None:
    world = _renderers(_report(3), share=False)
    due = _due()
    await world.due_runs.handle(due)
    puts = world.artifacts.puts
    await world.due_runs.handle(due)  # delivered again
    assert len(world.source.requests) == 1
    assert world.artifacts.puts == puts
    first, again = world.rendered()
    assert again.artifact_id == first.artifact_id
    assert again.sha256 == first.sha256
    assert world.statuses() == [RunStatus.RENDERED, RunStatus.RENDERED]
    # Published again, the same events byte for byte: same ids, same times.
    once, twice = world.publisher.published[:2], world.publisher.published[2:]
    assert [m.model_dump_json() for m in twice] == [m.model_dump_json() for m in once]


async def test_an_identical_run_publishes_the_stored_share() -> None:
    world = _renderers(_report(3))
    await world.due_runs.handle(_due(1))
    await world.due_runs.handle(_due(2))
    assert len(world.source.requests) == 1
    first, second = world.rendered()
    assert second.artifact_id == first.artifact_id == artifact_id(first.run.run_id, "csv")
    assert second.run.run_id != first.run.run_id
    assert world.artifacts.ids() == {first.artifact_id}
    assert world.shares is not None
    assert list(world.shares.shared().values()) == [first.artifact_id]


async def test_a_run_that_shares_a_render_looks_up_no_artifact_of_its_own() -> None:
    """A herd of identical runs costs the database one lookup of a run's own render, not
    one a run: only a run about to render checks for a render of its own (a repeat)."""
    world = _renderers(_report(3))
    for number in (1, 2, 3):
        await world.due_runs.handle(_due(number))
    own = {artifact_id(_due(n).run.run_id, "csv") for n in (1, 2, 3)}
    first = artifact_id(_due(1).run.run_id, "csv")
    assert [i for i in world.artifacts.looked_up if i in own - {first}] == []
    assert len({r.artifact_id for r in world.rendered()}) == 1


async def test_a_repeated_due_of_the_run_that_rendered_a_share_publishes_it_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = _renderers(_report(3))
    due = _due()
    await world.due_runs.handle(due)
    with caplog.at_level(logging.INFO, logger="herald.renderer"):
        await world.due_runs.handle(due)
    assert len(world.source.requests) == 1
    # Said as what it is, not as a run sharing its own render.
    assert f"run {_due().run.run_id} already rendered" in caplog.text
    assert "shares the render" not in caplog.text
    once, twice = world.publisher.published[:2], world.publisher.published[2:]
    assert [m.model_dump_json() for m in twice] == [m.model_dump_json() for m in once]


def _dated(world: Renderers) -> list[tuple[str, datetime]]:
    """Each message the renderer published, and when it says it happened."""
    return [(m.type, m.occurred_at) for m in world.publisher.published]


async def test_a_run_served_an_older_render_says_it_was_rendered_at_its_own_due() -> None:
    """Not when the render was stored, minutes before this run was due (found by an audit:
    due 17:07:07.930, rendered 16:54:58.427): its history would begin before it existed."""
    world = _renderers(_report(3))
    first = _due(1)
    await world.due_runs.handle(first)
    stored = await world.artifacts.find(artifact_id(first.run.run_id, "csv"))
    assert stored is not None
    assert _dated(world) == [
        ("ReportRendered", stored.stored_at),
        ("DeliveryStatus", stored.stored_at),
    ]
    twin = _due(2).model_copy(update={"occurred_at": stored.stored_at + timedelta(minutes=12)})
    await world.due_runs.handle(twin)
    assert len(world.source.requests) == 1
    rendered, status = world.publisher.published[2:]
    assert isinstance(rendered, ReportRendered)
    assert isinstance(status, DeliveryStatus)
    assert rendered.artifact_id == stored.artifact_id
    assert (rendered.occurred_at, status.occurred_at) == (twin.occurred_at, twin.occurred_at)
    assert status.status is RunStatus.RENDERED
    # The same `ReportDue` again: the same events, byte for byte.
    await world.due_runs.handle(twin)
    once, twice = world.publisher.published[2:4], world.publisher.published[4:]
    assert [m.model_dump_json() for m in twice] == [m.model_dump_json() for m in once]


@pytest.mark.parametrize("attempt", [1, 2], ids=["fired-again", "retried"])
async def test_a_new_due_of_a_rendered_run_is_answered_by_a_new_event_after_it(
    attempt: int,
) -> None:
    """Its own artifact handed on again, but not dated before the due that asked for it: a
    new due (a slot fired again, a retry) gets a new event, never an old id."""
    world = _renderers(_report(3), share=False)
    await world.due_runs.handle(_due())
    [(_, stored_at), _] = _dated(world)
    later = stored_at + timedelta(minutes=5)
    again = _due(attempt=attempt).model_copy(update={"occurred_at": later})
    await world.due_runs.handle(again)
    assert len(world.source.requests) == 1
    assert _dated(world)[2:] == [("ReportRendered", later), ("DeliveryStatus", later)]
    ids = [m.event_id for m in world.publisher.published]
    assert len(set(ids)) == 4


async def test_without_a_share_index_every_run_renders_its_own() -> None:
    world = _renderers(_report(3), share=False)
    await world.due_runs.handle(_due(1))
    await world.due_runs.handle(_due(2))
    assert len(world.source.requests) == 2
    assert len({r.artifact_id for r in world.rendered()}) == 2


async def test_a_share_older_than_its_ttl_is_rendered_again() -> None:
    world = _renderers(_report(3))
    await world.due_runs.handle(_due(1))
    world.clock.now += timedelta(seconds=SETTINGS.renderer.share_ttl_s + 1)
    await world.due_runs.handle(_due(2))
    assert len(world.source.requests) == 2
    first, second = world.rendered()
    assert second.artifact_id == artifact_id(second.run.run_id, "csv") != first.artifact_id


async def test_a_custom_report_is_shared_only_while_its_version_is_known() -> None:
    world = _renderers(_report(3))
    assert world.shares is not None
    custom = {"report": ReportRef(kind="custom", id="by-agent")}
    await world.due_runs.handle(_due(1, **custom))
    await world.due_runs.handle(_due(2, **custom))
    assert len(world.source.requests) == 2  # version unknown: each renders
    world.shares.definitions["acme", "by-agent"] = "2026-11-01T00:00:00+00:00"
    await world.due_runs.handle(_due(3, **custom))
    await world.due_runs.handle(_due(4, **custom))
    assert len(world.source.requests) == 3
    assert world.rendered()[3].artifact_id == world.rendered()[2].artifact_id


async def test_identical_runs_at_once_render_once() -> None:
    world = _renderers(_report(3))
    await _at_once(world, _due(1), _due(2))
    assert len(world.source.requests) == 1
    first, second = world.rendered()
    assert first.artifact_id == second.artifact_id == artifact_id(first.run.run_id, "csv")
    assert {first.run.run_id, second.run.run_id} == {_due(1).run.run_id, _due(2).run.run_id}


async def test_a_failed_leader_leaves_its_waiter_to_render_itself() -> None:
    world = _renderers(SourceUnavailable("timed out"), _report(3))
    await _at_once(world, _due(1, scheduled_for=utcnow()), _due(2))
    assert len(world.source.requests) == 2
    [rendered] = world.rendered()
    assert rendered.artifact_id == artifact_id(_due(2).run.run_id, "csv")
    assert world.statuses() == [RunStatus.PENDING_RETRY, RunStatus.RENDERED]


@pytest.mark.parametrize("fmt", list(ReportFormat))
async def test_an_empty_report_that_skips_empty_ones_is_skipped(fmt: ReportFormat) -> None:
    world = _renderers(_report(0))
    due = _due(format=fmt, skip_if_empty=True)
    await world.due_runs.handle(due)
    assert world.rendered() == []
    assert world.artifacts.ids() == set()
    [status] = world.publisher.of(DeliveryStatus)
    assert (status.status, status.run_id) == (RunStatus.SKIPPED_EMPTY, due.run.run_id)
    assert world.printer.calls == 0


async def test_an_unavailable_report_fails_for_good() -> None:
    world = _renderers(ReportUnavailable("no such campaign"))
    await world.due_runs.handle(_due(scheduled_for=utcnow()))
    [status] = world.publisher.published
    assert isinstance(status, DeliveryStatus)
    assert (status.status, status.reason) == (RunStatus.FAILED, "no such campaign")
    assert status.next_attempt_at is None
    assert world.artifacts.ids() == set()


async def test_a_report_that_cannot_be_rendered_fails_for_good_and_goes_on_to_the_dlq() -> None:
    """A defect, or figures no report can show: the run's history says so at once (it waited
    as `due` for ever), and the record still goes to the DLQ (the error is raised on)."""
    world = _renderers(ValueError("change: String should have at most 20 characters"))
    with pytest.raises(ValueError, match="at most 20"):
        await world.due_runs.handle(_due(scheduled_for=utcnow()))
    [status] = world.publisher.published
    assert isinstance(status, DeliveryStatus)
    assert status.status is RunStatus.FAILED
    assert status.reason == (
        "the report could not be rendered "
        "(ValueError: change: String should have at most 20 characters)"
    )


@pytest.mark.parametrize(
    "trouble",
    [
        ConnectionFailure("the database went away"),
        # FerretDB's answer while PostgreSQL is away: a plain OperationFailure.
        OperationFailure("context deadline exceeded", code=1),
        NoFile("no file in gridfs collection with _id 'logo-1'"),
        RuntimeError("The Pool is not active"),
    ],
)
async def test_a_database_or_pool_in_trouble_fails_no_run(trouble: Exception) -> None:
    """Not a defect: retried in place, or sent to the DLQ with the run still `due` for the
    stuck-run timer to fire again. Never a run failed for good by an outage."""
    world = _renderers(trouble)
    with pytest.raises(type(trouble)):
        await world.due_runs.handle(_due(scheduled_for=utcnow()))
    assert world.publisher.published == []


async def test_an_unavailable_source_is_retried_later() -> None:
    world = _renderers(SourceUnavailable("timed out"))
    await world.due_runs.handle(_due(scheduled_for=utcnow()))
    [status] = world.publisher.published
    assert isinstance(status, DeliveryStatus)
    assert (status.status, status.reason) == (RunStatus.PENDING_RETRY, "timed out")
    assert status.next_attempt_at is not None
    assert world.artifacts.ids() == set()


async def test_a_pdf_over_its_cap_carries_the_full_data_as_csv() -> None:
    world = _renderers(_report(PDF_CAP + 2))
    due = _due(format=ReportFormat.PDF)
    await world.due_runs.handle(due)
    pdf, full = artifact_id(due.run.run_id, "pdf"), artifact_id(due.run.run_id, FULL_CSV)
    assert world.artifacts.ids() == {pdf, full}
    [rendered] = world.rendered()
    assert rendered.artifact_id == pdf
    assert rendered.rows == PDF_CAP + 2
    assert [c.artifact_id for c in rendered.companions] == [full]
    assert world.printer.calls == 1
    shown = await world.artifacts.read(pdf)
    assert b"agent-3" in shown
    assert b"agent-4" not in shown
    table = list(csv.reader(io.StringIO((await world.artifacts.read(full)).decode("utf-8-sig"))))
    assert [row[0] for row in table[1:]] == [f"agent-{n}" for n in range(1, PDF_CAP + 3)]


async def test_a_pdf_within_its_cap_has_no_companion() -> None:
    world = _renderers(_report(PDF_CAP))
    due = _due(format=ReportFormat.PDF)
    await world.due_runs.handle(due)
    assert world.artifacts.ids() == {artifact_id(due.run.run_id, "pdf")}
    assert world.rendered()[0].companions == []


async def test_a_csv_run_streams_every_row() -> None:
    async def rows() -> AsyncIterator[Row]:
        for row in _rows(5000):
            yield row

    world = _renderers(ReportData("Call Detail", (Table(COLUMNS, rows()),)))
    await world.due_runs.handle(_due())
    [rendered] = world.rendered()
    assert rendered.rows == 5000
    body = (await world.artifacts.read(rendered.artifact_id)).decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(body)))
    assert len(table) == 5001
    assert table[-1] == ["agent-5000", "5000"]


async def test_an_html_run_names_its_fragment_for_the_email_body() -> None:
    world = _renderers(_report(HTML_CAP))
    await world.due_runs.handle(_due(format=ReportFormat.HTML))
    [rendered] = world.rendered()
    assert rendered.html_artifact_id == rendered.artifact_id
    assert rendered.artifact_id.endswith("/html")
    assert world.printer.calls == 0


@pytest.mark.parametrize(("limit", "too_large"), [(1, True), (10_000_000, False)])
async def test_a_run_over_the_attachment_limit_is_marked_too_large(
    limit: int, too_large: bool
) -> None:
    renderer = SETTINGS.renderer.model_copy(update={"attachment_limit_bytes": limit})
    world = _renderers(_report(3), settings=SETTINGS.model_copy(update={"renderer": renderer}))
    await world.due_runs.handle(_due())
    [rendered] = world.rendered()
    assert rendered.too_large_to_attach is too_large
