"""What every artifact and email shows of a run: its period, its link back, the logo, a change."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from datetime import datetime, time
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from herald.shared.contract.messages import DataWindow, RunDetails
from herald.shared.runtime.settings import BrandingSettings

#: A true minus sign (U+2212): a change reads as a signed figure, not a hyphenated word.
MINUS = "\u2212"


def change_arrow(change: str | None) -> str:
    """Which way a headline figure went, in text as well as colour: "▲ ", "▼ " or ""."""
    if change is None:
        return ""
    return "▲ " if change.startswith("+") else "▼ " if change.startswith((MINUS, "-")) else ""


def period_text(window: DataWindow) -> str:
    """The half-open window in its zone's words: its dates when it is whole days
    (`2026-11-26`, `2026-11-20 to 2026-11-26`), with the times where it starts or ends
    inside a day (`2026-12-06 08:00\u201309:00`, `2026-12-01 to 2026-12-06 08:00`): an hourly
    report's subject names its hour."""
    zone = ZoneInfo(window.timezone)
    start, end = window.start.astimezone(zone), window.end.astimezone(zone)
    first, last = window.local_dates()
    if _midnight(start) and _midnight(end):
        return first.isoformat() if first == last else f"{first} to {last}"
    if start.date() == end.date():
        return f"{first} {start:%H:%M}\u2013{end:%H:%M}"
    begin = first.isoformat() if _midnight(start) else f"{first} {start:%H:%M}"
    return f"{begin} to {end.date()} {end:%H:%M}"


def _midnight(moment: datetime) -> bool:
    return moment.time() == time(0)


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


@dataclass(frozen=True, slots=True)
class Logo:
    filename: str
    content_type: str
    data: bytes


def read_logo(branding: BrandingSettings) -> Logo | None:
    """The logo file, read once per process: PDFs embed it and emails carry it inline."""
    path = branding.logo_file
    if path is None:
        return None
    content_type = mimetypes.guess_type(path.name)[0] or "image/png"
    return Logo(path.name, content_type, path.read_bytes())
