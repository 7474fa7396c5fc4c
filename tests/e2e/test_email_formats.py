"""One email of each format, received by Mailpit and parsed back.

Subject, the text and HTML alternatives, the logo and the charts inline
(related parts referenced by `cid:`), the headline tiles in every body,
attachments byte for byte equal to their GridFS artifacts, the link back to
the platform, and the Message-ID derived from the run and the recipient.
"""

from __future__ import annotations

import base64
import email
from datetime import date
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.services.mailer.compose import LOGO_CID, message_id
from herald.shared.contract.messages import CreateSchedule, RunNow, RunStatus
from herald.shared.contract.schedule_spec import Frequency, ReportFormat, ReportRef, ScheduleSpec
from herald.shared.history import store as history_store
from herald.shared.runtime.artifacts import ArtifactStore
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import BrandingSettings, Settings
from tests.helpers import Mailpit, command_client, three_services, wait_until

pytestmark = pytest.mark.e2e

#: A 1x1 PNG: the platform's logo.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


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
    )
    settings = topics_ready.model_copy(update={"branding": branding})
    await demo.seed(db, tenant_id="acme", calls=1500, days=8, anchor=date.today())
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
                )
                schedule_id = f"acme-brief-{fmt.value}"
                await herald.send(
                    CreateSchedule(tenant_id="acme", schedule_id=schedule_id, spec=spec)
                )
                ran = await herald.send(RunNow(tenant_id="acme", schedule_id=schedule_id))
                assert ran.run_id is not None
                runs[fmt] = ran.run_id
        for run_id in runs.values():

            async def delivered(run_id: str = run_id) -> bool:
                record = await history_store.get_run(db[history_store.RUNS], "acme", run_id)
                return record is not None and record.status is RunStatus.DELIVERED

            await wait_until(delivered, 120, f"run {run_id} to be delivered")

    artifacts = ArtifactStore(db)
    for fmt, to in readers.items():
        (found,) = mailpit.to(to)
        parsed = email.message_from_bytes(mailpit.raw(found["ID"]), policy=default_policy)
        assert isinstance(parsed, EmailMessage)
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
        inline = [p for p in parsed.walk() if p["Content-ID"] == f"<{LOGO_CID}>"]
        assert [p.get_payload(decode=True) for p in inline] == [PNG]
        # Every format's body opens with the headline tiles, beside the previous period.
        assert "Conversions" in html.get_content()
        assert "prev." in html.get_content()
        assert "Conversions: " in text.get_content()
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
            continue
        (attachment,) = attachments
        stored = await artifacts.find(f"{runs[fmt]}/{fmt.value}")
        assert stored is not None
        assert attachment.get_filename() == stored.filename
        assert attachment.get_filename().endswith(f".{fmt.value}")
        assert attachment.get_content_type() == stored.content_type.split(";")[0]
        assert attachment.get_payload(decode=True) == await artifacts.read(stored.artifact_id)
