"""What the renderer tells the mailer: artifact, companions, inline HTML, too large to attach,
notes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from herald.services.renderer.due_runs import DueRuns, _rendered
from herald.services.renderer.render import SLUG_CHARS, Renderer, email_notes, filename
from herald.services.renderer.reports.model import Column, ReportData, Table
from herald.shared.contract.messages import (
    NOTE_MAX_CHARS,
    NOTES_MAX,
    DataWindow,
    ReportDue,
    ReportRendered,
    RunDetails,
)
from herald.shared.contract.schedule_spec import ReportFormat, ReportRef
from herald.shared.ports import StoredArtifact
from herald.shared.runtime.settings import Settings
from tests.fakes.artifacts import MemoryArtifacts
from tests.fakes.publisher import RecordingPublisher
from tests.fakes.renderer import FakePrinter, MemorySource
from tests.samples import run_details

STORED_AT = datetime(2026, 11, 27, 8, 1, tzinfo=UTC)


def _due(fmt: ReportFormat) -> ReportDue:
    run = RunDetails(
        run_id="s1@2026-11-27T08:00:00+00:00",
        scheduled_for=datetime(2026, 11, 27, 8, tzinfo=UTC),
        schedule_name="CDR",
        report=ReportRef(id="cdr"),
        window=DataWindow(
            start=datetime(2026, 11, 26, tzinfo=UTC),
            end=datetime(2026, 11, 27, tzinfo=UTC),
            timezone="UTC",
        ),
        format=fmt,
        recipients=["ops@example.com"],
    )
    return ReportDue(tenant_id="acme", schedule_id="s1", run=run)


def _artifact(part: str, size: int, fmt: str) -> StoredArtifact:
    return StoredArtifact(
        f"s1@2026-11-27T08:00:00+00:00/{part}",
        f"cdr.{part}",
        "application/octet-stream",
        size,
        "digest",
        {"rows": 5000, "title": "CDR Report", "format": fmt},
        STORED_AT,
    )


def test_artifacts_together_over_the_limit_are_marked_too_large() -> None:
    pdf = _artifact("pdf", 3_000_000, "pdf")
    full = _artifact("full.csv", 8_000_000, "csv")
    fits = _rendered(_due(ReportFormat.PDF), pdf, [full], attachment_limit=11_000_000)
    assert not fits.too_large_to_attach
    assert [c.artifact_id for c in fits.companions] == [full.artifact_id]
    assert fits.rows == 5000
    assert fits.html_artifact_id is None
    over = _rendered(_due(ReportFormat.PDF), pdf, [full], attachment_limit=10_999_999)
    assert over.too_large_to_attach


def test_an_html_run_names_its_fragment_for_the_email_body() -> None:
    fragment = _artifact("html", 40_000, "html")
    rendered = _rendered(_due(ReportFormat.HTML), fragment, [], attachment_limit=10_000_000)
    assert rendered.html_artifact_id == fragment.artifact_id
    assert rendered.title == "CDR Report"


def test_headline_tiles_and_chart_images_travel_to_the_mailer() -> None:
    tile = {"label": "Sales", "value": "6", "previous": "1", "change": "+500.0 %", "tone": "good"}
    fragment = _artifact("html", 40_000, "html")
    fragment.metadata["headlines"] = [tile]
    chart = _artifact("chart-1.png", 9_000, "png")
    chart.metadata.update(cid="chart-0@herald", alt="Calls per day: 10 Jun 8")
    full = _artifact("full.csv", 8_000, "csv")
    rendered = _rendered(_due(ReportFormat.HTML), fragment, [full, chart], 10_000_000)
    assert [t.model_dump(mode="json") for t in rendered.headlines] == [tile]
    # The chart is a related part of the HTML, never an attachment.
    assert [c.artifact_id for c in rendered.companions] == [full.artifact_id]
    (image,) = rendered.images
    assert (image.artifact_id, image.cid, image.alt) == (
        chart.artifact_id,
        "chart-0@herald",
        "Calls per day: 10 Jun 8",
    )


def test_notes_travel_to_the_mailer_as_many_and_as_long_as_the_contract_allows() -> None:
    pdf = _artifact("pdf", 3_000, "pdf")
    pdf.metadata["notes"] = email_notes(
        ["Times are local to Europe/Berlin.", "x" * (NOTE_MAX_CHARS + 5)]
        + [f"note {n}" for n in range(NOTES_MAX)]
    )
    rendered = _rendered(_due(ReportFormat.PDF), pdf, [], attachment_limit=10_000_000)
    assert len(rendered.notes) == NOTES_MAX
    assert rendered.notes[0] == "Times are local to Europe/Berlin."
    assert rendered.notes[1] == "x" * (NOTE_MAX_CHARS - 1) + "…"
    # A render stored before notes were kept has none.
    older = _rendered(_due(ReportFormat.PDF), _artifact("pdf", 3_000, "pdf"), [], 10_000_000)
    assert older.notes == []


async def test_a_csv_runs_notes_reach_the_email_and_a_repeated_due_publishes_them_again() -> None:
    notes = ("Hours are local to Europe/Berlin, the zone calls are recorded in.",)
    report = ReportData("Hourly Activity", (Table((Column("h", "Hour"),), [("08:00",)]),), notes)
    artifacts, publisher, settings = MemoryArtifacts(), RecordingPublisher(), Settings()
    renderer = Renderer(MemorySource(report), artifacts, FakePrinter(), settings)
    due_runs = DueRuns(renderer, artifacts, None, publisher, settings)
    due = ReportDue(tenant_id="acme", schedule_id="s-1", run=run_details(format=ReportFormat.CSV))
    await due_runs.handle(due)
    await due_runs.handle(due)  # from the stored render's metadata
    first, again = publisher.of(ReportRendered)
    assert first.notes == again.notes == list(notes)


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("Campaign Summary", "campaign-summary_2026-01-01.csv"),
        ("../../../.bashrc/..\\..\\Startup\\x.exe .txt", "bashrc-startup-x-exe-txt_2026-01-01.csv"),
        ("Kundenrückgewinnung Nord", "kundenrückgewinnung-nord_2026-01-01.csv"),
        ("ROI % (net)", "roi-net_2026-01-01.csv"),
        ("...", "report_2026-01-01.csv"),
        ("x" * 200, "x" * SLUG_CHARS + "_2026-01-01.csv"),
    ],
)
def test_a_file_name_keeps_the_titles_letters_and_digits_alone(title: str, name: str) -> None:
    """A custom report's title is the tenant's text: no path, no separator reaches the name
    a mail program or a recipient saves the attachment under (security audit)."""
    window = DataWindow(
        start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 1, 2, tzinfo=UTC), timezone="UTC"
    )
    assert filename(title, window, "csv") == name
