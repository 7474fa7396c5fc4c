"""Template and formula injection through a real render: a custom report saved in the store.

A custom report whose title, metric label and fixed filter hold Jinja syntax,
HTML and `&`, over campaigns whose names do too (and start like spreadsheet
formulas), is saved through the real store on FerretDB and rendered in every
format. Each text must come out literally: in the PDF's extracted text, in
the CSV cells (formulas neutralised, negative numbers untouched elsewhere),
escaped in the inline HTML table and in the email's HTML part, as given in
its text part and subject. Nothing may be evaluated (no `49`, no loop output).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape
from pymongo.asynchronous.database import AsyncDatabase
from pypdf import PdfReader

from herald.services.mailer.compose import Contents, compose
from herald.services.renderer.calldata.records import Call, Campaign
from herald.services.renderer.calldata.store import CallStore
from herald.services.renderer.filter_names import filters_line
from herald.services.renderer.pool import PdfPool
from herald.services.renderer.render import Rendered, Renderer
from herald.services.renderer.reports import custom_store as custom_report_store
from herald.services.renderer.reports.custom_definitions import CustomReport
from herald.services.renderer.reports.mongo_source import MongoSource
from herald.shared.contract.messages import DataWindow, ReportRendered, RunDetails
from herald.shared.contract.schedule_spec import ReportFormat, ReportRef
from herald.shared.runtime.artifacts import ArtifactStore
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings

pytestmark = pytest.mark.integration

TENANT = "acme"
DAY = date(2026, 3, 2)
WINDOW = DataWindow(
    start=datetime(2026, 3, 2, tzinfo=UTC), end=datetime(2026, 3, 3, tzinfo=UTC), timezone="UTC"
)
TITLE = "{{ 7*191 }} {% for x in [1] %}loop{% endfor %} <script>alert(1)</script> & co"
LABEL = "<img/src=x>{{n}}&co"
DISPOSITION = "{% raw %}<b>sold</b> & {{ 6*1111 }}"
SCHEDULE = "<i>{{ 8*1001 }}</i> & {# comment #} brief"
#: Campaign names: markup and template syntax, and the starts a spreadsheet runs as a formula.
CAMPAIGNS = {
    "c1": "<script>x()</script>",
    "c2": "{{ 9*1009 }}",
    "c3": "=cmd|' /C calc'!A0",
    "c4": "+1+1",
    "c5": "-2+3",
    "c6": "@SUM(1)",
    "c7": "\tTab & co",
}
LITERALS = [TITLE, LABEL, *CAMPAIGNS.values()]


@pytest.fixture
async def saved(db: AsyncDatabase[Document]) -> AsyncDatabase[Document]:
    store = CallStore(db, ZoneInfo("UTC"))
    calls = [
        Call(
            tenant_id=TENANT,
            call_id=f"call-{campaign}",
            started_at=datetime(2026, 3, 2, 9, n, tzinfo=UTC),
            direction="outbound",
            campaign_id=campaign,
            status="no_answer",
            disposition=DISPOSITION,
        )
        for n, campaign in enumerate(CAMPAIGNS)
    ]
    assert await store.ingest(calls) == len(calls)
    await store.put(
        [Campaign(tenant_id=TENANT, campaign_id=c, name=n) for c, n in CAMPAIGNS.items()]
    )
    report = CustomReport.model_validate(
        {
            "tenant_id": TENANT,
            "report_id": "tricky",
            "title": TITLE,
            "dataset": "calls",
            "dimensions": ["campaign_id"],
            "metrics": [{"key": "calls", "label": LABEL, "kind": "count"}],
            "filters": {"disposition": [DISPOSITION]},
        }
    )
    assert await custom_report_store.save(db[custom_report_store.CUSTOM_REPORTS], report)
    return db


@pytest.fixture(scope="module")
def pool() -> Iterator[PdfPool]:
    workers = PdfPool(workers=1, renders_per_worker=10, timeout_s=120)
    yield workers
    workers.close()


def _run(fmt: ReportFormat) -> RunDetails:
    return RunDetails(
        run_id=f"tricky-{fmt.value}@2026-03-03T08:00:00+00:00",
        scheduled_for=datetime(2026, 3, 3, 8, tzinfo=UTC),
        schedule_name=SCHEDULE,
        report=ReportRef(kind="custom", id="tricky"),
        window=WINDOW,
        format=fmt,
        recipients=["ops@example.com"],
    )


async def _render(
    db: AsyncDatabase[Document], settings: Settings, pool: PdfPool, fmt: ReportFormat
) -> tuple[Rendered, bytes]:
    renderer = Renderer(MongoSource(db, settings.data_zone), ArtifactStore(db), pool, settings)
    rendered = await renderer.render(TENANT, "s1", _run(fmt))
    assert rendered.artifact is not None
    assert rendered.title == TITLE
    return rendered, await ArtifactStore(db).read(rendered.artifact.artifact_id)


def _email(rendered: Rendered, fmt: ReportFormat, fragment: str | None) -> EmailMessage:
    assert rendered.artifact is not None
    run = _run(fmt)
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
    )
    return compose(
        message,
        "ops@example.com",
        branding=Settings().branding,
        from_address="reports@example.com",
        contents=Contents(inline_html=fragment),
        now=datetime(2026, 3, 3, 8, tzinfo=UTC),
    )


def _nothing_evaluated(text: str) -> None:
    for result in ("1337", "6666", "8008", "9081"):
        assert result not in text, f"a template expression was evaluated: {result}"
    assert "looploop" not in text


async def test_the_csv_has_every_text_literally_and_formulas_neutralised(
    saved: AsyncDatabase[Document], settings: Settings, pool: PdfPool
) -> None:
    rendered, data = await _render(saved, settings, pool, ReportFormat.CSV)
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert rows[0] == ["Campaign", LABEL]
    names = {row[0]: row[1] for row in rows[1:-1]}
    expected = {(f"'{name}" if name[0] in "=+-@\t" else name): "1" for name in CAMPAIGNS.values()}
    assert names == expected
    assert rows[-1] == ["Total", "7"]
    _nothing_evaluated(data.decode())
    email = _email(rendered, ReportFormat.CSV, None)
    assert email["Subject"].startswith(f"Contact Center: {TITLE}, ")


async def test_the_inline_html_table_and_the_email_escape_every_text(
    saved: AsyncDatabase[Document], settings: Settings, pool: PdfPool
) -> None:
    rendered, data = await _render(saved, settings, pool, ReportFormat.HTML)
    fragment = data.decode()
    for text in [LABEL, *CAMPAIGNS.values()]:
        assert escape(text) in fragment, text
    assert "<script" not in fragment
    assert "<img" not in fragment
    _nothing_evaluated(fragment)
    email = _email(rendered, ReportFormat.HTML, fragment)
    assert email["Subject"].startswith(f"Contact Center: {TITLE}, ")
    html_part, text_part = email.get_body(("html",)), email.get_body(("plain",))
    assert html_part is not None
    assert text_part is not None
    body, text = html_part.get_content(), text_part.get_content()
    for literal in (TITLE, SCHEDULE):
        assert escape(literal) in body, literal
        assert literal in text, literal
    assert "<script" not in body
    assert "<img" not in body
    _nothing_evaluated(body)
    _nothing_evaluated(text)


async def test_the_pdf_text_shows_every_text_literally(
    saved: AsyncDatabase[Document], settings: Settings, pool: PdfPool
) -> None:
    _, data = await _render(saved, settings, pool, ReportFormat.PDF)
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = " ".join(text.split())
    for literal in [TITLE, LABEL, DISPOSITION, *CAMPAIGNS.values()]:
        assert " ".join(literal.split()) in flat, literal
    assert "&lt;" not in text  # escaped once, for HTML, never shown escaped (the page footer)
    assert "&amp;" not in text
    footer = f"Contact Center · {' '.join(TITLE.split())} Page 1 of 1"
    assert footer in flat
    _nothing_evaluated(text)
