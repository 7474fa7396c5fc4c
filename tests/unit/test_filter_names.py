"""The filter line names campaigns and agents, in the email's `ReportRendered` and the PDF alike."""

from __future__ import annotations

import pytest

from herald.services.renderer.calldata.records import Agent, Campaign
from herald.services.renderer.due_runs import DueRuns
from herald.services.renderer.filter_names import filters_line, named_filters
from herald.services.renderer.render import Renderer
from herald.services.renderer.reports.model import Column, ReportData, Table
from herald.shared.contract.messages import ReportDue, ReportRendered
from herald.shared.contract.schedule_spec import Filters, ReportFormat
from herald.shared.ports import artifact_id
from herald.shared.runtime.settings import Settings
from tests.fakes.artifacts import MemoryArtifacts
from tests.fakes.publisher import RecordingPublisher
from tests.fakes.renderer import FakePrinter, MemoryDimensions, MemorySource
from tests.samples import run_details

ZURICH = "Rückgewinnung \u2013 Mitglieder (Zürich)"
DIMENSIONS = MemoryDimensions(
    [
        Campaign(tenant_id="acme", campaign_id="winback", name=ZURICH),
        Campaign(tenant_id="acme", campaign_id="care", name="Care"),
        Agent(tenant_id="acme", agent_id="a7", name="Maya Chen"),
        Campaign(tenant_id="other", campaign_id="sales", name="Another tenant's"),
    ]
)
FILTERS = Filters(campaign_ids=["winback", "care", "gone"], agent_ids=["a7"])
NAMED = f"Campaigns: {ZURICH}, Care, gone; Agents: Maya Chen"


@pytest.mark.parametrize(
    ("filters", "line"),
    [
        (FILTERS, NAMED),
        (Filters(campaign_ids=["sales"]), "Campaigns: sales"),  # another tenant's name stays hidden
        (Filters(), "All campaigns and agents"),
    ],
)
async def test_ids_are_named_from_the_tenants_data_and_unknown_ones_shown_as_they_are(
    filters: Filters, line: str
) -> None:
    assert await named_filters(filters, "acme", DIMENSIONS) == line


async def test_no_filters_no_read_and_without_reference_data_the_ids() -> None:
    dimensions = MemoryDimensions()
    assert await named_filters(Filters(), "acme", dimensions) == "All campaigns and agents"
    assert dimensions.reads == 0
    assert await named_filters(FILTERS, "acme", None) == filters_line(
        FILTERS.campaign_ids, FILTERS.agent_ids
    )


def _world() -> tuple[DueRuns, MemoryArtifacts, RecordingPublisher]:
    report = ReportData("Campaign Summary", (Table((Column("c", "Campaign"),), [(ZURICH,)]),))
    artifacts, publisher, settings = MemoryArtifacts(), RecordingPublisher(), Settings()
    renderer = Renderer(
        MemorySource(report), artifacts, FakePrinter(), settings, dimensions=DIMENSIONS
    )
    return DueRuns(renderer, artifacts, None, publisher, settings), artifacts, publisher


async def test_the_email_and_the_pdf_show_the_same_named_line() -> None:
    due_runs, artifacts, publisher = _world()
    run = run_details(filters=FILTERS, format=ReportFormat.PDF)
    await due_runs.handle(ReportDue(tenant_id="acme", schedule_id="s-1", run=run))
    [rendered] = publisher.of(ReportRendered)
    assert rendered.filters_summary == NAMED
    pdf = await artifacts.read(artifact_id(run.run_id, "pdf"))
    assert NAMED in pdf.decode()  # the fake printer's "PDF" is its HTML


async def test_a_render_stored_without_the_line_shows_the_ids() -> None:
    due_runs, artifacts, publisher = _world()
    run = run_details(filters=FILTERS)
    due = ReportDue(tenant_id="acme", schedule_id="s-1", run=run)
    await due_runs.handle(due)
    stored = await artifacts.find(artifact_id(run.run_id, "csv"))
    assert stored is not None
    del stored.metadata["filters"]  # as an older renderer stored it
    await due_runs.handle(due)  # a repeated ReportDue publishes the stored render again
    first, again = publisher.of(ReportRendered)
    assert first.filters_summary == NAMED
    assert again.filters_summary == "Campaigns: winback, care, gone; Agents: a7"
