"""The allow-list at send time: settings tightened after a schedule was saved still hold.

The scheduler and renderer run without an allow-list, so the schedule with two
recipients is saved and fired; the mailer runs with `example.com` only. The
recipient off the list is refused for good with the reason and no SMTP
transaction (the test's server, which accepts anyone, never sees it); the
other is delivered as usual, and the mailer's log names the run and address.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.shared.contract.messages import RecipientOutcome, RunStatus
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import SecuritySettings, Settings
from tests.e2e.test_mail_delivery import _schedule, _status, _with_smtp
from tests.helpers import three_services, wait_until
from tests.smtp_server import SmtpServer, free_port

pytestmark = pytest.mark.e2e


async def test_a_recipient_off_the_mailers_list_is_refused_without_smtp(
    topics_ready: Settings, db: AsyncDatabase[Document], recipient: str, log_dir: Path
) -> None:
    await demo.seed(db, tenant_id="acme", calls=200, days=3, anchor=date.today())
    port = free_port()
    settings = _with_smtp(topics_ready, port)
    strict = settings.model_copy(
        update={"security": SecuritySettings(allowed_recipient_domains=["example.com"])}
    )
    outside = recipient.replace("@example.com", "@partner.example.net")
    server = SmtpServer(port=port).start()  # accepts every recipient
    try:
        async with three_services(settings, log_dir, mailer=strict) as services:
            run_id = await _schedule(settings, "acme-allow-list", [recipient, outside])
            record = await wait_until(
                lambda: _status(db, run_id, RunStatus.FAILED, RunStatus.DELIVERED), 90, "the run"
            )
    finally:
        server.stop()
    results = {r.address: r for r in record.recipients}
    assert results[recipient].outcome is RecipientOutcome.ACCEPTED
    refused = results[outside]
    assert refused.outcome is RecipientOutcome.REFUSED_PERMANENT
    assert refused.smtp_code is None
    reason = "domain partner.example.net is not on the allowed list for tenant acme"
    assert refused.smtp_message == reason
    assert record.status is RunStatus.FAILED
    assert record.attempt == 1  # permanent: not retried
    assert record.reason is not None
    assert outside in record.reason
    assert server.received(recipient) == 1
    assert server.received(outside) == 0
    assert not any(outside.encode() in d.content for d in server.deliveries)
    log = services[2].log()
    assert run_id in log
    assert f"{outside} not sent: {reason}" in log
