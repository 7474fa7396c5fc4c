"""CreateSchedule then RunNow, through the three services as separate processes.

On real Kafka, MongoDB (FerretDB here) and SMTP (Mailpit): the email arrives
with the CSV attachment, the artifact is in GridFS, the run is `delivered`.
"""

from __future__ import annotations

import csv
import email
import io
import json
from datetime import date
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from uuid import uuid4

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.services.mailer.compose import message_id
from herald.shared.contract.messages import CreateSchedule, RunNow, RunStatus, SendTestEmail
from herald.shared.contract.schedule_spec import Frequency, ReportFormat, ReportRef, ScheduleSpec
from herald.shared.history import store as history_store
from herald.shared.runtime.artifacts import ArtifactStore
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.helpers import Mailpit, command_client, off_hours, three_services, wait_until

pytestmark = pytest.mark.e2e


async def test_run_now_delivers_a_csv_report_end_to_end(
    topics_ready: Settings,
    db: AsyncDatabase[Document],
    mailpit: Mailpit,
    recipient: str,
    log_dir: Path,
) -> None:
    settings = topics_ready
    await demo.seed(db, tenant_id="acme", calls=2000, days=10, anchor=date.today())
    async with three_services(settings, log_dir) as services:
        spec = ScheduleSpec(
            name="Morning Brief",
            report=ReportRef(id="campaign_summary"),
            frequency=Frequency.DAILY,
            recipients=[recipient],
            format=ReportFormat.CSV,
        )
        async with command_client(settings) as herald:
            created = await herald.send(
                CreateSchedule(
                    command_id=uuid4(),
                    tenant_id="acme",
                    schedule_id="acme-brief",
                    spec=off_hours(spec),
                )
            )
            assert created.version == 1
            assert created.next_run_at is not None
            ran = await herald.send(
                RunNow(command_id=uuid4(), tenant_id="acme", schedule_id="acme-brief")
            )
        run_id = ran.run_id
        assert run_id is not None
        assert run_id.startswith("acme/acme-brief@manual-")

        runs = db[history_store.RUNS]

        async def delivered() -> history_store.history.RunRecord | None:
            record = await history_store.get_run(runs, "acme", run_id)
            return record if record and record.status is RunStatus.DELIVERED else None

        record = await wait_until(delivered, 90, f"run {run_id} to be delivered")

        # The SMTP check: a small test report through renderer and mailer, into the history.
        tester = recipient.replace("@", ".check@")
        async with command_client(settings) as herald:
            checked = await herald.send(
                SendTestEmail(
                    command_id=uuid4(),
                    tenant_id="acme",
                    schedule_id="smtp-test",
                    recipients=[tester],
                )
            )
        test_run = checked.run_id
        assert test_run is not None

        async def test_delivered() -> history_store.history.RunRecord | None:
            found = await history_store.get_run(runs, "acme", test_run)
            return found if found and found.status is RunStatus.DELIVERED else None

        test_record = await wait_until(test_delivered, 90, "the test email to be delivered")

    assert [e.status for e in record.events] == [
        RunStatus.DUE,
        RunStatus.RENDERED,
        RunStatus.DELIVERED,
    ]
    assert record.recipients[0].address == recipient
    assert record.artifact_id is not None

    artifact = await ArtifactStore(db).find(record.artifact_id)
    assert artifact is not None
    assert artifact.metadata["run_id"] == run_id
    assert artifact.metadata["tenant_id"] == "acme"
    assert artifact.metadata["format"] == "csv"
    stored = await ArtifactStore(db).read(record.artifact_id)

    received = mailpit.to(recipient)
    assert len(received) == 1
    parsed = email.message_from_bytes(mailpit.raw(received[0]["ID"]), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Message-ID"] == message_id(run_id, recipient, settings.smtp.from_address)
    assert "Campaign Summary" in str(parsed["Subject"])
    attachments = list(parsed.iter_attachments())
    assert len(attachments) == 1
    assert attachments[0].get_filename() == artifact.filename
    assert attachments[0].get_content_type() == "text/csv"
    assert attachments[0].get_content_charset() == "utf-8"
    payload = attachments[0].get_payload(decode=True)
    assert payload == stored
    assert test_record.test
    assert test_record.recipients[0].smtp_code == 250
    (test_mail,) = mailpit.to(tester)
    assert "Herald test email" in test_mail["Subject"]

    rows = list(csv.reader(io.StringIO(stored.decode())))
    # The outbound table first (its title, header, rows, total), then the inbound one.
    assert rows[0] == ["Outbound"]
    assert rows[1][:2] == ["Campaign", "Dialed"]
    *campaigns, totals = rows[2 : rows.index([])]
    assert campaigns
    assert {row[0] for row in campaigns} <= set(demo.CAMPAIGNS)
    assert totals[0] == "Total"
    assert int(totals[1]) == sum(int(row[1]) for row in campaigns)

    # Every service logs JSON lines; those about the run carry its ids.
    for service in services:
        lines = [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]
        assert lines
        about_run = [line for line in lines if line.get("run_id") == run_id]
        assert about_run, f"no log line of {service.name} names run {run_id}"
        assert {line["tenant_id"] for line in about_run} == {"acme"}
        assert {line["schedule_id"] for line in about_run} == {"acme-brief"}
