"""One email of each format, received by Mailpit and parsed back.

Subject, the text and HTML alternatives, the logo and the charts inline
(related parts referenced by `cid:`), the headline tiles in every body,
attachments byte for byte equal to their GridFS artifacts, the link back to
the platform, and the Message-ID derived from the run and the recipient.

Filtered to a campaign whose name no US-ASCII guess reads right: every text
part and attachment declares UTF-8 and decodes to the exact text, nothing
travels 8-bit, the filter line names the campaigns, the PDF's text holds the
name too, and each email names the platform's one-click unsubscribe.
"""

from __future__ import annotations

import base64
import email
import io
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pypdf import PdfReader

from herald.cli import demo
from herald.services.mailer.compose import LOGO_CID, message_id
from herald.services.renderer.calldata.records import Call, CallStatus, Campaign, Direction
from herald.services.renderer.calldata.store import CallStore
from herald.shared.contract.messages import RunStatus
from herald.shared.contract.schedule_spec import (
    Filters,
    Frequency,
    ReportFormat,
    ReportRef,
    ScheduleSpec,
)
from herald.shared.history import store as history_store
from herald.shared.runtime.artifacts import ArtifactStore
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import BrandingSettings, Settings
from tests.helpers import Mailpit, command_client, create_and_run, three_services, wait_until

pytestmark = pytest.mark.e2e

#: A 1x1 PNG: the platform's logo.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
ZURICH = "Rückgewinnung \u2013 Mitglieder (Zürich)"
#: What every email's filter line says: names, in the schedule's order.
NAMED = f"Campaigns: {ZURICH}, Solar Panel Leads"
UNSUBSCRIBE = (
    "{platform_base_url}/herald/unsubscribe?tenant={tenant_id}&schedule={schedule_id}"
    "&to={recipient}"
)


async def _seed_zurich(db: AsyncDatabase[Document]) -> None:
    """The campaign `winback-zh`, named `ZURICH`, with calls on the reported day and the one
    before (the tiles' previous period)."""
    store = CallStore(db, ZoneInfo("UTC"))
    await store.put([Campaign(tenant_id="acme", campaign_id="winback-zh", name=ZURICH)])
    today = datetime.now(UTC).date()
    calls = []
    for days_ago in (1, 2):
        for n in range(10):
            answered = n % 2 == 0
            calls.append(
                Call(
                    tenant_id="acme",
                    call_id=f"zh-{days_ago}-{n}",
                    started_at=datetime.combine(
                        today - timedelta(days=days_ago), time(9, n), tzinfo=UTC
                    ),
                    direction=Direction.OUTBOUND,
                    campaign_id="winback-zh",
                    status=CallStatus.ANSWERED if answered else CallStatus.NO_ANSWER,
                    agent_id="zh-agent" if answered else None,
                    talk_s=90 if answered else 0,
                )
            )
    assert await store.ingest(calls) == len(calls)


def _pdf_text(pdf: bytes) -> str:
    """The PDF's text, whitespace made single spaces: a line may wrap anywhere."""
    pages = PdfReader(io.BytesIO(pdf)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


async def test_each_format_arrives_branded_with_its_files_and_a_link_back(
    topics_ready: Settings,
    db: AsyncDatabase[Document],
    mailpit: Mailpit,
    recipient: str,
    log_dir: Path,
    tmp_path: Path,
) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    branding = BrandingSettings(
        platform_name="Acme Dialer",
        platform_base_url="https://dialer.example.com",
        logo_file=logo,
        unsubscribe_url=UNSUBSCRIBE,
    )
    settings = topics_ready.model_copy(update={"branding": branding})
    await demo.seed(db, tenant_id="acme", calls=1500, days=8, anchor=date.today())
    await _seed_zurich(db)
    readers = {fmt: recipient.replace("@", f".{fmt.value}@") for fmt in ReportFormat}
    runs: dict[ReportFormat, str] = {}
    async with three_services(settings, log_dir):
        async with command_client(settings) as herald:
            for fmt, to in readers.items():
                spec = ScheduleSpec(
                    name=f"Morning Brief ({fmt.value})",
                    report=ReportRef(id="campaign_summary"),
                    frequency=Frequency.DAILY,
                    recipients=[to],
                    format=fmt,
                    filters=Filters(campaign_ids=["winback-zh", "solar"]),
                )
                runs[fmt] = await create_and_run(herald, "acme", f"acme-brief-{fmt.value}", spec)
        for run_id in runs.values():

            async def delivered(run_id: str = run_id) -> bool:
                record = await history_store.get_run(db[history_store.RUNS], "acme", run_id)
                return record is not None and record.status is RunStatus.DELIVERED

            await wait_until(delivered, 120, f"run {run_id} to be delivered")

    artifacts = ArtifactStore(db)
    for fmt, to in readers.items():
        (found,) = mailpit.to(to)
        raw = mailpit.raw(found["ID"])
        parsed = email.message_from_bytes(raw, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        # Nothing 8-bit on the wire, and every text part and attachment says it is UTF-8.
        assert raw.isascii()
        texts = [p for p in parsed.walk() if p.get_content_maintype() == "text"]
        # Plain, HTML and, but for the PDF's email, a CSV (the report, or its full data).
        assert len(texts) == (2 if fmt is ReportFormat.PDF else 3)
        for part in texts:
            assert part.get_content_charset() == "utf-8", part.get_content_type()
            assert part["Content-Transfer-Encoding"] in ("7bit", "quoted-printable", "base64")
        schedule_id = f"acme-brief-{fmt.value}"
        assert parsed["List-Unsubscribe"] == (
            "<https://dialer.example.com/herald/unsubscribe"
            f"?tenant=acme&schedule={schedule_id}&to={quote(to, safe='')}>"
        )
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert parsed["Subject"].startswith("Acme Dialer: Campaign Summary, ")
        assert parsed["Message-ID"] == message_id(runs[fmt], to, settings.smtp.from_address)
        assert parsed["Auto-Submitted"] == "auto-generated"
        text = parsed.get_body(("plain",))
        html = parsed.get_body(("html",))
        assert text is not None
        assert html is not None
        assert "https://dialer.example.com/reports/standard/campaign_summary?" in text.get_content()
        assert 'href="https://dialer.example.com/reports/standard/campaign_summary?' in (
            html.get_content()
        )
        assert f'src="cid:{LOGO_CID}"' in html.get_content()
        # The filter line names the campaigns; their ids travel in the link alone.
        assert NAMED in text.get_content().splitlines()
        assert NAMED in html.get_content()
        assert "&campaign=winback-zh&campaign=solar" in text.get_content()
        inline = [p for p in parsed.walk() if p["Content-ID"] == f"<{LOGO_CID}>"]
        assert [p.get_payload(decode=True) for p in inline] == [PNG]
        # Every format's body opens with the headline tiles, beside the previous period.
        assert "Outbound conversions" in html.get_content()
        assert "prev." in html.get_content()
        assert "Outbound conversions: " in text.get_content()
        attachments = list(parsed.iter_attachments())
        if fmt is ReportFormat.HTML:
            assert "Contact rate %" in html.get_content()  # the table, in the body
            # Its chart is a PNG shown by Content-ID, byte for byte what the renderer stored;
            # a one-day window has no daily trend, only the bars by campaign.
            assert 'src="cid:chart-0@herald"' in html.get_content()
            assert "cid:chart-1@herald" not in html.get_content()
            (chart,) = [p for p in parsed.walk() if p["Content-ID"] == "<chart-0@herald>"]
            stored_chart = await artifacts.read(f"{runs[fmt]}/chart-1.png")
            assert chart.get_payload(decode=True) == stored_chart
            assert stored_chart.startswith(b"\x89PNG")
            # Twelve columns do not fit the email: the ones left out travel in the full CSV.
            (full,) = attachments
            assert "more columns are in the attached CSV" in html.get_content()
            full_data = await artifacts.read(f"{runs[fmt]}/full.csv")
            assert full.get_payload(decode=True) == full_data
            assert full.get_content() == full_data.decode()
            assert ZURICH in full.get_content()
            assert f'text-align:left;">{ZURICH}</td>' in html.get_content()  # the table's row
            continue
        (attachment,) = attachments
        stored = await artifacts.find(f"{runs[fmt]}/{fmt.value}")
        assert stored is not None
        assert attachment.get_filename() == stored.filename
        assert attachment.get_filename().endswith(f".{fmt.value}")
        assert attachment.get_content_type() == stored.content_type.split(";")[0]
        data = await artifacts.read(stored.artifact_id)
        assert attachment.get_payload(decode=True) == data
        if fmt is ReportFormat.CSV:
            assert attachment.get_content() == data.decode()
            assert ZURICH in attachment.get_content()
        else:  # the PDF's heading names the filters as the email does; its table the campaign
            pdf_text = _pdf_text(data)
            assert NAMED in pdf_text
            assert pdf_text.count(ZURICH) >= 2
