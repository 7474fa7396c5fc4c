"""A mailer killed with many runs in flight: none is lost, nobody gets a second copy unexplained.

Forty runs of three recipients go to a slow SMTP server (a second per
message), so the mailer holds sixteen runs at once. It is killed (SIGKILL,
no grace) in the middle; a new mailer reads the uncommitted batch again. Every
recipient gets the email, every run ends delivered, and each copy beyond the
first is one the new mailer counted as `reply unknown` (a claim the dead one
left between its end of data and the reply's record).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.shared.contract.messages import RunStatus
from herald.shared.history import store as history_store
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import MailerSettings, RetrySettings, Settings, SmtpSettings
from tests.helpers import ServiceProcess, daily_briefs_run_now, ops_get, wait_until
from tests.smtp_server import SmtpServer, free_port

pytestmark = pytest.mark.e2e

RUNS, PER_RUN, CONCURRENCY = 40, 3, 16


def _in_flight(mailer: ServiceProcess) -> float:
    status, body = ops_get(mailer.ops_port, "/metrics")
    found = re.search(r"^herald_messages_in_flight (\S+)$", body, re.MULTILINE)
    return float(found.group(1)) if status == 200 and found else 0.0


async def test_a_mailer_killed_with_many_runs_in_flight_loses_none(
    topics_ready: Settings,
    db: AsyncDatabase[Document],
    recipient: str,
    log_dir: Path,
) -> None:
    port = free_port()
    settings = topics_ready.model_copy(
        update={
            "smtp": SmtpSettings(host="127.0.0.1", port=port, timeout_s=3, pool_size=8),
            "retry": RetrySettings(base_s=2, cap_s=4, max_attempts=30, jitter=0),
            "mailer": MailerSettings(concurrency=CONCURRENCY),
        }
    )
    await demo.seed(db, tenant_id="acme", calls=200, days=2, anchor=date.today())
    addresses = [
        recipient.replace("@", f".{n:02d}.{k}@") for n in range(RUNS) for k in range(PER_RUN)
    ]
    server = SmtpServer(port=port, delay_s=1.0).start()
    services = [ServiceProcess(name, settings, log_dir) for name in ("scheduler", "renderer")]
    first = ServiceProcess("mailer", settings, log_dir)
    second: ServiceProcess | None = None
    try:
        for service in (*services, first):
            await service.wait_started()
        await daily_briefs_run_now(
            settings, [addresses[n * PER_RUN : (n + 1) * PER_RUN] for n in range(RUNS)]
        )

        async def busy() -> bool:
            return len(server.deliveries) >= 1 and _in_flight(first) >= CONCURRENCY / 2

        await wait_until(busy, 120, "the mailer to hold many runs at once", interval_s=0.05)
        held = _in_flight(first)
        first.kill()
        sent_before = len(server.deliveries)
        assert sent_before < len(addresses) / 2, "killed too late to leave runs in flight"
        second = ServiceProcess("mailer", settings, log_dir)
        await second.wait_started()
        live = db[history_store.RUNS]

        async def all_delivered() -> bool:
            done = await live.count_documents({"status": RunStatus.DELIVERED.value})
            return done == RUNS

        await wait_until(all_delivered, 180, "every run to be delivered after the crash")
    finally:
        for service in (*services, first, second):
            if service is not None:
                service.stop()
        server.stop()

    received = Counter(d.recipient for d in server.deliveries)
    assert set(received) == set(addresses), "an email was lost"
    copies = sum(received.values()) - len(addresses)
    reply_unknown = second.log().count("reply unknown")
    assert copies <= reply_unknown, (copies, reply_unknown)
    print(
        f"in flight at the kill: {held:.0f} runs; emails before it: {sent_before}; "
        f"second copies: {copies}, reply-unknown cases counted: {reply_unknown}"
    )
