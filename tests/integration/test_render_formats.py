"""Every standard report in every format, rendered from demo data on FerretDB and read back.

CSV is parsed back and compared with the report's rows; the HTML table is put
in the email and read for the title, period and rows; the PDF's text is
extracted (pypdf) for the title, period, a header and "Page x of y" on every
page, and `pdftoppm` must turn it into images.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pypdf import PdfReader

from herald.cli import demo
from herald.services.mailer.compose import Contents, compose
from herald.services.renderer.filter_names import filters_line
from herald.services.renderer.formats.cells import DisplayTable, display_row, plain
from herald.services.renderer.formats.html import dropped_columns, shown_columns
from herald.services.renderer.pool import PdfPool
from herald.services.renderer.render import FULL_CSV, Rendered, Renderer
from herald.services.renderer.reports.model import ReportData, ReportRequest, rows_of
from herald.services.renderer.reports.mongo_source import MongoSource
from herald.shared.contract.catalog import STANDARD_REPORTS
from herald.shared.contract.messages import DataWindow, ReportRendered, RunDetails
from herald.shared.contract.schedule_spec import Filters, ReportFormat, ReportRef
from herald.shared.ports import artifact_id
from herald.shared.runs.text import period_text
from herald.shared.runtime.artifacts import ArtifactStore
from herald.shared.runtime.mongo import Document, connect, database
from herald.shared.runtime.settings import RendererSettings, Settings
from tests.conftest import fresh_settings
from tests.infra import Endpoints

pytestmark = pytest.mark.integration

TENANT = "acme"
ANCHOR = date(2026, 11, 20)
WINDOW = DataWindow(
    start=datetime(2026, 11, 13, tzinfo=UTC), end=datetime(2026, 11, 20, tzinfo=UTC), timezone="UTC"
)
PDF_CAP, HTML_CAP = 120, 40


@pytest.fixture(scope="module")
async def env(infra: Endpoints) -> AsyncIterator[tuple[Settings, AsyncDatabase[Document]]]:
    settings = fresh_settings(infra).model_copy(
        update={"renderer": RendererSettings(pdf_max_rows=PDF_CAP, html_max_rows=HTML_CAP)}
    )
    client = connect(settings, "herald-tests")
    db = database(client, settings)
    await demo.seed(db, tenant_id=TENANT, calls=1500, days=14, anchor=ANCHOR)
    yield settings, db
    await client.drop_database(settings.mongo.database)
    await client.close()


@pytest.fixture(scope="module")
def pool() -> AsyncIterator[PdfPool]:
    workers = PdfPool(workers=2, renders_per_worker=50, timeout_s=120)
    yield workers
    workers.close()


@pytest.fixture
def renderer(env: tuple[Settings, AsyncDatabase[Document]], pool: PdfPool) -> Renderer:
    settings, db = env
    return Renderer(MongoSource(db, settings.data_zone), ArtifactStore(db), pool, settings)


def _run(report_id: str, fmt: ReportFormat, *, skip_if_empty: bool = False) -> RunDetails:
    return RunDetails(
        run_id=f"{report_id}-{fmt.value}-{skip_if_empty}@2026-11-20T08:00:00+00:00",
        scheduled_for=datetime(2026, 11, 20, 8, tzinfo=UTC),
        schedule_name="Formats",
        report=ReportRef(id=report_id),
        window=WINDOW,
        format=fmt,
        recipients=["ops@example.com"],
        skip_if_empty=skip_if_empty,
    )


async def _report(env: tuple[Settings, AsyncDatabase[Document]], report_id: str) -> ReportData:
    settings, db = env
    source = MongoSource(db, settings.data_zone)
    request = ReportRequest(TENANT, ReportRef(id=report_id), WINDOW, Filters())
    return await source.fetch(request)


async def _expected_csv(report: ReportData) -> tuple[list[list[str]], int]:
    """The report as CSV lines, built here cell by cell from its rows; and its row count."""
    lines: list[list[str]] = []
    count = 0
    for n, table in enumerate(report.tables):
        if n:
            lines.append([])
        if len(report.tables) > 1 and table.title:
            lines.append([table.title])
        lines.append([c.label for c in table.columns])
        async for row in rows_of(table):
            lines.append([plain(c, v) for c, v in zip(table.columns, row, strict=True)])
            count += 1
        if table.totals is not None:
            lines.append([plain(c, v) for c, v in zip(table.columns, table.totals, strict=True)])
    return lines, count


async def _read(env: tuple[Settings, AsyncDatabase[Document]], file_id: str) -> bytes:
    return await ArtifactStore(env[1]).read(file_id)


@pytest.mark.parametrize("report_id", list(STANDARD_REPORTS))
async def test_csv_parses_back_to_the_report_rows(
    report_id: str, renderer: Renderer, env: tuple[Settings, AsyncDatabase[Document]]
) -> None:
    rendered = await renderer.render(TENANT, "s1", _run(report_id, ReportFormat.CSV))
    assert rendered.artifact is not None
    text = (await _read(env, rendered.artifact.artifact_id)).decode()
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    expected, count = await _expected_csv(await _report(env, report_id))
    # Formula neutralisation is the one change the writer makes to text cells.
    assert [[cell.removeprefix("'") for cell in line] for line in parsed] == [
        [cell.removeprefix("'") for cell in line] for line in expected
    ]
    assert rendered.rows == count


def _email(rendered: Rendered, run: RunDetails, fragment: str) -> str:
    assert rendered.artifact is not None
    message = ReportRendered(
        tenant_id=TENANT,
        schedule_id="s1",
        run=run,
        artifact_id=rendered.artifact.artifact_id,
        filename=rendered.artifact.filename,
        content_type=rendered.artifact.content_type,
        size=rendered.artifact.size,
        rows=rendered.rows,
        sha256=rendered.artifact.sha256,
        title=rendered.title,
        filters_summary=filters_line(run.filters.campaign_ids, run.filters.agent_ids),
        html_artifact_id=rendered.artifact.artifact_id,
    )
    email = compose(
        message,
        "ops@example.com",
        branding=Settings().branding,
        from_address="reports@example.com",
        contents=Contents(inline_html=fragment),
        now=datetime(2026, 11, 20, 8, tzinfo=UTC),
    )
    body = email.get_body(("html",))
    assert body is not None
    return str(body.get_content())


@pytest.mark.parametrize("report_id", list(STANDARD_REPORTS))
async def test_the_inline_html_table_shows_title_period_and_rows(
    report_id: str, renderer: Renderer, env: tuple[Settings, AsyncDatabase[Document]]
) -> None:
    run = _run(report_id, ReportFormat.HTML)
    rendered = await renderer.render(TENANT, "s1", run)
    assert rendered.artifact is not None
    fragment = (await _read(env, rendered.artifact.artifact_id)).decode()
    assert "<script" not in fragment
    html_body = _email(rendered, run, fragment)
    assert STANDARD_REPORTS[report_id] in html_body
    assert period_text(WINDOW) in html_body
    report = await _report(env, report_id)
    capped = hidden = False
    for table in report.tables:
        lines = []
        total = 0
        async for row in rows_of(table):
            total += 1
            if total <= HTML_CAP:
                lines.append(display_row(table.columns, row))
        totals = None if table.totals is None else display_row(table.columns, table.totals)
        shown = DisplayTable(table.title, table.columns, lines, totals, total, table.key_columns)
        # The columns too wide for the email are named, and left to the full CSV.
        kept = shown_columns(shown)
        for line in lines:
            for i in kept:
                assert html.escape(line[i]) in fragment
        dropped = dropped_columns(shown)
        if dropped and total:
            hidden = True
            assert html.escape(", ".join(c.label for c in dropped)) in fragment
        if total > HTML_CAP:
            capped = True
            assert f"Showing {HTML_CAP} of {total:,} rows" in fragment
    # The charts travel as PNGs the fragment shows by Content-ID; the other companion, if
    # any, is the full data.
    images = [c for c in rendered.companions if "cid" in c.metadata]
    files = [c for c in rendered.companions if "cid" not in c.metadata]
    assert [image.metadata["cid"] for image in images] == [
        f"chart-{n}@herald" for n in range(len(report.charts))
    ]
    for image in images:
        assert f'src="cid:{image.metadata["cid"]}"' in fragment
    if capped or hidden:
        (companion,) = files
        assert companion.artifact_id == artifact_id(run.run_id, FULL_CSV)
    else:
        assert not files


def _pdftoppm(path: Path) -> int:
    """Pages poppler turned into images (it must not fail on any of them)."""
    out = subprocess.run(
        ["pdftoppm", "-r", "20", "-png", str(path), str(path.parent / "page")],
        capture_output=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return len(list(path.parent.glob("page*.png")))


@pytest.mark.parametrize("report_id", list(STANDARD_REPORTS))
async def test_the_pdf_has_title_period_headers_and_page_numbers_on_every_page(
    report_id: str,
    renderer: Renderer,
    env: tuple[Settings, AsyncDatabase[Document]],
    tmp_path: Path,
) -> None:
    run = _run(report_id, ReportFormat.PDF)
    rendered = await renderer.render(TENANT, "s1", run)
    assert rendered.artifact is not None
    assert rendered.artifact.content_type == "application/pdf"
    data = await _read(env, rendered.artifact.artifact_id)
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    pages = [page.extract_text() for page in PdfReader(path).pages]
    assert STANDARD_REPORTS[report_id] in pages[0]
    assert period_text(WINDOW) in pages[0]
    report = await _report(env, report_id)
    first_labels = {table.columns[0].label.split()[0] for table in report.tables}
    for number, text in enumerate(pages, 1):
        assert f"Page {number} of {len(pages)}" in text
    if rendered.rows:
        # Tiles and charts may fill the first page; from the first table on, every page
        # repeats its header.
        headed = [any(label in text for label in first_labels) for text in pages]
        first = headed.index(True)
        assert first <= 1, "the tables start after the second page"
        assert all(headed[first:]), f"no header on page {headed.index(False, first) + 1}"
    images = await asyncio.to_thread(_pdftoppm, path)
    assert images == len(pages)


async def test_a_long_report_is_capped_in_the_pdf_and_travels_whole_as_csv(
    renderer: Renderer, env: tuple[Settings, AsyncDatabase[Document]], tmp_path: Path
) -> None:
    run = _run("cdr", ReportFormat.PDF)
    rendered = await renderer.render(TENANT, "s1", run)
    assert rendered.rows > PDF_CAP
    (companion,) = rendered.companions
    full = list(csv.reader(io.StringIO((await _read(env, companion.artifact_id)).decode())))
    assert len(full) == rendered.rows + 1  # header and every call
    assert rendered.artifact is not None
    path = tmp_path / "cdr.pdf"
    path.write_bytes(await _read(env, rendered.artifact.artifact_id))
    text = "\n".join(page.extract_text() for page in PdfReader(path).pages)
    assert f"first {PDF_CAP:,} rows" in text
    assert rendered.artifact.metadata["companions"] == [companion.artifact_id]


async def test_an_empty_period_says_so_or_is_skipped_when_asked(
    renderer: Renderer, env: tuple[Settings, AsyncDatabase[Document]], tmp_path: Path
) -> None:
    empty_window = DataWindow(
        start=datetime(2020, 1, 1, tzinfo=UTC),
        end=datetime(2020, 1, 2, tzinfo=UTC),
        timezone="UTC",
    )
    run = _run("campaign_summary", ReportFormat.PDF).model_copy(
        update={"window": empty_window, "run_id": "empty@x"}
    )
    rendered = await renderer.render(TENANT, "s1", run)
    assert rendered.artifact is not None
    path = tmp_path / "empty.pdf"
    path.write_bytes(await _read(env, rendered.artifact.artifact_id))
    assert "No data for this period" in PdfReader(path).pages[0].extract_text()
    skipping = run.model_copy(update={"skip_if_empty": True, "run_id": "skip@x"})
    assert (await renderer.render(TENANT, "s1", skipping)).artifact is None
    csv_run = skipping.model_copy(update={"format": ReportFormat.CSV, "run_id": "skip-csv@x"})
    assert (await renderer.render(TENANT, "s1", csv_run)).artifact is None
    assert await ArtifactStore(env[1]).find(artifact_id("skip-csv@x", "csv")) is None
