"""Tenants on one Herald: no command, history query or replay of one reaches another's data.

One scheduler process on real Kafka and FerretDB, with a recipient allow-list
for tenant `acme` only. Tenant `globex` tries every command on acme's
schedule, reads the history through the store's queries and the CLI, and
replays the audit log filtered to itself; acme's commands naming a domain
off its list are rejected at the recipient, and nothing is stored for them.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer
from pymongo.asynchronous.database import AsyncDatabase
from typer.testing import CliRunner, Result

from herald.cli.main import app
from herald.cli.support import console
from herald.client.commands import CommandRejectedError, HeraldClient
from herald.shared.contract.messages import (
    Command,
    CreateSchedule,
    DataWindow,
    DeleteSchedule,
    DeliveryStatus,
    DisableSchedule,
    EnableSchedule,
    RunDetails,
    RunNow,
    RunStatus,
    SendTestEmail,
    UpdateSchedule,
)
from herald.shared.contract.schedule_spec import (
    Frequency,
    ReportFormat,
    ReportRef,
    ScheduleChanges,
    ScheduleSpec,
)
from herald.shared.contract.topics import Topics
from herald.shared.history import store as history_store
from herald.shared.runtime.kafka import client_options
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import SecuritySettings, Settings
from tests.conftest import fresh_settings
from tests.helpers import read_topic, running_scheduler, settings_env, wait_until
from tests.infra import Endpoints

pytestmark = pytest.mark.integration

A, B = "acme", "globex"
SECURITY = SecuritySettings(tenant_allowed_recipient_domains={A: ["example.com"]})


@pytest.fixture(scope="module")
async def scheduler(
    infra: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    settings = fresh_settings(infra).model_copy(update={"security": SECURITY})
    async with running_scheduler(settings, tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.fixture
def cli(scheduler: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name, value in settings_env(scheduler).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(console, "width", 200)
    return CliRunner()


async def _herald(cli: CliRunner, *args: str) -> Result:
    """`herald ARGS...` in a thread: the CLI runs an event loop of its own."""
    return await asyncio.to_thread(cli.invoke, app, list(args))


def _spec(*recipients: str) -> ScheduleSpec:
    return ScheduleSpec(
        name="Brief",
        report=ReportRef(id="campaign_summary"),
        frequency=Frequency.DAILY,
        recipients=list(recipients or ["lead@example.com"]),
    )


async def _created(herald: HeraldClient, tenant: str) -> CreateSchedule:
    command = CreateSchedule(
        command_id=uuid4(), tenant_id=tenant, schedule_id=f"s-{uuid4().hex[:10]}", spec=_spec()
    )
    await herald.send(command)
    return command


async def _reasons(herald: HeraldClient, command: Command) -> dict[str, str]:
    with pytest.raises(CommandRejectedError) as caught:
        await herald.send(command)
    return {e.field: e.message for e in caught.value.errors}


async def _stored(
    sdb: AsyncDatabase[Document], schedule_id: str, tenant_id: str = A
) -> dict[str, Any]:
    doc = await sdb["schedules"].find_one({"_id": f"{tenant_id}/{schedule_id}"}, {"outbox": 0})
    assert doc is not None
    return {k: doc[k] for k in ("tenant_id", "version", "deleted", "spec", "next_run_at")}


# --- the allow-list at command time -------------------------------------------


async def test_recipients_off_the_tenants_list_are_rejected_by_position_and_nothing_is_stored(
    herald: HeraldClient, sdb: AsyncDatabase[Document]
) -> None:
    commands_before = await sdb["commands"].count_documents({})
    create = CreateSchedule(
        command_id=uuid4(),
        tenant_id=A,
        schedule_id=f"s-{uuid4().hex[:10]}",
        spec=_spec("lead@example.com", "ops@eu.example.com", "thief@evil.net"),
    )
    assert await _reasons(herald, create) == {
        "spec.recipients.2": f"domain evil.net is not on the allowed list for tenant {A}"
    }
    assert await sdb["schedules"].find_one({"schedule_id": create.schedule_id}) is None
    test_email = SendTestEmail(
        command_id=uuid4(), tenant_id=A, schedule_id="smtp-test", recipients=["x@gmail.com"]
    )
    assert list(await _reasons(herald, test_email)) == ["recipients.0"]
    assert await sdb["commands"].count_documents({}) == commands_before, "a rejection was stored"

    saved = await _created(herald, A)
    before = await _stored(sdb, saved.schedule_id)
    update = UpdateSchedule(
        command_id=uuid4(),
        tenant_id=A,
        schedule_id=saved.schedule_id,
        changes=ScheduleChanges(recipients=["thief@example.com.evil.net"]),
        expected_version=1,
    )
    reasons = await _reasons(herald, update)
    assert reasons == {
        "changes.recipients.0": f"domain example.com.evil.net is not on the allowed list "
        f"for tenant {A}"
    }
    assert await _stored(sdb, saved.schedule_id) == before
    # Another tenant is held to the global list, which is empty here: any domain.
    await herald.send(
        CreateSchedule(
            command_id=uuid4(),
            tenant_id=B,
            schedule_id=f"s-{uuid4().hex[:10]}",
            spec=_spec("x@evil.net"),
        )
    )


# --- commands across tenants --------------------------------------------------


async def test_no_command_of_another_tenant_touches_a_schedule(
    herald: HeraldClient, scheduler: Settings, sdb: AsyncDatabase[Document]
) -> None:
    created = await _created(herald, A)
    sid = created.schedule_id
    before = await _stored(sdb, sid)
    for command in (
        UpdateSchedule(
            command_id=uuid4(),
            tenant_id=B,
            schedule_id=sid,
            changes=ScheduleChanges(recipients=["thief@example.com"]),
            expected_version=1,
        ),
        EnableSchedule(command_id=uuid4(), tenant_id=B, schedule_id=sid),
        DisableSchedule(command_id=uuid4(), tenant_id=B, schedule_id=sid, expected_version=1),
        DeleteSchedule(command_id=uuid4(), tenant_id=B, schedule_id=sid),
        RunNow(command_id=uuid4(), tenant_id=B, schedule_id=sid),
    ):
        assert "not found" in (await _reasons(herald, command))["schedule_id"], command.type
    # Ids are the tenant's own: B may have a schedule of that id too, and learns nothing of A's.
    own = CreateSchedule(
        command_id=uuid4(), tenant_id=B, schedule_id=sid, spec=_spec("b-lead@example.com")
    )
    assert (await herald.send(own)).version == 1
    assert (await _stored(sdb, sid, B))["spec"]["recipients"] == ["b-lead@example.com"]
    # A's own command id, replayed under B: never A's answer, never applied.
    replayed = RunNow(tenant_id=B, schedule_id=sid, command_id=created.command_id)
    assert (await _reasons(herald, replayed)) == {"command_id": "command id already used"}

    assert await _stored(sdb, sid) == before
    topics = Topics(scheduler.kafka.topic_prefix)
    events = [json.loads(r.value) for r in await read_topic(scheduler, topics.schedule_events)]
    changes = [e for e in events if e["schedule_id"] == sid and e["type"] == "ScheduleChanged"]
    assert [(e["tenant_id"], e["change"]) for e in changes] == [(A, "created"), (B, "created")]
    due = [json.loads(r.value) for r in await read_topic(scheduler, topics.report_due)]
    assert not [d for d in due if d["schedule_id"] == sid], "another tenant fired the schedule"


# --- history and replay -------------------------------------------------------


def _events(tenant: str, schedule_id: str) -> list[DeliveryStatus]:
    """A run's due and delivered events, as the scheduler and the mailer publish them."""
    now = datetime.now(UTC).replace(microsecond=0)
    run = RunDetails(
        run_id=f"{schedule_id}@{now.isoformat()}",
        scheduled_for=now,
        schedule_name="Brief",
        report=ReportRef(id="campaign_summary"),
        window=DataWindow(start=now, end=now, timezone="UTC"),
        format=ReportFormat.CSV,
        recipients=[f"lead@{tenant}.example.com"],
    )
    common = {"tenant_id": tenant, "schedule_id": schedule_id, "run_id": run.run_id, "attempt": 1}
    return [
        DeliveryStatus(**common, status=RunStatus.DUE, stage="scheduler", run=run),
        DeliveryStatus(**common, status=RunStatus.DELIVERED, stage="mailer"),
    ]


@pytest.fixture
async def histories(
    herald: HeraldClient, scheduler: Settings, sdb: AsyncDatabase[Document]
) -> dict[str, tuple[str, str]]:
    """A schedule and a delivered run per tenant, projected by the scheduler itself."""
    made = {tenant: (await _created(herald, tenant)).schedule_id for tenant in (A, B)}
    events = {tenant: _events(tenant, sid) for tenant, sid in made.items()}
    producer = AIOKafkaProducer(**client_options(scheduler.kafka), acks="all")
    await producer.start()
    try:
        topic = Topics(scheduler.kafka.topic_prefix).delivery_status
        for event in (e for pair in events.values() for e in pair):
            await producer.send_and_wait(topic, event.model_dump_json().encode(), key=event.key())
    finally:
        await producer.stop()
    runs = sdb[history_store.RUNS]

    async def projected() -> bool:
        found = [await runs.find_one({"_id": pair[0].run_id}) for pair in events.values()]
        return all(doc is not None and doc["status"] == "delivered" for doc in found)

    await wait_until(projected, 30, "both tenants' runs in the history")
    return {tenant: (made[tenant], events[tenant][0].run_id) for tenant in (A, B)}


async def test_the_history_queries_show_a_tenant_only_its_own_runs(
    histories: dict[str, tuple[str, str]], sdb: AsyncDatabase[Document]
) -> None:
    (a_schedule, a_run), (b_schedule, b_run) = histories[A], histories[B]
    runs = sdb[history_store.RUNS]
    assert await history_store.get_run(runs, B, a_run) is None
    assert await history_store.get_run(runs, A, a_run) is not None
    assert await history_store.query_runs(runs, B, schedule_id=a_schedule) == []
    assert await history_store.query_runs(runs, A, schedule_id=b_schedule) == []
    seen_by_b = await history_store.query_runs(runs, B, limit=10_000)
    assert {r.tenant_id for r in seen_by_b} == {B}
    assert b_run in {r.run_id for r in seen_by_b}
    for status in RunStatus:
        assert all(r.tenant_id == B for r in await history_store.query_runs(runs, B, status=status))


async def test_the_cli_shows_a_tenant_only_its_own_schedules_and_runs(
    histories: dict[str, tuple[str, str]], cli: CliRunner
) -> None:
    (a_schedule, a_run), (b_schedule, b_run) = histories[A], histories[B]
    listed = await _herald(cli, "schedules", "list", "--tenant", B, "--json")
    assert listed.exit_code == 0, listed.output
    ids = {json.loads(line)["schedule_id"] for line in listed.output.splitlines()}
    assert b_schedule in ids
    assert a_schedule not in ids
    shown = await _herald(cli, "schedules", "show", a_schedule, "--tenant", B, "--json")
    assert shown.exit_code == 1
    assert f"no schedule {a_schedule!r} for tenant {B!r}" in shown.output
    history = await _herald(cli, "history", "--tenant", B, "--json", "--limit", "10000")
    assert history.exit_code == 0, history.output
    records = [json.loads(line) for line in history.output.splitlines()]
    assert {r["tenant_id"] for r in records} == {B}
    assert b_run in {r["run_id"] for r in records}
    assert a_run not in history.output
    mine = await _herald(cli, "history", "--tenant", B, "--schedule", a_schedule, "--json")
    assert mine.exit_code == 0
    assert mine.output.strip() == ""
    # Without --tenant, an operator's view: every tenant's runs, each named by its tenant.
    every = await _herald(cli, "history", "--json", "--limit", "10000")
    assert every.exit_code == 0, every.output
    both = {(r["tenant_id"], r["run_id"]) for r in map(json.loads, every.output.splitlines())}
    assert {(A, a_run), (B, b_run)} <= both
    table = await _herald(cli, "history", "--limit", "10000")
    assert table.exit_code == 0, table.output
    assert "tenant" in table.output


async def test_replay_filtered_to_a_tenant_holds_nothing_of_another(
    histories: dict[str, tuple[str, str]], cli: CliRunner, tmp_path: Path
) -> None:
    a_run, b_run = histories[A][1], histories[B][1]
    jsonl, table = tmp_path / "b.jsonl", tmp_path / "b.csv"
    for path in (jsonl, table):
        done = await _herald(cli, "replay", "--export", str(path), "--tenant", B)
        assert done.exit_code == 0, done.output
    events = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert {e["tenant_id"] for e in events} == {B}
    assert b_run in {e["run_id"] for e in events}
    rows = list(csv.DictReader(table.open(newline="")))
    assert {r["tenant_id"] for r in rows} == {B}
    for path in (jsonl, table):
        assert A not in path.read_text()
        assert a_run not in path.read_text()
    verified = await _herald(cli, "replay", "--verify", "--tenant", B)
    assert verified.exit_code == 0, verified.output
    b_runs = len({e["run_id"] for e in events})
    assert f"checked {b_runs:,} runs against the log: no difference" in verified.output
