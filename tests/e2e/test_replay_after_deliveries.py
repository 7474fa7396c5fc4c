"""`herald replay --verify` after 200 real deliveries with retries and failures.

Forty schedules of five recipients run through the three services to a real
SMTP server (aiosmtpd). The server is down at first, so every run goes
`pending_retry` and is retried; eight recipients are refused with 550, so
their runs end `failed`. The history rebuilt from `delivery.status` then
equals the live one, and a tampered history document is reported exactly.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from typer.testing import CliRunner, Result

from herald.cli import demo
from herald.cli.main import app
from herald.cli.support import console
from herald.shared.contract.messages import RunStatus
from herald.shared.history import store as history_store
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import RetrySettings, Settings, SmtpSettings
from tests.helpers import daily_briefs_run_now, settings_env, three_services, wait_until
from tests.smtp_server import SmtpServer, free_port

pytestmark = pytest.mark.e2e

SCHEDULES, PER_SCHEDULE = 40, 5


async def _herald(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_replay_verifies_the_history_of_200_deliveries_and_finds_tampering(
    topics_ready: Settings,
    db: AsyncDatabase[Document],
    recipient: str,
    log_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    settings = topics_ready.model_copy(
        update={
            "smtp": SmtpSettings(host="127.0.0.1", port=port, timeout_s=5, pool_size=8),
            "retry": RetrySettings(base_s=2, cap_s=4, max_attempts=20, jitter=0),
        }
    )
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(console, "width", 200)
    await demo.seed(db, tenant_id="acme", calls=400, days=3, anchor=date.today())
    addresses = {
        n: [recipient.replace("@", f".{n:02d}.{k}@") for k in range(PER_SCHEDULE)]
        for n in range(SCHEDULES)
    }
    refused = {addresses[n][0] for n in range(0, SCHEDULES, 5)}  # 8 recipients, 8 runs
    server = SmtpServer(port=port, refuse=refused)  # down for now
    runs: list[str] = []
    try:
        async with three_services(settings, log_dir):
            runs = await daily_briefs_run_now(settings, list(addresses.values()))
            live = db[history_store.RUNS]

            async def all_retried() -> bool:
                # Not "all pending_retry at once": on a slow machine the runs
                # cycle through due/rendered and never all wait together.
                retried = await live.count_documents({"attempt": {"$gte": 2}})
                return retried == SCHEDULES

            await wait_until(all_retried, 120, "every run to be retried")
            server.start()

            async def all_final() -> bool:
                final = await live.count_documents(
                    {"status": {"$in": [RunStatus.DELIVERED.value, RunStatus.FAILED.value]}}
                )
                return final == SCHEDULES

            await wait_until(all_final, 180, "every run to end")
    finally:
        server.stop()

    delivered = [d.recipient for d in server.deliveries]
    assert len(delivered) == SCHEDULES * PER_SCHEDULE - len(refused)
    assert len(set(delivered)) == len(delivered)  # nobody twice
    statuses = [doc["status"] async for doc in live.find({}, {"status": 1})]
    assert (statuses.count("delivered"), statuses.count("failed")) == (32, 8)

    verified = await _herald("replay", "--verify")
    assert verified.exit_code == 0, verified.output
    assert f"checked {SCHEDULES} runs against the log: no difference" in verified.output

    genuine = await live.find_one({"_id": runs[1]})
    assert genuine is not None
    assert genuine["attempt"] >= 2  # it was retried
    await live.update_one({"_id": runs[1]}, {"$set": {"attempt": 7}})
    tampered = await _herald("replay", "--verify")
    assert tampered.exit_code == 1, tampered.output
    assert f"run {runs[1]}: attempt: live 7, replayed {genuine['attempt']}" in tampered.output
    assert f"checked {SCHEDULES} runs against the log: 1 difference(s)" in tampered.output

    # Stored before `details` and `recipients` were left out (they repeat the events):
    # not compared, and the record read is still the one its events give.
    older = {"attempt": genuine["attempt"], "details": None, "recipients": []}
    await live.update_one({"_id": runs[1]}, {"$set": older})
    before = await history_store.get_run(live, "acme", runs[1])
    assert before is not None
    assert before.recipients
    assert before.details is not None
    again = await _herald("replay", "--verify")
    assert again.exit_code == 0, again.output
