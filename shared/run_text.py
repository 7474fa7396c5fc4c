"""What every artifact and email says about a run: its period and its link back to the platform."""

from __future__ import annotations

from urllib.parse import urlencode

from shared.messages import DataWindow, RunDetails
from shared.settings import BrandingSettings


def period_text(window: DataWindow) -> str:
    """Local dates of a half-open window: `2026-11-26` or `2026-11-20 to 2026-11-26`."""
    first, last = window.local_dates()
    if first == last:
        return first.isoformat()
    return f"{first.isoformat()} to {last.isoformat()}"


def platform_link(run: RunDetails, branding: BrandingSettings) -> str:
    """The report with the run's window and filters, in the platform."""
    query: list[tuple[str, str]] = [
        ("start", run.window.start.isoformat()),
        ("end", run.window.end.isoformat()),
        ("tz", run.window.timezone),
    ]
    query += [("campaign", c) for c in run.filters.campaign_ids]
    query += [("agent", a) for a in run.filters.agent_ids]
    base = branding.platform_base_url.rstrip("/")
    return f"{base}/reports/{run.report.kind}/{run.report.id}?{urlencode(query)}"
