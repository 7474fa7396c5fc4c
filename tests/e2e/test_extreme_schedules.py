"""Schedules at Herald's limits, valid ones delivered and the next step beyond rejected by field.

The three services as processes on real Kafka and FerretDB, mail to an
aiosmtpd server this test controls: 1,000 recipients (the cap) each get the
email exactly once and 1,001 are refused; a cron firing every minute fires
for real and stores the next firing a minute later; a window of a year is
rendered and delivered; names in any script come back intact in the email
while control characters are refused.
"""

from __future__ import annotations

import contextlib
import email
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from uuid import uuid4

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.client.commands import CommandRejectedError
from herald.services.scheduler.firing import Pending
from herald.services.scheduler.slots import SlotStore, shard_of
from herald.services.scheduler.store import SCHEDULES
from herald.shared.contract.identity import ScheduleRef, fired_run_id
from herald.shared.contract.messages import CreateSchedule, RunStatus
from herald.shared.contract.schedule_spec import (
    MAX_RECIPIENTS,
    DataWindowSpec,
    Frequency,
    ReportFormat,
    ReportRef,
    ScheduleSpec,
    WindowKind,
)
from herald.shared.history import store as history_store
from herald.shared.history.fold import RunRecord
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings, SmtpSettings
from tests.helpers import command_client, create_and_run, three_services, wait_until
from tests.smtp_server import SmtpServer

pytestmark = pytest.mark.e2e

#: Right to left, combining marks, an emoji family joined by ZWJ, CJK.
UNICODE_NAME = (
    "تقرير المبيعات · Cafe\u0301 re\u0301sume\u0301 · "
    "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 · 每日销售报告 · 日報"
)


@contextlib.asynccontextmanager
async def _herald(settings: Settings, log_dir: Path, server: SmtpServer) -> AsyncIterator[Settings]:
    """The three services, mailing to `server`; yields the settings they run with."""
    settings = settings.model_copy(
        update={"smtp": SmtpSettings(host="127.0.0.1", port=server.port, pool_size=8)}
    )
    async with three_services(settings, log_dir):
        yield settings


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def _spec(name: str, recipients: list[str], **fields: object) -> ScheduleSpec:
    return ScheduleSpec.model_validate(
        {
            "name": name,
            "report": ReportRef(id="campaign_summary"),
            "frequency": Frequency.DAILY,
            "recipients": recipients,
            "format": ReportFormat.CSV,
        }
        | fields
    )


async def _delivered(db: AsyncDatabase[Document], run_id: str) -> RunRecord | None:
    record = await history_store.get_run(db[history_store.RUNS], "acme", run_id)
    return record if record is not None and record.status is RunStatus.DELIVERED else None


async def _rejected_fields(settings: Settings, document: dict[str, object]) -> set[str]:
    """Send a CreateSchedule document; the fields its rejection names."""
    async with command_client(settings) as herald:
        with pytest.raises(CommandRejectedError) as rejected:
            await herald.send_document({"type": "CreateSchedule", "tenant_id": "acme"} | document)
    return {error.field for error in rejected.value.rejection.errors}


def _body(content: bytes, subtype: str) -> str:
    """The decoded text of the email's `subtype` (plain or html) body."""
    parsed = email.message_from_bytes(content, policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    part = parsed.get_body((subtype,))
    assert part is not None
    return str(part.get_content())


async def _run_now(settings: Settings, schedule_id: str, spec: ScheduleSpec) -> str:
    async with command_client(settings, timeout_s=60) as herald:
        return await create_and_run(herald, "acme", schedule_id, spec)


@pytest.mark.timeout(300)
async def test_the_recipient_cap_gets_one_email_each_and_one_more_is_refused(
    topics_ready: Settings, db: AsyncDatabase[Document], smtp_server: SmtpServer, log_dir: Path
) -> None:
    await demo.seed(db, tenant_id="acme", calls=200, days=3, anchor=date.today())
    everyone = [f"cap{i}@example.com" for i in range(MAX_RECIPIENTS)]
    async with _herald(topics_ready, log_dir, smtp_server) as settings:
        run_id = await _run_now(settings, "acme-cap", _spec("Everyone", everyone))
        record = await wait_until(lambda: _delivered(db, run_id), 180, "1,000 emails", 1.0)
        one_more = _spec("x", ["a@example.com"]).model_dump(mode="json")
        one_more["recipients"] = [*everyone, "one.more@example.com"]
        fields = await _rejected_fields(settings, {"schedule_id": "acme-over", "spec": one_more})

    assert Counter(d.recipient for d in smtp_server.deliveries) == Counter(everyone)
    assert len(record.recipients) == MAX_RECIPIENTS
    assert fields == {"spec.recipients"}
    assert await db[SCHEDULES].find_one({"_id": "acme-over"}) is None


@pytest.mark.timeout(300)
async def test_a_cron_of_every_minute_fires_and_is_due_again_a_minute_later(
    topics_ready: Settings, db: AsyncDatabase[Document], smtp_server: SmtpServer, log_dir: Path
) -> None:
    spec = _spec(
        "Every minute",
        ["minutely@example.com"],
        frequency=Frequency.CUSTOM,
        cron="* * * * *",
        window=DataWindowSpec(kind=WindowKind.LAST_HOURS, n=1),
        timezone="UTC",
    )
    async with _herald(topics_ready, log_dir, smtp_server) as settings:
        async with command_client(settings) as herald:
            created = await herald.send(
                CreateSchedule(
                    command_id=uuid4(), tenant_id="acme", schedule_id="acme-minutely", spec=spec
                )
            )
        first = created.next_run_at
        assert first is not None
        assert first.second == first.microsecond == 0
        run_id = fired_run_id(ScheduleRef("acme", "acme-minutely"), first)
        # Fired for real at the minute, and the next firing stored a minute later.
        slots = SlotStore(db)
        shard = shard_of("acme/acme-minutely")
        second = first + timedelta(minutes=1)

        async def next_firing() -> dict[str, Pending]:
            return {p.schedule_id: p for p in await slots.read(second, shard)}

        pending = await wait_until(next_firing, 100, "the next firing", 0.5)
        record = await wait_until(lambda: _delivered(db, run_id), 60, f"run {run_id}", 1.0)

    assert record.scheduled_for == first
    assert pending["acme-minutely"].due == second
    assert smtp_server.received("minutely@example.com") >= 1


@pytest.mark.timeout(300)
async def test_a_window_of_a_year_is_rendered_and_delivered(
    topics_ready: Settings, db: AsyncDatabase[Document], smtp_server: SmtpServer, log_dir: Path
) -> None:
    await demo.seed(db, tenant_id="acme", calls=3000, days=366, anchor=date.today())
    spec = _spec(
        "A year of calls",
        ["yearly@example.com"],
        frequency=Frequency.CUSTOM,
        cron="0 8 1 * *",
        window=DataWindowSpec(kind=WindowKind.LAST_DAYS, n=365),
        timezone="UTC",
    )
    async with _herald(topics_ready, log_dir, smtp_server) as settings:
        run_id = await _run_now(settings, "acme-year", spec)
        record = await wait_until(lambda: _delivered(db, run_id), 120, f"run {run_id}", 1.0)

    assert record.details is not None
    window = record.details.window
    assert window.end - window.start == timedelta(days=365)
    (delivery,) = smtp_server.deliveries
    parsed = email.message_from_bytes(delivery.content, policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    (attachment,) = parsed.iter_attachments()
    rows = attachment.get_content().splitlines()
    # A year of demo data: outbound and inbound campaigns, each table with its total.
    assert rows[:2] == ["Outbound", rows[1]]
    assert rows[1].startswith("Campaign,Dialed")
    assert "Inbound" in rows
    assert rows[-1].startswith("Total,")
    assert len(rows) > 6


@pytest.mark.timeout(300)
async def test_a_name_in_any_script_is_stored_and_mailed_intact_and_control_characters_refused(
    topics_ready: Settings, db: AsyncDatabase[Document], smtp_server: SmtpServer, log_dir: Path
) -> None:
    await demo.seed(db, tenant_id="acme", calls=200, days=3, anchor=date.today())
    async with _herald(topics_ready, log_dir, smtp_server) as settings:
        run_id = await _run_now(settings, "acme-unicode", _spec(UNICODE_NAME, ["u@example.com"]))
        await wait_until(lambda: _delivered(db, run_id), 90, f"run {run_id}", 1.0)
        refused: dict[str, set[str]] = {}
        for bad in ("bell\x07", "escape\x1b[31m", "cr\rlf\n", "nel\x85", "zero\x00"):
            spec = _spec("x", ["u@example.com"]).model_dump(mode="json") | {"name": bad}
            refused[bad] = await _rejected_fields(
                settings, {"schedule_id": "acme-control", "spec": spec}
            )

    stored = await db[SCHEDULES].find_one({"_id": "acme/acme-unicode"})
    assert stored is not None
    assert stored["spec"]["name"] == UNICODE_NAME
    (delivery,) = smtp_server.deliveries
    # The footer of the plain text part quotes the name as stored.
    assert f'Sent by the schedule "{UNICODE_NAME}"' in _body(delivery.content, "plain")
    assert f"Sent by the schedule &ldquo;{UNICODE_NAME}&rdquo;" in _body(delivery.content, "html")
    assert refused == {bad: {"spec.name"} for bad in refused}
    assert await db[SCHEDULES].find_one({"schedule_id": "acme-control"}) is None
