"""PDF and inline-HTML reports through the three services, and a duplicate `ReportDue`.

On real Kafka, FerretDB and Mailpit: a PDF schedule's email carries the PDF
(and, past the row cap, the full CSV); an HTML schedule's email carries the
table in its body; both say the report's notes; an empty report whose
schedule skips empty ones is recorded as `skipped_empty` and sends nothing;
a schedule naming a custom report that no longer exists fails at once with
that reason; the renderer answers a repeated `ReportDue` from the artifact it
already stored, without a second render.
"""

from __future__ import annotations

import asyncio
import email
from datetime import date
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import psutil
import pytest
from aiokafka import AIOKafkaProducer
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.shared.contract.messages import (
    ReportDue,
    ReportRendered,
    RunStatus,
)
from herald.shared.contract.schedule_spec import (
    Filters,
    Frequency,
    ReportFormat,
    ReportRef,
    ScheduleSpec,
)
from herald.shared.contract.topics import Topics
from herald.shared.history import store as history_store
from herald.shared.runtime.artifacts import BUCKET
from herald.shared.runtime.kafka import client_options
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import RendererSettings, Settings
from tests.helpers import (
    Mailpit,
    command_client,
    create_and_run,
    read_topic,
    three_services,
    wait_until,
)

pytestmark = pytest.mark.e2e


def _email(mailpit: Mailpit, address: str) -> EmailMessage | None:
    found = mailpit.to(address)
    if not found:
        return None
    parsed = email.message_from_bytes(mailpit.raw(found[0]["ID"]), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    return parsed


async def test_pdf_and_html_schedules_arrive_and_a_duplicate_due_is_not_rendered_twice(
    topics_ready: Settings,
    db: AsyncDatabase[Document],
    mailpit: Mailpit,
    recipient: str,
    log_dir: Path,
) -> None:
    # Fewer rows than any day of the demo's has calls: on a Monday the run reports a Sunday,
    # 56 calls of 3,000 over ten days (100 here made the test fail on Mondays alone).
    # With a print worker beside the PDF worker: the PDF is printed by whichever is free.
    renderer_settings = RendererSettings(pdf_max_rows=20, print_workers=1)
    settings = topics_ready.model_copy(update={"renderer": renderer_settings})
    await demo.seed(db, tenant_id="acme", calls=3000, days=10, anchor=date.today())
    html_reader = recipient.replace("@", ".html@")
    empty_reader = recipient.replace("@", ".empty@")
    gone = recipient.replace("@", ".gone@")
    async with three_services(settings, log_dir) as services:
        schedules = {
            "acme-cdr": (ReportRef(id="cdr"), ReportFormat.PDF, recipient),
            "acme-hourly": (ReportRef(id="hourly_activity"), ReportFormat.HTML, html_reader),
            "acme-empty": (ReportRef(id="campaign_summary"), ReportFormat.PDF, empty_reader),
            "acme-gone": (ReportRef(kind="custom", id="deleted-report"), ReportFormat.CSV, gone),
        }
        run_ids = {}
        async with command_client(settings) as herald:
            for schedule_id, (report, fmt, to) in schedules.items():
                spec = ScheduleSpec(
                    name=schedule_id,
                    report=report,
                    frequency=Frequency.DAILY,
                    recipients=[to],
                    format=fmt,
                    # Only the empty schedule filters to a campaign without calls.
                    filters=Filters(campaign_ids=["no-such-campaign"] if "empty" in to else []),
                    skip_if_empty="empty" in to,
                )
                run_ids[schedule_id] = await create_and_run(herald, "acme", schedule_id, spec)

        runs = db[history_store.RUNS]
        finals = {"acme-empty": RunStatus.SKIPPED_EMPTY, "acme-gone": RunStatus.FAILED}
        for schedule_id, run_id in run_ids.items():
            final = finals.get(schedule_id, RunStatus.DELIVERED)

            async def finished(run_id: str = run_id, final: RunStatus = final) -> bool:
                record = await history_store.get_run(runs, "acme", run_id)
                return record is not None and record.status is final

            await wait_until(finished, 120, f"run {run_id} to be {final.value}")
        # Printed by workers started stripped of docstrings, as the service starts them.
        renderer = psutil.Process(services[1].process.pid)
        workers = [p for p in renderer.children() if "spawn_main" in " ".join(p.cmdline())]
        assert all(worker.environ().get("PYTHONOPTIMIZE") == "2" for worker in workers)
        # The PDF worker has loaded matplotlib, the print worker never does.
        maps = [await asyncio.to_thread(Path(f"/proc/{w.pid}/maps").read_text) for w in workers]
        drawing = ["/matplotlib/" in text for text in maps]
        assert sorted(drawing) == [False, True]
        assert not mailpit.to(empty_reader)
        failed = await history_store.get_run(runs, "acme", run_ids["acme-gone"])
        assert failed is not None
        assert failed.reason is not None
        assert "'deleted-report' does not exist" in failed.reason
        assert failed.attempt == 1  # permanent: no retry

        pdf_mail = _email(mailpit, recipient)
        assert pdf_mail is not None
        attachments = {a.get_filename(): a for a in pdf_mail.iter_attachments()}
        names = sorted(attachments)
        assert [name.rpartition(".")[2] for name in names] == ["csv", "pdf"]
        assert all(name.startswith("cdr-report_") for name in names)
        pdf_bytes = attachments[names[1]].get_payload(decode=True)
        assert isinstance(pdf_bytes, bytes)
        assert pdf_bytes.startswith(b"%PDF")
        text = pdf_mail.get_body(("plain",))
        assert text is not None
        assert "attached as" in text.get_content()
        assert "Times are local to" in text.get_content()  # the CDR's note, in the body too

        html_mail = _email(mailpit, html_reader)
        assert html_mail is not None
        body = html_mail.get_body(("html",))
        assert body is not None
        content = body.get_content()
        assert "Hourly Activity" in content
        assert "Average wait" in content  # the table's header, inline
        # The report's notes, which only the PDF's heading carried: in which zone the hours are.
        assert "Hours are local to" in content
        html_text = html_mail.get_body(("plain",))
        assert html_text is not None
        assert "Hours are local to" in html_text.get_content()
        assert not list(html_mail.iter_attachments())

        # The same ReportDue again, as a redelivery would bring it.
        topics = Topics(settings.kafka.topic_prefix)
        cdr_run = run_ids["acme-cdr"]
        dues = [
            ReportDue.model_validate_json(record.value)
            for record in await read_topic(settings, topics.report_due)
        ]
        (due,) = [d for d in dues if d.run.run_id == cdr_run]
        producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                topics.report_due, due.model_dump_json().encode(), key=due.schedule_id.encode()
            )
        finally:
            await producer.stop()

        async def published_twice() -> list[ReportRendered] | None:
            records = await read_topic(settings, topics.report_rendered)
            rendered = [ReportRendered.model_validate_json(r.value) for r in records]
            mine = [r for r in rendered if r.run.run_id == cdr_run]
            return mine if len(mine) == 2 else None

        first, again = await wait_until(published_twice, 60, "the repeated ReportRendered")

    assert again.artifact_id == first.artifact_id
    assert again.sha256 == first.sha256
    assert [c.artifact_id for c in again.companions] == [c.artifact_id for c in first.companions]
    files = await db[f"{BUCKET}.files"].find({"metadata.run_id": cdr_run}).to_list()
    assert sorted(f["_id"] for f in files) == sorted(
        [first.artifact_id, *(c.artifact_id for c in first.companions)]
    )
    renderer_log = services[1].log_path.read_text()
    assert f"run {cdr_run} already rendered" in renderer_log
