"""The mailer's use case on in-memory fakes: what is sent, what the ledger keeps, what is reported.

The same promises run against Mailpit and FerretDB in `tests/e2e/test_mail_delivery.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from herald.services.mailer.delivery import Delivery
from herald.services.mailer.outbound import SameForAll
from herald.services.mailer.ports import Outbound
from herald.services.mailer.store import send_id
from herald.shared.contract.messages import (
    ArtifactRef,
    DeliveryStatus,
    HeadlineTile,
    InlineImage,
    RecipientOutcome,
    ReportRendered,
    RunStatus,
    Tone,
    utcnow,
)
from herald.shared.contract.schedule_spec import ReportFormat
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runtime.metrics import REGISTRY
from herald.shared.runtime.settings import BrandingSettings, RetrySettings
from tests.fakes.artifacts import MemoryArtifacts
from tests.fakes.mailer import LOST_MESSAGE, Clock, MemoryLedger, Reply, ScriptedSmtp
from tests.samples import report_rendered, run_details

LEASE = timedelta(seconds=70)
FROM = "Herald Reports <reports@herald.example>"
BRANDING = BrandingSettings(platform_base_url="https://platform.example")
CSV = b"agent,calls\r\na-1,12\r\n"
FULL_CSV = b"agent,calls\r\na-1,12\r\na-2,7\r\n"
ACME_ONLY = RecipientPolicy.of(["acme.example"], {})


@dataclass
class Fakes:
    clock: Clock = field(default_factory=Clock)
    smtp: ScriptedSmtp = field(default_factory=ScriptedSmtp)
    artifacts: MemoryArtifacts = field(default_factory=MemoryArtifacts)
    policy: RecipientPolicy = field(default_factory=RecipientPolicy)
    ledger: MemoryLedger = field(init=False)

    def __post_init__(self) -> None:
        self.ledger = MemoryLedger(LEASE, self.clock)

    async def deliver(self, rendered: ReportRendered) -> DeliveryStatus:
        delivery = Delivery(
            ledger=self.ledger,
            outbounds=SameForAll(Outbound(self.smtp, FROM, BRANDING)),
            artifacts=self.artifacts,
            retry=RetrySettings(),
            policy=self.policy,
        )
        return await delivery.deliver(rendered)

    async def store(self, artifact_id: str, filename: str, content_type: str, data: bytes) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield data

        await self.artifacts.put(artifact_id, filename, content_type, chunks(), {})

    async def csv_run(
        self, *recipients: str, run_id: str = "s-1@2026-11-27T08:00:00+00:00", **changes: Any
    ) -> ReportRendered:
        """A CSV run due now (so a transient failure is retried), its file stored."""
        run = run_details(run_id=run_id, scheduled_for=utcnow(), recipients=list(recipients))
        rendered = report_rendered(run, size=len(CSV), **changes)
        await self.store(rendered.artifact_id, rendered.filename, rendered.content_type, CSV)
        return rendered

    async def html_run(self, recipient: str, **changes: Any) -> ReportRendered:
        """An HTML run whose table goes in the body, its full data as a CSV companion."""
        run = run_details(scheduled_for=utcnow(), recipients=[recipient], format=ReportFormat.HTML)
        table = f"{run.run_id}/html"
        full = f"{run.run_id}/full.csv"
        await self.store(table, "brief.html", "text/html", b"<table><td>a-1</td></table>")
        await self.store(full, "brief-full.csv", "text/csv", FULL_CSV)
        companion = ArtifactRef(
            artifact_id=full,
            filename="brief-full.csv",
            content_type="text/csv",
            size=len(FULL_CSV),
            sha256="0" * 64,
        )
        return report_rendered(
            run,
            artifact_id=table,
            filename="brief.html",
            content_type="text/html",
            html_artifact_id=table,
            companions=[companion],
            **changes,
        )


def _emails(result: str, code: str) -> float:
    return (
        REGISTRY.get_sample_value("herald_emails_total", {"result": result, "smtp_code": code}) or 0
    )


def _reply_unknown() -> float:
    return REGISTRY.get_sample_value("herald_emails_reply_unknown_total") or 0


def _outcomes(status: DeliveryStatus) -> dict[str, RecipientOutcome]:
    return {r.address: r.outcome for r in status.recipients}


async def test_every_recipient_accepted_is_delivered_and_recorded() -> None:
    fakes = Fakes()
    rendered = await fakes.csv_run("ops@acme.example", "cfo@acme.example")
    accepted_before = _emails("accepted", "250")

    status = await fakes.deliver(rendered)

    assert status.status is RunStatus.DELIVERED
    assert status.artifact_id == rendered.artifact_id
    assert _outcomes(status) == {
        "ops@acme.example": RecipientOutcome.ACCEPTED,
        "cfo@acme.example": RecipientOutcome.ACCEPTED,
    }
    sent = {s.recipient: s for s in fakes.smtp.delivered}
    assert sorted(sent) == ["cfo@acme.example", "ops@acme.example"]
    for recipient, one in sent.items():
        assert one.sender == "reports@herald.example"
        assert one.message()["To"] == recipient
        assert one.message()["X-Herald-Run-ID"] == rendered.run.run_id
    assert {fakes.ledger.state(rendered.run.run_id, r) for r in sent} == {"accepted"}
    assert _emails("accepted", "250") == accepted_before + 2


async def test_a_repeated_report_rendered_is_answered_by_the_ledger_not_sent_again() -> None:
    fakes = Fakes(smtp=ScriptedSmtp({"cfo@acme.example": Reply.REFUSE_TRANSIENT}))
    rendered = await fakes.csv_run("ops@acme.example", "cfo@acme.example")
    first = await fakes.deliver(rendered)
    assert first.status is RunStatus.PENDING_RETRY
    fakes.smtp.script.clear()

    again = await fakes.deliver(rendered)

    assert again.status is RunStatus.DELIVERED
    assert fakes.smtp.transactions.count("ops@acme.example") == 1
    assert fakes.smtp.sent_to().count("ops@acme.example") == 1
    assert sorted(fakes.smtp.sent_to()) == ["cfo@acme.example", "ops@acme.example"]
    ops = [r for r in again.recipients if r.address == "ops@acme.example"]
    assert ops == [r for r in first.recipients if r.address == "ops@acme.example"]


async def test_a_permanent_refusal_fails_the_run_and_releases_the_claim() -> None:
    fakes = Fakes(smtp=ScriptedSmtp({"gone@acme.example": Reply.REFUSE_PERMANENT}))
    rendered = await fakes.csv_run("gone@acme.example")

    status = await fakes.deliver(rendered)

    assert status.status is RunStatus.FAILED
    assert status.next_attempt_at is None
    assert status.reason == "gone@acme.example: 550 mailbox unavailable"
    assert _outcomes(status) == {"gone@acme.example": RecipientOutcome.REFUSED_PERMANENT}
    assert fakes.smtp.delivered == []
    assert fakes.ledger.state(rendered.run.run_id, "gone@acme.example") is None


async def test_a_transient_refusal_is_retried_and_the_next_delivery_sends() -> None:
    fakes = Fakes(smtp=ScriptedSmtp({"ops@acme.example": Reply.REFUSE_TRANSIENT}))
    rendered = await fakes.csv_run("ops@acme.example")

    status = await fakes.deliver(rendered)

    assert status.status is RunStatus.PENDING_RETRY
    assert status.next_attempt_at is not None
    assert status.next_attempt_at > utcnow()
    assert status.reason == "ops@acme.example: 451 try again later"
    assert fakes.smtp.delivered == []
    assert fakes.ledger.state(rendered.run.run_id, "ops@acme.example") is None

    fakes.smtp.script.clear()
    retried = await fakes.deliver(rendered)
    assert retried.status is RunStatus.DELIVERED
    assert fakes.smtp.sent_to() == ["ops@acme.example"]


async def test_a_claim_held_by_a_live_delivery_is_left_to_it() -> None:
    fakes = Fakes()
    rendered = await fakes.csv_run("ops@acme.example")
    run_id = rendered.run.run_id
    await fakes.ledger.claim(run_id, "acme", "ops@acme.example")  # another mailer, sending now
    fakes.clock.advance(LEASE - timedelta(seconds=1))

    status = await fakes.deliver(rendered)

    assert status.status is RunStatus.PENDING_RETRY
    [result] = status.recipients
    assert result.outcome is RecipientOutcome.REFUSED_TRANSIENT
    assert result.smtp_message == "another delivery of this run is sending it"
    assert fakes.smtp.abandoned == ["ops@acme.example"]
    assert fakes.smtp.delivered == []
    assert fakes.ledger.state(run_id, "ops@acme.example") == "sending"  # the other one's claim


async def test_an_expired_claim_is_taken_over_and_sent_again_as_reply_unknown() -> None:
    fakes = Fakes()
    rendered = await fakes.csv_run("ops@acme.example")
    run_id = rendered.run.run_id
    await fakes.ledger.claim(run_id, "acme", "ops@acme.example")  # a mailer that then died
    fakes.clock.advance(LEASE)
    unknown_before = _reply_unknown()

    status = await fakes.deliver(rendered)

    assert status.status is RunStatus.DELIVERED
    assert fakes.smtp.sent_to() == ["ops@acme.example"]
    assert _reply_unknown() == unknown_before + 1
    assert fakes.ledger.state(run_id, "ops@acme.example") == "accepted"
    assert fakes.ledger.claims[send_id(run_id, "ops@acme.example")].claimed_at == fakes.clock.now


async def test_a_reply_lost_after_the_data_releases_the_claim_for_the_next_delivery() -> None:
    fakes = Fakes(smtp=ScriptedSmtp({"ops@acme.example": Reply.LOSE_AFTER_DATA}))
    rendered = await fakes.csv_run("ops@acme.example")

    status = await fakes.deliver(rendered)

    assert status.status is RunStatus.PENDING_RETRY
    assert [r.smtp_message for r in status.recipients] == [LOST_MESSAGE]
    assert fakes.ledger.state(rendered.run.run_id, "ops@acme.example") is None
    fakes.smtp.script.clear()
    assert (await fakes.deliver(rendered)).status is RunStatus.DELIVERED
    assert fakes.smtp.sent_to() == ["ops@acme.example", "ops@acme.example"]


async def test_a_recipient_the_allow_list_forbids_is_refused_without_a_transaction() -> None:
    fakes = Fakes(policy=ACME_ONLY)
    rendered = await fakes.csv_run("ops@acme.example", "spy@elsewhere.example")
    refused_before = _emails("refused_permanent", "-")

    status = await fakes.deliver(rendered)

    assert status.status is RunStatus.FAILED
    assert [r.address for r in status.recipients] == ["ops@acme.example", "spy@elsewhere.example"]
    spy = status.recipients[1]
    assert spy.outcome is RecipientOutcome.REFUSED_PERMANENT
    assert spy.smtp_message == "domain elsewhere.example is not on the allowed list for tenant acme"
    assert fakes.smtp.transactions == ["ops@acme.example"]
    assert fakes.ledger.state(rendered.run.run_id, "spy@elsewhere.example") is None
    assert _emails("refused_permanent", "-") == refused_before + 1


async def test_files_within_the_limit_are_attached() -> None:
    fakes = Fakes()
    rendered = await fakes.csv_run("ops@acme.example")

    await fakes.deliver(rendered)

    [sent] = fakes.smtp.delivered
    attached = [
        (a.get_filename(), a.get_payload(decode=True)) for a in sent.message().iter_attachments()
    ]
    assert attached == [(rendered.filename, CSV)]


async def test_files_too_large_to_attach_are_linked_and_not_read() -> None:
    fakes = Fakes()
    rendered = await fakes.csv_run("ops@acme.example", too_large_to_attach=True)

    await fakes.deliver(rendered)

    [sent] = fakes.smtp.delivered
    message = sent.message()
    assert list(message.iter_attachments()) == []
    text = message.get_body(("plain",))
    assert text is not None
    assert BRANDING.artifact_url(rendered.artifact_id) in text.get_content()
    assert fakes.artifacts.reads == 0


async def test_an_html_run_has_its_table_in_the_body_and_its_full_data_attached() -> None:
    fakes = Fakes()
    rendered = await fakes.html_run("ops@acme.example")

    await fakes.deliver(rendered)

    [sent] = fakes.smtp.delivered
    message = sent.message()
    html = message.get_body(("html",))
    assert html is not None
    assert "<table><td>a-1</td></table>" in html.get_content()
    attached = [(a.get_filename(), a.get_payload(decode=True)) for a in message.iter_attachments()]
    assert attached == [("brief-full.csv", FULL_CSV)]


async def test_an_html_runs_charts_are_related_parts_and_its_tiles_head_the_body() -> None:
    fakes = Fakes()
    png = b"\x89PNG\r\n\x1a\nchart"
    chart_id = "s-1@2026-11-27T08:00:00+00:00/chart-1.png"
    await fakes.store(chart_id, "chart-1.png", "image/png", png)
    image = InlineImage(
        artifact_id=chart_id,
        filename="chart-1.png",
        content_type="image/png",
        size=len(png),
        sha256="0" * 64,
        cid="chart-0@herald",
        alt="Calls per day",
    )
    tile = HeadlineTile(label="Sales", value="6", previous="1", change="+500.0 %", tone=Tone.GOOD)
    rendered = await fakes.html_run("ops@acme.example", images=[image], headlines=[tile])

    await fakes.deliver(rendered)

    [sent] = fakes.smtp.delivered
    message = sent.message()
    related = [p for p in message.walk() if p.get("Content-ID") == "<chart-0@herald>"]
    assert [p.get_payload(decode=True) for p in related] == [png]
    # The chart is shown in the body, not offered as a file.
    assert [a.get_filename() for a in message.iter_attachments()] == ["brief-full.csv"]
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    assert html is not None
    assert text is not None
    assert "+500.0 %" in html.get_content()
    assert "Sales: 6" in text.get_content()


async def test_a_redelivery_of_an_accepted_run_costs_one_ledger_read_and_no_email() -> None:
    fakes = Fakes()
    rendered = await fakes.csv_run("ops@acme.example", "cfo@acme.example", "dev@acme.example")
    first = await fakes.deliver(rendered)
    reads, files = fakes.ledger.reads, fakes.artifacts.reads

    again = await fakes.deliver(rendered)

    assert again.status is RunStatus.DELIVERED
    assert again.recipients == first.recipients
    assert fakes.ledger.reads == reads + 1
    assert fakes.artifacts.reads == files  # nothing to send, nothing composed
    assert len(fakes.smtp.transactions) == 3


async def test_runs_delivered_at_once_each_send_their_own_recipients_once() -> None:
    """The mailer's subscriber delivers many runs concurrently on one ledger and one sender."""
    fakes = Fakes(smtp=ScriptedSmtp({"r1@acme.example": Reply.REFUSE_TRANSIENT}))
    recipients = [f"r{n}@acme.example" for n in range(3)]
    runs = [await fakes.csv_run(*recipients, run_id=f"s-{n}@2026-11-27") for n in range(5)]

    statuses = await asyncio.gather(*(fakes.deliver(rendered) for rendered in runs))

    assert {s.status for s in statuses} == {RunStatus.PENDING_RETRY}
    assert sorted(fakes.smtp.sent_to()) == sorted(["r0@acme.example", "r2@acme.example"] * 5)
    for rendered in runs:
        run_id = rendered.run.run_id
        states = [fakes.ledger.state(run_id, r) for r in recipients]
        assert states == ["accepted", None, "accepted"]
