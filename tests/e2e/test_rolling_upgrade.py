"""A rolling upgrade in the middle of a herd: nothing reaches the DLQ, every run is delivered.

The three services run as processes. While a herd of runs is under way, one
replica of each service is replaced (a second process started, the first
stopped), and messages written as a newer release would write them, an
unknown field in every object, go on every topic a service reads:
`ReportDue` (renderer), `ReportRendered` (mailer), `DeliveryStatus`
(scheduler) and `TenantSettings` (mailer and renderer, at start and while
running). The tolerant readers leave the new fields out (`tolerance.py`).
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.shared.contract.messages import RunStatus
from herald.shared.contract.topics import Topics
from herald.shared.history import store as history_store
from herald.shared.history.fold import RunRecord
from herald.shared.runtime.kafka import make_broker, publish_bodies
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.e2e.test_mail_delivery import _with_smtp
from tests.helpers import ServiceProcess, daily_briefs_run_now, read_topic, wait_until
from tests.smtp_server import SmtpServer, free_port

pytestmark = pytest.mark.e2e

SERVICES = ("scheduler", "renderer", "mailer")


def _newer(value: Any) -> Any:
    """As a newer release writes it: an optional field this release does not know, everywhere."""
    if isinstance(value, dict):
        return {k: _newer(v) for k, v in value.items()} | {"x_added_later": {"since": "v2"}}
    if isinstance(value, list):
        return [_newer(v) for v in value]
    return value


async def _delivered(db: AsyncDatabase[Document], run_id: str) -> RunRecord | None:
    record = await history_store.get_run(db[history_store.RUNS], "acme", run_id)
    return record if record is not None and record.status is RunStatus.DELIVERED else None


async def _herd(settings: Settings, prefix: str, count: int) -> list[str]:
    """`count` daily briefs, each run now, each to an address of its own; their run ids."""
    to = [[f"{prefix}{n}-{uuid.uuid4().hex[:6]}@example.com"] for n in range(count)]
    return await daily_briefs_run_now(settings, to, prefix)


def _due_status(message: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The `due` DeliveryStatus the scheduler would have written for an injected run."""
    run = message["run"] | {"run_id": run_id}
    return {
        "type": "DeliveryStatus",
        "event_id": str(uuid.uuid4()),
        "occurred_at": message["occurred_at"],
        "tenant_id": message["tenant_id"],
        "schedule_id": message["schedule_id"],
        "schema_version": 1,
        "run_id": run_id,
        "attempt": 1,
        "status": "due",
        "stage": "scheduler",
        "scheduled_for": run["scheduled_for"],
        "run": run,
    }


@pytest.mark.timeout(300)
async def test_replicas_replaced_mid_herd_and_newer_messages_leave_nothing_in_the_dlq(
    topics_ready: Settings, db: AsyncDatabase[Document], tmp_path: Path
) -> None:
    await demo.seed(db, tenant_id="acme", calls=200, days=3, anchor=date.today())
    port = free_port()
    settings = _with_smtp(topics_ready, port)
    topics = Topics(settings.kafka.topic_prefix)
    server = SmtpServer(port=port).start()
    broker = make_broker(settings, "tests")
    await broker.start()
    newer_settings = _newer(
        {
            "type": "TenantSettings",
            "event_id": str(uuid.uuid4()),
            "occurred_at": "2026-12-05T00:00:00Z",
            "tenant_id": "globex",
            "schedule_id": "tenant-settings",
            "schema_version": 1,
            "version": 1,
            "default_timezone": "Europe/Paris",
        }
    )
    # Read at start by every mailer and renderer: the new fields must not stop them.
    await publish_bodies(broker, [(topics.tenant_settings, "globex", json.dumps(newer_settings))])
    old = {name: ServiceProcess(name, settings, tmp_path) for name in SERVICES}
    new: dict[str, ServiceProcess] = {}
    try:
        for service in old.values():
            await service.wait_started()
        first = await _herd(settings, "first", 6)
        # Mid-herd: a new replica of each service joins, then the old one leaves.
        for name in SERVICES:
            new[name] = ServiceProcess(name, settings, tmp_path)
            await new[name].wait_started()
        due = json.loads((await read_topic(settings, topics.report_due))[0].value or b"{}")
        await wait_until(lambda: _delivered(db, first[0]), 120, "the herd's first run")
        rendered_records = await read_topic(settings, topics.report_rendered)
        rendered = json.loads(rendered_records[0].value or b"{}")
        injected_due = f"{due['schedule_id']}@manual-{uuid.uuid4()}"
        injected_rendered = f"{rendered['schedule_id']}@manual-{uuid.uuid4()}"
        await publish_bodies(
            broker,
            [
                (topics.delivery_status, due["schedule_id"], json.dumps(_newer(status)))
                for status in (
                    _due_status(due, injected_due),
                    _due_status(rendered, injected_rendered),
                )
            ]
            + [
                (
                    topics.report_due,
                    due["schedule_id"],
                    json.dumps(_newer(due | {"run": due["run"] | {"run_id": injected_due}})),
                ),
                (
                    topics.report_rendered,
                    rendered["schedule_id"],
                    json.dumps(
                        _newer(rendered | {"run": rendered["run"] | {"run_id": injected_rendered}})
                    ),
                ),
                (topics.tenant_settings, "globex", json.dumps(newer_settings | {"version": 2})),
            ],
        )
        for name in SERVICES:
            old[name].stop()
        rest = await _herd(settings, "rest", 6)
        for run_id in [*first, *rest, injected_due, injected_rendered]:
            await wait_until(lambda r=run_id: _delivered(db, r), 120, f"run {run_id} delivered")
    finally:
        await broker.stop()
        for service in [*old.values(), *new.values()]:
            service.stop()
        server.stop()
    dead = await read_topic(settings, topics.dlq)
    assert dead == [], [record.headers for record in dead]
    assert len(server.deliveries) >= 14  # 12 herd runs and the 2 injected ones
