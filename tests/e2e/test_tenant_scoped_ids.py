"""Schedule ids are the tenant's own: two tenants, one id, kept apart end to end.

The commands are written by hand as JSON, as a platform in another language
writes them from `docs/asyncapi.yaml`, and sent with a plain Kafka producer
keyed by the schedule id, in snappy-compressed batches. Both tenants' runs are
delivered, and stay apart in the history, the CLI and `herald replay`.
"""

from __future__ import annotations

import csv
import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.shared.contract.messages import RunStatus
from herald.shared.contract.topics import Topics
from herald.shared.history import store as history_store
from herald.shared.history.fold import RunRecord
from herald.shared.runtime.kafka import client_options
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.helpers import Mailpit, off_hours_time, read_topic, run_cli, three_services, wait_until

pytestmark = pytest.mark.e2e

SCHEDULE = "daily-brief"
TENANTS = ("northwind", "contoso")
BERLIN = "Europe/Berlin"


def _create(tenant: str, recipient: str) -> dict[str, Any]:
    return {
        "type": "CreateSchedule",
        "command_id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "schedule_id": SCHEDULE,
        "spec": {
            "name": f"{tenant.title()} brief",
            "report": {"kind": "standard", "id": "campaign_summary"},
            "frequency": "daily",
            # Twelve hours away: the test counts one run and one email per tenant.
            "time_of_day": off_hours_time(BERLIN).isoformat(),
            "timezone": BERLIN,
            "recipients": [recipient],
            "format": "csv",
        },
    }


def _run_now(tenant: str) -> dict[str, Any]:
    return {
        "type": "RunNow",
        "command_id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "schedule_id": SCHEDULE,
    }


async def _replies(settings: Settings, sent: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The replies to the commands sent, by command id (matched on the payload's)."""
    wanted = {c["command_id"] for c in sent}
    topic = Topics(settings.kafka.topic_prefix).schedule_events

    async def answered() -> dict[str, dict[str, Any]] | None:
        events = [json.loads(r.value or b"{}") for r in await read_topic(settings, topic)]
        found = {
            e["command_id"]: e
            for e in events
            if e["type"] in ("CommandAccepted", "CommandRejected") and e["command_id"] in wanted
        }
        return found if found.keys() == wanted else None

    return await wait_until(answered, 60, "the replies to the hand-written commands")


async def test_two_tenants_share_a_schedule_id_and_are_kept_apart(
    topics_ready: Settings,
    db: AsyncDatabase[Document],
    mailpit: Mailpit,
    recipient: str,
    log_dir: Path,
    tmp_path: Path,
) -> None:
    settings = topics_ready
    topics = Topics(settings.kafka.topic_prefix)
    to = {tenant: recipient.replace("@", f".{tenant}@") for tenant in TENANTS}
    for tenant in TENANTS:
        await demo.seed(db, tenant_id=tenant, calls=300, days=3, anchor=date.today())
    async with three_services(settings, log_dir):
        # Compressed as other languages' clients compress by default (franz-go: snappy).
        producer = AIOKafkaProducer(
            **client_options(settings.kafka), acks="all", compression_type="snappy"
        )
        await producer.start()
        try:
            creates = [_create(tenant, to[tenant]) for tenant in TENANTS]
            runs = [_run_now(tenant) for tenant in TENANTS]
            for command in (*creates, *runs):
                await producer.send_and_wait(
                    topics.commands, json.dumps(command).encode(), key=SCHEDULE.encode()
                )
        finally:
            await producer.stop()
        replies = await _replies(settings, [*creates, *runs])
        for command in (*creates, *runs):
            reply = replies[command["command_id"]]
            assert reply["type"] == "CommandAccepted", reply
            assert (reply["tenant_id"], reply["schedule_id"]) == (command["tenant_id"], SCHEDULE)
        run_of = {r["tenant_id"]: replies[r["command_id"]]["run_id"] for r in runs}
        assert run_of["northwind"] != run_of["contoso"]

        history = db[history_store.RUNS]

        async def both_delivered() -> dict[str, RunRecord] | None:
            found = {t: await history_store.get_run(history, t, run_of[t]) for t in TENANTS}
            done = all(r is not None and r.status is RunStatus.DELIVERED for r in found.values())
            return {t: r for t, r in found.items() if r is not None} if done else None

        records = await wait_until(both_delivered, 120, "both tenants' runs to be delivered")

    for tenant, other in (TENANTS, TENANTS[::-1]):
        record = records[tenant]
        assert (record.tenant_id, record.schedule_id) == (tenant, SCHEDULE)
        assert [r.address for r in record.recipients] == [to[tenant]]
        assert await history_store.get_run(history, other, run_of[tenant]) is None
        listed = await history_store.query_runs(history, tenant, schedule_id=SCHEDULE)
        assert [r.run_id for r in listed] == [run_of[tenant]]
        (email,) = mailpit.to(to[tenant])
        assert "Campaign Summary" in email["Subject"]

        shown = await run_cli(settings, "schedules", "show", SCHEDULE, "--tenant", tenant, "--json")
        assert shown.exit_code == 0, shown.output
        assert f"{tenant.title()} brief" in shown.output
        assert to[other] not in shown.output

    verified = await run_cli(settings, "replay", "--verify")
    assert verified.exit_code == 0, verified.output
    assert "no difference" in verified.output
    exported = tmp_path / "contoso.csv"
    done = await run_cli(settings, "replay", "--export", str(exported), "--tenant", "contoso")
    assert done.exit_code == 0, done.output
    with exported.open(newline="") as rows:
        events = list(csv.DictReader(rows))
    assert {(e["tenant_id"], e["run_id"]) for e in events} == {("contoso", run_of["contoso"])}
    rebuilt = await run_cli(settings, "replay", "--into", "runs_audit")
    assert rebuilt.exit_code == 0, rebuilt.output
    audit = {doc["_id"]: doc["tenant_id"] async for doc in db["runs_audit"].find({})}
    assert audit == {run_of[t]: t for t in TENANTS}
