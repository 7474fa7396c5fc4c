"""What a laid-out format (PDF, inline HTML) is given to lay out: one run's shown tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from herald.services.renderer.formats.cells import DisplayTable
from herald.services.renderer.reports.model import ReportData
from herald.shared.contract.messages import RunDetails
from herald.shared.runtime.settings import BrandingSettings


class PdfPrinter(Protocol):
    """Turns a PDF's HTML into its bytes (the worker pool; a fake in unit tests)."""

    async def render(self, html: str) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Page:
    report: ReportData
    run: RunDetails
    #: Each table's first `cap` rows, display-formatted, and its full row count.
    tables: list[DisplayTable]
    cap: int
    branding: BrandingSettings
    #: The platform's logo as a `data:` URI, or None.
    logo_uri: str | None
    printer: PdfPrinter | None
