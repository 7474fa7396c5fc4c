"""One valid run and one valid `ReportRendered`, for tests and benches that need a message.

Each caller changes only the fields it is about; the rest are these defaults.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from herald.services.renderer.formats.pdf import Heading
from herald.shared.contract.messages import DataWindow, ReportRendered, RunDetails
from herald.shared.contract.schedule_spec import ReportFormat, ReportRef, ScheduleSpec

#: A daily Campaign Summary for one recipient, for tests that need any valid schedule.
DAILY_SPEC = ScheduleSpec.model_validate(
    {
        "name": "Brief",
        "report": {"id": "campaign_summary"},
        "frequency": "daily",
        "recipients": ["a@example.com"],
    }
)


def run_details(**changes: Any) -> RunDetails:
    fields: dict[str, Any] = {
        "run_id": "s-1@2026-11-27T08:00:00+00:00",
        "scheduled_for": datetime(2026, 11, 27, 8, tzinfo=UTC),
        "schedule_name": "Morning Brief",
        "report": ReportRef(id="campaign_summary"),
        "window": DataWindow(
            start=datetime(2026, 11, 26, tzinfo=UTC),
            end=datetime(2026, 11, 27, tzinfo=UTC),
            timezone="UTC",
        ),
        "format": ReportFormat.CSV,
        "recipients": ["ops@example.com"],
    }
    return RunDetails(**(fields | changes))


def report_rendered(run: RunDetails | None = None, **changes: Any) -> ReportRendered:
    run = run or run_details()
    fields: dict[str, Any] = {
        "tenant_id": "acme",
        "schedule_id": "s-1",
        "run": run,
        "artifact_id": f"{run.run_id}/csv",
        "filename": "campaign-summary_2026-11-26.csv",
        "content_type": "text/csv; charset=utf-8",
        "size": 1,
        "rows": 1,
        "sha256": "0" * 64,
        "title": "Campaign Summary",
        "filters_summary": "All campaigns and agents",
    }
    return ReportRendered(**(fields | changes))


def pdf_heading(logo_uri: str | None = None) -> Heading:
    """A PDF's heading for a Campaign Summary of the first half of November."""
    return Heading(
        "Acme",
        logo_uri,
        "https://acme.example.com/r",
        "Campaign Summary",
        "2026-11-01 to 2026-11-14",
        "UTC",
        "All campaigns",
        "2026-11-15 08:00 UTC",
        (),
        "https://acme.example.com/docs/reports",
    )
