"""Every output format in one table, keyed by `ReportFormat`.

The renderer, the shared-render key and the hand-off to the mailer read this
table and never test a format's name: adding a format is a `ReportFormat`
member, its writer module and one entry here (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from herald.services.renderer.formats import csv_writer, html, pdf
from herald.services.renderer.formats.cells import DisplayTable
from herald.services.renderer.formats.page import Page
from herald.shared.contract.schedule_spec import ReportFormat
from herald.shared.runtime.settings import RendererSettings


@dataclass(frozen=True, slots=True)
class Layout:
    """Shows each table's first rows; a cut table's full data travels as CSV beside it."""

    cap: Callable[[RendererSettings], int]
    write: Callable[[Page], Awaitable[bytes]]
    #: True when the layout leaves columns out (too wide to show): the full CSV then travels too.
    hides: Callable[[Sequence[DisplayTable]], bool] = lambda _tables: False


@dataclass(frozen=True, slots=True)
class Format:
    content_type: str
    extension: str
    #: None: the artifact is every row, streamed as CSV.
    layout: Layout | None
    #: Placed in the email's body rather than attached.
    inline: bool = False
    #: Shows the platform's name, logo, link or brand colour (charts), so branding is part of
    #: what makes two renders one.
    branded: bool = False


FORMATS: Mapping[ReportFormat, Format] = MappingProxyType(
    {
        ReportFormat.CSV: Format(csv_writer.CONTENT_TYPE, "csv", layout=None),
        ReportFormat.PDF: Format(
            pdf.CONTENT_TYPE,
            "pdf",
            Layout(lambda renderer: renderer.pdf_max_rows, pdf.write),
            branded=True,
        ),
        ReportFormat.HTML: Format(
            html.CONTENT_TYPE,
            "html",
            Layout(lambda renderer: renderer.html_max_rows, html.write, html.hides_columns),
            inline=True,
            branded=True,
        ),
    }
)
