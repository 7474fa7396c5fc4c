"""Turns a due run into stored artifacts: the renderer's one piece of work.

Each format is one pass over the report's rows. A PDF or HTML run keeps only
the first rows it shows (the cap); when a table is longer, or streamed and
possibly longer, the same pass writes the full data as a CSV companion that
travels with the email. The primary artifact is written last and names its
companions, so finding it means the run is completely rendered.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from herald.services.renderer.filter_names import Dimensions, named_filters
from herald.services.renderer.formats import csv_writer
from herald.services.renderer.formats.cells import DisplayTable, display_row
from herald.services.renderer.formats.charts import alt_text
from herald.services.renderer.formats.headlines import tiles
from herald.services.renderer.formats.html import chart_cid
from herald.services.renderer.formats.page import Page, PdfPrinter
from herald.services.renderer.formats.registry import FORMATS
from herald.services.renderer.reports.model import (
    Column,
    ReportData,
    ReportRequest,
    Row,
    Table,
    rows_of,
)
from herald.services.renderer.reports.source import ReportSource
from herald.shared.contract.messages import NOTE_MAX_CHARS, NOTES_MAX, DataWindow, RunDetails
from herald.shared.contract.schedule_spec import ReportFormat
from herald.shared.contract.tenant_settings import TenantCompliance
from herald.shared.ports import Artifacts, StoredArtifact, TenantDirectory, artifact_id
from herald.shared.runs import retry
from herald.shared.runs.brand import Brand, Brands
from herald.shared.runs.text import Logo
from herald.shared.runtime import tracing
from herald.shared.runtime.settings import Settings

#: The companion holding a capped report's full data.
FULL_CSV = "full.csv"


@dataclass(frozen=True, slots=True)
class Rendered:
    #: None when the report was empty and the schedule skips empty reports.
    artifact: StoredArtifact | None
    companions: tuple[StoredArtifact, ...]
    title: str
    rows: int


#: The longest slug of a title a file name carries.
SLUG_CHARS = 80


def filename(title: str, window: DataWindow, extension: str) -> str:
    """`campaign-summary_2026-11-20_2026-11-26.csv`: the report and its local days.

    Of the title, its words' letters and digits only (in any script): a custom report's
    title is the tenant's text, and `../` or `\\` in a file name is what a mail program
    or a recipient saving it must not be handed.
    """
    first, last = window.local_dates()
    slug = "-".join(_WORD.findall(title.lower()))[:SLUG_CHARS].strip("-") or "report"
    dates = first.isoformat() if first == last else f"{first.isoformat()}_{last.isoformat()}"
    return f"{slug}_{dates}.{extension}"


_WORD = re.compile(r"[^\W_]+")


def part_of(run: RunDetails) -> str:
    return artifact_id(run.run_id, run.format.value)


def _delivery_test(run: RunDetails) -> ReportData:
    """The SMTP test email's report: it reads no data, so it proves the pipe alone."""
    columns = (Column("check", "Check"), Column("run", "Run"), Column("at", "Sent at"))
    row = ("SMTP delivery check", run.run_id, run.scheduled_for.isoformat())
    return ReportData("Herald test email", (Table(columns, [row]),))


async def report_data(
    source: ReportSource,
    tenant_id: str,
    run: RunDetails,
    deadline: datetime | None = None,
    compliance: TenantCompliance | None = None,
) -> ReportData:
    if run.report.kind == "test":
        return _delivery_test(run)
    # The query; a streamed report reads the rest of its rows while it is rendered.
    with tracing.span("herald.report.query", {"herald.report": run.report.id}):
        request = ReportRequest(
            tenant_id,
            run.report,
            run.window,
            run.filters,
            deadline,
            compliance or TenantCompliance(),
        )
        return await source.fetch(request)


@dataclass(slots=True)
class _Kept:
    """One table's first rows, display-formatted, and how many it had in all."""

    table: Table
    cap: int
    rows: list[list[str]] = field(default_factory=list)
    total: int = 0

    async def through(self) -> AsyncIterator[Row]:
        async for row in rows_of(self.table):
            self.total += 1
            if len(self.rows) < self.cap:
                self.rows.append(display_row(self.table.columns, row))
            yield row

    def display(self) -> DisplayTable:
        table = self.table
        totals = None if table.totals is None else display_row(table.columns, table.totals)
        return DisplayTable(
            table.title, table.columns, self.rows, totals, self.total, table.key_columns
        )


class Renderer:
    def __init__(
        self,
        source: ReportSource,
        artifacts: Artifacts,
        printer: PdfPrinter | None,
        settings: Settings,
        brands: Brands | None = None,
        dimensions: Dimensions | None = None,
        tenants: TenantDirectory | None = None,
    ) -> None:
        """`dimensions` names the filters' campaigns and agents; None shows their ids.
        `tenants` holds their compliance settings; None gives every tenant the defaults."""
        self._source = source
        self._artifacts = artifacts
        self._printer = printer
        self._settings = settings
        self._brands = brands or Brands(settings.branding)
        self._dimensions = dimensions
        self._tenants = tenants

    async def brand(self, tenant_id: str) -> Brand:
        return await self._brands.of(tenant_id)

    def compliance(self, tenant_id: str) -> TenantCompliance:
        """The tenant's abandon-rate ceiling: its settings' section, else the defaults."""
        own = self._tenants.settings(tenant_id) if self._tenants else None
        return own.compliance if own and own.compliance else TenantCompliance()

    async def render(self, tenant_id: str, schedule_id: str, run: RunDetails) -> Rendered:
        attributes = tracing.run_attributes(tenant_id, run.run_id, schedule_id)
        attributes |= {"herald.report": run.report.id, "herald.format": run.format.value}
        with tracing.span("herald.render", attributes):
            return await self._render(tenant_id, schedule_id, run)

    async def _render(self, tenant_id: str, schedule_id: str, run: RunDetails) -> Rendered:
        deadline = retry.deadline(run, self._settings.retry)
        report = await report_data(
            self._source, tenant_id, run, deadline, self.compliance(tenant_id)
        )
        brand = await self.brand(tenant_id)
        filters = await named_filters(run.filters, tenant_id, self._dimensions)
        metadata: dict[str, Any] = {
            "run_id": run.run_id,
            "tenant_id": tenant_id,
            "schedule_id": schedule_id,
            "format": run.format.value,
            "title": report.title,
            # The email's filter line, as the PDF shows it (and a shared render's too).
            "filters": filters,
        }
        if report.headlines:
            metadata["headlines"] = [t.model_dump(mode="json") for t in tiles(report.headlines)]
        if report.notes:
            metadata["notes"] = email_notes(report.notes)
        fmt = FORMATS[run.format]
        if fmt.layout is None:
            return await self._csv_only(run, report, metadata)
        layout = fmt.layout
        cap = layout.cap(self._settings.renderer)
        kept = [_Kept(table, cap) for table in report.tables]
        companions = await self._full_csv(
            run, report, kept, metadata, lambda: layout.hides([k.display() for k in kept])
        )
        rows = sum(k.total for k in kept)
        if rows == 0 and run.skip_if_empty:
            return Rendered(None, (), report.title, 0)
        if fmt.inline:
            companions += await self._images(run, report, metadata, brand.branding.brand_colour)
        page = Page(
            report,
            run,
            [k.display() for k in kept],
            cap,
            brand.branding,
            _data_uri(brand.logo),
            self._printer,
            filters,
        )
        body = await layout.write(page)
        stored = await self._put(
            part_of(run),
            filename(report.title, run.window, fmt.extension),
            fmt.content_type,
            _once(body),
            metadata | {"rows": rows, "companions": [c.artifact_id for c in companions]},
        )
        return Rendered(stored, companions, report.title, rows)

    async def _csv_only(
        self, run: RunDetails, report: ReportData, metadata: dict[str, Any]
    ) -> Rendered:
        counter = csv_writer.RowCounter()
        stored = await self._put_csv(part_of(run), run, report, counter, metadata)
        if counter.rows == 0 and run.skip_if_empty:
            await self._artifacts.delete(stored.artifact_id)
            return Rendered(None, (), report.title, 0)
        return Rendered(stored, (), report.title, counter.rows)

    async def _full_csv(
        self,
        run: RunDetails,
        report: ReportData,
        kept: list[_Kept],
        metadata: dict[str, Any],
        hides: Callable[[], bool],
    ) -> tuple[StoredArtifact, ...]:
        """Read every row once; keep the full data as CSV if the cap cut a table or a
        layout hid columns (`hides`, asked once every row has been seen)."""
        longer = any(
            isinstance(t.rows, Sequence) and len(t.rows) > k.cap
            for t, k in zip(report.tables, kept, strict=True)
        )
        tee = ReportData(
            report.title,
            tuple(Table(k.table.columns, k.through(), k.table.totals, k.table.title) for k in kept),
            report.notes,
        )
        part = artifact_id(run.run_id, FULL_CSV)
        csv_metadata = metadata | {"format": "csv"}
        if not (report.streamed or longer):
            for table in tee.tables:
                async for _ in rows_of(table):
                    pass
            if not hides():
                return ()
            # Every table is held in memory (not streamed): it can be read again.
            return (await self._put_csv(part, run, report, csv_writer.RowCounter(), csv_metadata),)
        stored = await self._put_csv(part, run, tee, csv_writer.RowCounter(), csv_metadata)
        if all(k.total <= k.cap for k in kept) and not hides():
            await self._artifacts.delete(stored.artifact_id)
            return ()
        return (stored,)

    async def _images(
        self, run: RunDetails, report: ReportData, metadata: dict[str, Any], brand: str
    ) -> tuple[StoredArtifact, ...]:
        """The report's charts as PNGs for an inline email, drawn in the render pool."""
        if not report.charts:
            return ()
        if self._printer is None:
            raise RuntimeError("this renderer has no render pool to draw charts")
        stored = []
        for n, chart in enumerate(report.charts):
            png = await self._printer.png(chart, brand)
            name = f"chart-{n + 1}.png"
            image_metadata = metadata | {
                "format": "png",
                "cid": chart_cid(n),
                "alt": alt_text(chart),
            }
            stored.append(
                await self._put(
                    artifact_id(run.run_id, name), name, "image/png", _once(png), image_metadata
                )
            )
        return tuple(stored)

    async def _put_csv(
        self,
        part: str,
        run: RunDetails,
        report: ReportData,
        counter: csv_writer.RowCounter,
        metadata: dict[str, Any],
    ) -> StoredArtifact:
        return await self._put(
            part,
            filename(report.title, run.window, FORMATS[ReportFormat.CSV].extension),
            FORMATS[ReportFormat.CSV].content_type,
            csv_writer.csv_chunks(report, counter),
            metadata,
            late_metadata=lambda: {"rows": counter.rows},
        )

    async def _put(
        self,
        file_id: str,
        name: str,
        content_type: str,
        chunks: AsyncIterable[bytes],
        metadata: dict[str, Any],
        late_metadata: Callable[[], dict[str, Any]] = dict,
    ) -> StoredArtifact:
        """`Artifacts.put`, one span per GridFS write (a streamed CSV is rendered in it too)."""
        with tracing.span("herald.artifact.write", {"herald.artifact_id": file_id}) as span:
            stored = await self._artifacts.put(
                file_id, name, content_type, chunks, metadata, late_metadata=late_metadata
            )
            span.set_attribute("herald.artifact_bytes", stored.size)
            return stored


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


def email_notes(notes: Sequence[str]) -> list[str]:
    """The notes as `ReportRendered` carries them: a report never fails for a long note,
    the email shows the first `NOTES_MAX`, each cut to `NOTE_MAX_CHARS`."""
    return [
        note if len(note) <= NOTE_MAX_CHARS else note[: NOTE_MAX_CHARS - 1] + "…"
        for note in notes[:NOTES_MAX]
    ]


def _data_uri(logo: Logo | None) -> str | None:
    """The logo embedded in the PDF, as all it shows is: the PDF's printer fetches nothing
    else (`worker._fetcher`), not even what an SVG logo refers to."""
    if logo is None:
        return None
    return f"data:{logo.content_type};base64,{base64.b64encode(logo.data).decode()}"
