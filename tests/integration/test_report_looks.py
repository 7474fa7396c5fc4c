"""Every standard report as a person sees it, rendered from the demo data on the real parts.

Each report over November 2026 (the previous period: October) goes through the
renderer with the real render pool (WeasyPrint and matplotlib) twice: as a PDF,
read back with poppler's `pdftotext` and pypdf, and as an HTML email, composed
by the mailer and laid out by headless Chromium at a phone's width and a
desktop's. Screenshots and the PDFs are kept under out/reports/ (ignored by
git) for a person to look at. The figures themselves are checked by hand in
tests/unit/test_standard_reports.py and tests/unit/test_report_highlights.py.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from herald.cli import browser, demo
from herald.services.mailer.compose import Attachment, Contents, compose
from herald.services.renderer.due_runs import _rendered
from herald.services.renderer.pool import PdfPool
from herald.services.renderer.render import Renderer
from herald.services.renderer.reports.model import ReportData, ReportRequest
from herald.services.renderer.reports.standard import REPORTS
from herald.services.renderer.reports.standard.reading import build
from herald.shared.contract.catalog import STANDARD_REPORTS
from herald.shared.contract.messages import DataWindow, ReportDue
from herald.shared.contract.schedule_spec import ReportFormat, ReportRef
from herald.shared.ports import StoredArtifact
from herald.shared.runtime.settings import BrandingSettings, Settings
from tests.fakes.artifacts import MemoryArtifacts
from tests.report_dataset import MemoryCallData
from tests.samples import run_details

pytestmark = pytest.mark.integration

OUT = Path(__file__).resolve().parents[2] / "out" / "reports"
TENANT = "demo"
NOVEMBER = DataWindow(
    start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 12, 1, tzinfo=UTC), timezone="UTC"
)
BRANDING = BrandingSettings(platform_name="Demo Contact Center", brand_colour="#7a3e9d")


def _demo_data() -> MemoryCallData:
    days = list(demo.generate(TENANT, calls=6000, days=61, anchor=date(2026, 12, 1)))
    records: list[Any] = [*demo.dimensions(TENANT, 6000)]
    for day in days:
        records += day.sessions
    return MemoryCallData.of([c for day in days for c in day.calls], records, demo.UTC_ZONE)


class DemoSource:
    """The standard reports computed from the demo dataset held in memory."""

    def __init__(self) -> None:
        self.data = _demo_data()

    async def fetch(self, request: ReportRequest) -> ReportData:
        return await build(REPORTS[request.report.id], self.data, request)

    async def close(self) -> None:
        """Nothing to release."""


@pytest.fixture(scope="module")
async def rendered() -> AsyncIterator[dict[tuple[str, ReportFormat], tuple[Any, ...]]]:
    """Every standard report rendered as PDF and as HTML: (artifact, companions, store)."""
    pool = PdfPool(workers=2, renders_per_worker=100, timeout_s=120)
    artifacts = MemoryArtifacts()
    settings = Settings(branding=BRANDING)
    renderer = Renderer(DemoSource(), artifacts, pool, settings)
    results: dict[tuple[str, ReportFormat], tuple[Any, ...]] = {}
    try:
        for report_id in STANDARD_REPORTS:
            for fmt in (ReportFormat.PDF, ReportFormat.HTML):
                run = run_details(
                    run_id=f"{report_id}@{fmt.value}",
                    report=ReportRef(id=report_id),
                    window=NOVEMBER,
                    format=fmt,
                )
                done = await renderer.render(TENANT, report_id, run)
                assert done.artifact is not None, report_id
                results[report_id, fmt] = (run, done.artifact, done.companions, artifacts)
        yield results
    finally:
        pool.close()


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


@pytest.mark.parametrize("report_id", list(STANDARD_REPORTS))
async def test_the_pdf_is_tagged_with_whole_headers_tiles_and_vector_charts(
    rendered: dict[tuple[str, ReportFormat], tuple[Any, ...]], report_id: str
) -> None:
    _run, artifact, _companions, artifacts = rendered[report_id, ReportFormat.PDF]
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{report_id}.pdf"
    path.write_bytes(await artifacts.read(artifact.artifact_id))
    text = _pdf_text(path)
    words = text.split()
    data = await DemoSource().fetch(
        ReportRequest(TENANT, ReportRef(id=report_id), NOVEMBER, run_details().filters)
    )
    assert STANDARD_REPORTS[report_id] in text
    assert "Page 1 of" in text
    # Headers wrap rather than being cut: every word of every label is there.
    for table in data.tables:
        for column in table.columns:
            assert all(word in words for word in column.label.split()), column.label
    for headline in data.headlines:
        assert headline.label in text
    assert ("prev." in text) == bool(data.headlines)
    # The charts are vector: their titles are text, and the PDF holds no raster image.
    for chart in data.charts:
        assert chart.title.split()[0] in words, chart.title
    reader = PdfReader(path)
    images = [name for page in reader.pages for name in page.images]
    assert images == []
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root
    assert root["/MarkInfo"]["/Marked"]


@pytest.mark.parametrize("report_id", list(STANDARD_REPORTS))
async def test_the_html_email_fits_a_phone_and_a_desktop_with_its_charts(
    rendered: dict[tuple[str, ReportFormat], tuple[Any, ...]], report_id: str
) -> None:
    run, artifact, companions, artifacts = rendered[report_id, ReportFormat.HTML]
    due = ReportDue(tenant_id=TENANT, schedule_id=report_id, run=run)
    event = _rendered(due, artifact, companions, attachment_limit=10_000_000)
    message = await _email(event, artifacts)
    document = browser.email_document(message)
    phone = browser.layout(document, 375)
    desktop = browser.screenshot(document, 800, OUT / f"{report_id}-email-800.png")
    for seen in (phone, desktop):
        assert not seen.overflows, (report_id, seen.viewport_width, seen.scroll_width)
        assert seen.broken_images == ()
    assert len(event.images) == len(REPORTS[report_id].charts)
    body = message.get_body(("html",))
    assert body is not None
    for image, chart in zip(event.images, REPORTS[report_id].charts, strict=True):
        assert f'src="cid:{image.cid}"' in body.get_content()
        assert chart.title.split()[0] in image.alt
    assert len(event.headlines) == (
        6 if report_id == "executive_dashboard" else len(REPORTS[report_id].metrics)
    )


async def _email(event: Any, artifacts: MemoryArtifacts) -> EmailMessage:
    async def attachment(ref: StoredArtifact | Any) -> Attachment:
        return Attachment(ref.filename, ref.content_type, await artifacts.read(ref.artifact_id))

    images = tuple([(image.cid, await attachment(image)) for image in event.images])
    attached = tuple([await attachment(ref) for ref in event.companions])
    html = (await artifacts.read(event.artifact_id)).decode()
    return compose(
        event,
        "reader@example.com",
        branding=BRANDING,
        from_address="reports@example.com",
        contents=Contents(attached=attached, inline_html=html, images=images),
        now=datetime(2026, 12, 1, 7, tzinfo=UTC),
    )
