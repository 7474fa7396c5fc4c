"""What a laid-out format (PDF, inline HTML) is given to lay out: one run's shown tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from herald.services.renderer.formats.cells import DisplayTable
from herald.services.renderer.reports.model import Chart, ReportData
from herald.shared.contract.messages import RunDetails
from herald.shared.runtime.settings import BrandingSettings


class PdfPrinter(Protocol):
    """The render pool (a fake in unit tests): matplotlib and WeasyPrint, off the event loop."""

    async def render(self, html: str, charts: Sequence[Chart], brand: str) -> bytes:
        """The PDF of this HTML, each chart drawn (in `brand` first) into its slot."""
        ...

    async def png(self, chart: Chart, brand: str) -> bytes:
        """The chart as a PNG, for the email."""
        ...


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
