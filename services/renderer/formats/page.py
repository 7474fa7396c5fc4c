"""What a laid-out format (PDF, inline HTML) is given to lay out: one run's shown tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from herald.services.renderer.formats.cells import DisplayTable, rounding_note
from herald.services.renderer.reports.chart import Chart
from herald.services.renderer.reports.model import ReportData
from herald.shared.contract.messages import RunDetails
from herald.shared.runtime.settings import BrandingSettings

#: What every PDF and inline HTML report ends with, before the link to the definitions
#: (docs/reports.md), so a reader can check any figure by hand.
HOW_COMPUTED = (
    "How these figures are computed: each is a sum over the calls or agent sessions of the "
    "period and filters, or a ratio of such sums, rounded half up. Every figure's formula, "
    "source fields and rounding:"
)


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
    #: What the run is filtered to, by name (`filter_names.filters_line`): the email's line.
    filters: str

    def footnoted(
        self, columns: Callable[[DisplayTable], Sequence[int]] | None = None
    ) -> list[DisplayTable]:
        """The shown tables, each with its footnote where its rows miss its total.

        Every row counts, shown or not: the footnote is about the report's figures.
        Of the columns, those `columns` picks (the inline email's, which leaves the rest
        to the CSV), else all: a footnote names no column its reader cannot see.
        """
        noted = []
        for shown, table in zip(self.tables, self.report.tables, strict=True):
            keys = None if columns is None else {shown.columns[i].key for i in columns(shown)}
            noted.append(replace(shown, footnote=rounding_note(table, keys)))
        return noted
