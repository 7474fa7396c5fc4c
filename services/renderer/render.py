"""Turns a due run into a stored artifact: the renderer's one piece of work."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo.asynchronous.database import AsyncDatabase

from services.renderer.formats.csv_writer import CONTENT_TYPE, RowCounter, csv_chunks
from services.renderer.reports import standard
from services.renderer.reports.model import ReportUnavailable
from shared.artifacts import ArtifactStore, StoredArtifact, artifact_id
from shared.messages import DataWindow, RunDetails
from shared.mongo import Document
from shared.schedule_spec import ReportFormat


@dataclass(frozen=True, slots=True)
class Rendered:
    artifact: StoredArtifact
    title: str
    rows: int


def filename(title: str, window: DataWindow, extension: str) -> str:
    """`campaign-summary_2026-11-20_2026-11-26.csv`: the report and its local days."""
    first, last = window.local_dates()
    slug = "-".join(title.lower().split())
    dates = first.isoformat() if first == last else f"{first.isoformat()}_{last.isoformat()}"
    return f"{slug}_{dates}.{extension}"


def part_of(run: RunDetails) -> str:
    return artifact_id(run.run_id, run.format.value)


async def render(
    db: AsyncDatabase[Document],
    artifacts: ArtifactStore,
    tenant_id: str,
    schedule_id: str,
    run: RunDetails,
) -> Rendered:
    if run.format is not ReportFormat.CSV:
        raise ReportUnavailable(f"format {run.format.value!r} is not available in this renderer")
    report = await standard.build(db, tenant_id, run)
    counter = RowCounter()
    stored = await artifacts.put(
        part_of(run),
        filename(report.title, run.window, "csv"),
        CONTENT_TYPE,
        csv_chunks(report, counter),
        {
            "run_id": run.run_id,
            "tenant_id": tenant_id,
            "schedule_id": schedule_id,
            "format": run.format.value,
            "title": report.title,
        },
        late_metadata=lambda: {"rows": counter.rows},
    )
    return Rendered(stored, report.title, counter.rows)
