"""The `herald` CLI against the real services: schedules, the SMTP test, replay, and the errors.

Commands go through Kafka to a real scheduler (and renderer and mailer where
a run must be delivered), reads go to FerretDB, mail to Mailpit or to a test
SMTP server that refuses an address. The CLI runs in-process (typer's
CliRunner) in a thread, with the test's settings in the environment.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import json
import logging
import os
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from typer.testing import CliRunner, Result

from herald.cli import demo
from herald.cli.main import app
from herald.cli.support import console
from herald.services.scheduler.firing import run_details
from herald.shared.contract.messages import (
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
    RunStatus,
)
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.history import store as history_store
from herald.shared.runtime.kafka import publish_many
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.service import build_runtime
from herald.shared.runtime.settings import Settings
from tests.helpers import Mailpit, ServiceProcess, off_hours_time, settings_env, wait_until
from tests.smtp_server import SmtpServer, free_port

pytestmark = pytest.mark.e2e


class Herald:
    """`herald ARGS...`, run in a thread: the CLI starts an event loop of its own."""

    def __init__(self) -> None:
        self._runner = CliRunner()

    async def __call__(self, *args: str) -> Result:
        return await asyncio.to_thread(self._runner.invoke, app, list(args))


@pytest.fixture
def herald(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Herald:
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(console, "width", 200)  # tables unwrapped, as on a wide terminal
    return Herald()


async def _start(*services: ServiceProcess) -> None:
    await asyncio.gather(*(service.wait_started() for service in services))


def test_every_command_has_help_with_an_example() -> None:
    commands = [
        *(
            ["schedules", name]
            for name in ("create", "update", "enable", "disable", "delete", "run-now")
        ),
        ["schedules", "list"],
        ["schedules", "show"],
        ["smtp", "test"],
        ["tenants", "volume"],
        ["replay"],
        ["history"],
    ]
    runner = CliRunner()
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        assert f"Example: herald {' '.join(command)}" in result.output, command


async def test_schedule_commands_run_now_and_the_smtp_test(
    topics_ready: Settings,
    db: AsyncDatabase[Document],
    mailpit: Mailpit,
    recipient: str,
    log_dir: Path,
    tmp_path: Path,
    herald: Herald,
) -> None:
    settings = topics_ready
    await demo.seed(db, tenant_id="acme", calls=300, days=3, anchor=date.today())
    scheduler, renderer, mailer = (
        ServiceProcess(name, settings, log_dir) for name in ("scheduler", "renderer", "mailer")
    )
    refusing = SmtpServer(refuse={"nobody@example.com"}).start()
    smtp = settings.smtp.model_copy(update={"host": "127.0.0.1", "port": refusing.port})
    refused_mailer: ServiceProcess | None = None
    try:
        await _start(scheduler, renderer, mailer)
        tenant = ("--tenant", "acme")
        # Times of day twelve hours away, so the brief's own firing never joins its run-now.
        first = off_hours_time("Europe/Paris")
        later = f"{off_hours_time('Europe/Paris', datetime.now(UTC) + timedelta(minutes=30)):%H:%M}"

        created = await herald(
            "schedules", "create", "brief", *tenant, "--name", "Morning Brief",
            "--report", "campaign_summary", "--frequency", "daily", "--time", f"{first:%H:%M}",
            "--timezone", "Europe/Paris", "--to", recipient, "--format", "csv",
        )  # fmt: skip
        assert created.exit_code == 0, created.output
        assert "created brief (version 1), next run" in created.output
        spec_file = tmp_path / "weekly.json"
        weekly = {
            "name": "Weekly",
            "report": {"id": "agent_performance"},
            "frequency": "weekly",
            "weekday": 0,
            "recipients": [recipient],
        }
        spec_file.write_text(json.dumps(weekly))
        from_file = await herald(
            "schedules", "create", "weekly", *tenant, "--file", str(spec_file), "--format", "html"
        )
        assert from_file.exit_code == 0, from_file.output

        # Rejections: by the scheduler (it owns ids and versions) and before sending (fields).
        again = await herald("schedules", "create", "weekly", *tenant, "--file", str(spec_file))
        assert again.exit_code == 1
        assert "error: schedule_id: a schedule with this id already exists" in again.output
        invalid = await herald(
            "schedules", "create", "bad", *tenant, "--file", str(spec_file),
            "--to", "not-an-address", "--time", "25:00",
        )  # fmt: skip
        assert invalid.exit_code == 1
        assert "spec.recipients.0: Value error, invalid email address 'not-an-address'" in (
            invalid.output
        )
        assert "spec.time_of_day:" in invalid.output
        no_weekday = await herald("schedules", "update", "brief", *tenant, "--frequency", "weekly")
        assert no_weekday.exit_code == 1
        assert "error: changes: weekly schedules need weekday" in no_weekday.output
        stale = await herald(
            "schedules", "update", "brief", *tenant, "--expected-version", "7", "--time", later
        )
        assert stale.exit_code == 1
        assert "error: expected_version: version conflict: expected 7" in stale.output

        updated = await herald("schedules", "update", "brief", *tenant, "--time", later)
        assert updated.exit_code == 0, updated.output
        assert "updated brief to version 2" in updated.output
        disabled = await herald("schedules", "disable", "brief", *tenant)
        assert disabled.exit_code == 0, disabled.output
        listed = await herald("schedules", "list", *tenant, "--json")
        assert listed.exit_code == 0, listed.output
        rows = {row["schedule_id"]: row for row in map(json.loads, listed.stdout.splitlines())}
        assert rows.keys() == {"brief", "weekly"}
        assert (rows["brief"]["enabled"], rows["brief"]["next_run_at"]) == (False, "-")
        assert rows["weekly"]["when"] == "Mondays 08:00 UTC"
        assert rows["weekly"]["format"] == "html"
        enabled = await herald("schedules", "enable", "brief", *tenant)
        assert enabled.exit_code == 0, enabled.output
        assert "enabled brief (version 4), next run" in enabled.output

        # A week ahead: the daily brief seven times, the weekly once, one recipient each.
        ahead = await herald("tenants", "volume", *tenant, "--json")
        assert ahead.exit_code == 0, ahead.output
        forecast = json.loads(ahead.stdout)
        assert (forecast["enabled_schedules"], forecast["emails"]) == (2, 8)
        busiest = forecast["busiest"]
        assert (busiest["minute"]["emails"], busiest["day"]["emails"]) == (1, 2)
        printed = await herald("tenants", "volume", *tenant)
        assert printed.exit_code == 0, printed.output
        assert "8 emails from 2 enabled schedule(s) of acme" in printed.output

        ran = await herald("schedules", "run-now", "brief", *tenant, "--wait", "90")
        assert ran.exit_code == 0, ran.output
        assert "is due" in ran.output
        assert ": delivered" in ran.output
        assert mailpit.to(recipient)
        history = await herald("history", *tenant, "--schedule", "brief", "--json")
        assert history.exit_code == 0, history.output
        assert [json.loads(line)["status"] for line in history.stdout.splitlines()] == ["delivered"]
        table = await herald("schedules", "list", *tenant)
        assert table.exit_code == 0, table.output
        assert "delivered" in table.output
        assert f"daily {later} Europe/Paris" in table.output
        shown = await herald("schedules", "show", "brief", *tenant, "--json")
        assert shown.exit_code == 0, shown.output
        detail = json.loads(shown.stdout)
        assert (detail["version"], detail["spec"]["time_of_day"]) == (4, f"{later}:00")
        assert detail["last_status"] == "delivered"
        assert [run["status"] for run in detail["recent_runs"]] == ["delivered"]
        shown_table = await herald("schedules", "show", "brief", *tenant)
        assert shown_table.exit_code == 0, shown_table.output
        assert "Morning Brief" in shown_table.output

        deleted = await herald("schedules", "delete", "weekly", *tenant)
        assert deleted.exit_code == 0, deleted.output
        gone = await herald("schedules", "show", "weekly", *tenant)
        assert gone.exit_code == 1
        assert "no schedule 'weekly' for tenant 'acme'" in gone.output
        twice = await herald("schedules", "delete", "weekly", *tenant)
        assert twice.exit_code == 1
        assert "error: schedule_id: schedule not found" in twice.output

        tester = recipient.replace("@", ".smtp@")
        tested = await herald("smtp", "test", "--to", tester)
        assert tested.exit_code == 0, tested.output
        assert ": delivered" in tested.output
        await wait_until(lambda: asyncio.to_thread(mailpit.to, tester), 10, "the test email")

        # The mail server refuses an address: the test says so, with the server's reply.
        mailer.stop()
        refused_mailer = ServiceProcess(
            "mailer", settings.model_copy(update={"smtp": smtp}), log_dir
        )
        await _start(refused_mailer)
        refused = await herald("smtp", "test", "--to", "nobody@example.com")
        assert refused.exit_code == 1, refused.output
        assert ": failed" in refused.output
        # Where the exchange ended, and the server's words.
        assert "  nobody@example.com: recipient refused: 550 5.1.1 No such user here\n" in (
            refused.output
        )
    finally:
        for service in (scheduler, renderer, mailer, refused_mailer):
            if service is not None:
                service.stop()
        refusing.stop()


async def test_unreachable_kafka_or_mongodb_exits_2_naming_the_address(
    herald: Herald, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    kafka = os.environ["HERALD_KAFKA__BOOTSTRAP_SERVERS"]
    closed = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("HERALD_KAFKA__BOOTSTRAP_SERVERS", closed)
    for command in (
        ("schedules", "create", "b", "--tenant", "acme", "--name", "B",
         "--report", "campaign_summary", "--frequency", "daily", "--to", "a@example.com"),
        ("schedules", "run-now", "b", "--tenant", "acme"),
        ("smtp", "test", "--to", "a@example.com"),
        ("replay", "--verify"),
        ("topics", "create"),
    ):  # fmt: skip
        result = await herald(*command)
        assert result.exit_code == 2, (command, result.output)
        assert f"cannot reach Kafka at {closed}" in result.output, command

    # A reachable Kafka without the prefix's topics: said at once, without aiokafka's
    # warning on every metadata refresh (once 40 s and 400 lines before the error).
    monkeypatch.setenv("HERALD_KAFKA__BOOTSTRAP_SERVERS", kafka)
    monkeypatch.setenv("HERALD_KAFKA__TOPIC_PREFIX", f"none-{random.getrandbits(32):08x}")
    with caplog.at_level(logging.WARNING, logger="aiokafka"):
        missing = await herald("replay", "--verify")
    assert missing.exit_code == 2, missing.output
    assert "delivery.status not found on Kafka" in missing.output
    assert not [r for r in caplog.records if "not found in cluster metadata" in r.getMessage()]
    # Reached, and refused: more replicas than the one broker. Said, not a traceback.
    monkeypatch.setenv("HERALD_KAFKA__REPLICATION_FACTOR", "3")
    refused = await herald("topics", "create")
    assert refused.exit_code == 1, refused.output
    assert f"Kafka refused at {kafka}" in refused.output
    assert "InvalidReplicationFactorError" in refused.output

    mongo = f"127.0.0.1:{free_port()}"
    options = "authSource=admin&authMechanismProperties=AWS_SESSION_TOKEN:t0ken"
    monkeypatch.setenv("HERALD_MONGO__URL", f"mongodb://herald:s3cret@{mongo}/herald?{options}")
    monkeypatch.setenv("HERALD_MONGO__SERVER_SELECTION_TIMEOUT_MS", "300")
    for reading in (
        ("schedules", "list", "--tenant", "acme"),
        ("schedules", "update", "b", "--tenant", "acme", "--time", "06:00"),
    ):
        result = await herald(*reading)
        assert result.exit_code == 2, (reading, result.output)
        assert f"MongoDB at {mongo}" in result.output, reading
        assert "s3cret" not in result.output
        assert "t0ken" not in result.output


def _event(
    run_id: str,
    tenant: str,
    t0: datetime,
    status: RunStatus,
    attempt: int,
    at_s: int,
    **more: object,
) -> DeliveryStatus:
    stage = {RunStatus.DUE: "scheduler", RunStatus.RENDERED: "renderer"}.get(status, "mailer")
    return DeliveryStatus.model_validate(
        {
            "tenant_id": tenant,
            "schedule_id": run_id.split("@")[0],
            "run_id": run_id,
            "attempt": attempt,
            "status": status,
            "stage": stage,
            "scheduled_for": t0,
            "occurred_at": t0 + timedelta(seconds=at_s),
            **more,
        }
    )


def _lives(runs: int) -> list[DeliveryStatus]:
    """Runs over two tenants, each life as its stages report it: delivered at once,
    delivered on the second attempt, failed after two attempts, failed for good, skipped.

    They start now and retry in 5 minutes: the scheduler (the retry clock) then
    has all of it projected before any timer of its own rings (retry or stuck run).
    """
    t0 = datetime.now(UTC).replace(microsecond=0)
    spec = ScheduleSpec.model_validate(
        {
            "name": "Brief",
            "report": {"id": "campaign_summary"},
            "frequency": "daily",
            "recipients": ["a@example.com", "b@example.com"],
        }
    )
    ok_a = RecipientResult(address="a@example.com", outcome=RecipientOutcome.ACCEPTED)
    ok_b = RecipientResult(address="b@example.com", outcome=RecipientOutcome.ACCEPTED)
    busy_b = RecipientResult(
        address="b@example.com", outcome=RecipientOutcome.REFUSED_TRANSIENT, smtp_code=451
    )
    busy = "b@example.com: 451 try later"
    events: list[DeliveryStatus] = []
    for n in range(runs):
        run_id, tenant, life = f"s{n % 7}@r{n}", "globex" if n % 3 == 0 else "acme", n % 5
        event = functools.partial(_event, run_id, tenant, t0)
        if life == 4:
            events.append(event(RunStatus.SKIPPED, 1, 0, reason="missed"))
            continue
        attempts = 1 if life in (0, 3) else 2
        for attempt in range(1, attempts + 1):
            due = run_details(run_id, spec, "UTC", t0).model_copy(update={"attempt": attempt})
            at = (attempt - 1) * 300
            events.append(event(RunStatus.DUE, attempt, at, run=due))
            events.append(event(RunStatus.RENDERED, attempt, at + 2, artifact_id=run_id))
        if life == 0:
            events.append(event(RunStatus.DELIVERED, 1, 3, recipients=[ok_a, ok_b]))
        elif life == 3:
            events.append(event(RunStatus.FAILED, 1, 3, reason="550 no such user"))
        else:
            retry_at = t0 + timedelta(minutes=5)
            first = [ok_a, busy_b]
            events.append(
                event(
                    RunStatus.PENDING_RETRY,
                    1,
                    3,
                    recipients=first,
                    reason=busy,
                    next_attempt_at=retry_at,
                )
            )
            if life == 1:
                events.append(event(RunStatus.DELIVERED, 2, 303, recipients=[ok_b]))
            else:
                gave_up = f"{busy} (gave up after 2 attempts)"
                events.append(event(RunStatus.FAILED, 2, 303, recipients=[busy_b], reason=gave_up))
    return events


async def test_replay_verifies_rebuilds_and_exports_the_history_of_200_runs(
    topics_ready: Settings,
    db: AsyncDatabase[Document],
    log_dir: Path,
    tmp_path: Path,
    herald: Herald,
) -> None:
    """200 runs with retries and failures, as synthetic `delivery.status` events (not 200
    real emails), projected live by a real scheduler; then `herald replay` on that log."""
    settings = topics_ready
    events = _lives(200)
    log = events + random.Random(7).sample(events, 40)  # redeliveries, as at-least-once gives
    random.Random(8).shuffle(log)
    scheduler = ServiceProcess("scheduler", settings, log_dir)
    await scheduler.wait_started()
    runtime = build_runtime("probe", settings)
    await runtime.broker.start()
    live = db[history_store.RUNS]
    try:
        await publish_many(runtime.broker, runtime.topics, log)

        async def projected() -> bool:
            stored = [doc async for doc in live.find({}, {"events.event_id": 1})]
            return sum(len(doc["events"]) for doc in stored) == len(events)

        await wait_until(projected, 60, "the scheduler to project every event")
    finally:
        await runtime.broker.stop()
        scheduler.stop()
    after_log = datetime.now(UTC) + timedelta(seconds=1)

    verified = await herald("replay", "--verify")
    assert verified.exit_code == 0, verified.output
    assert "checked 200 runs against the log: no difference" in verified.output
    assert "events/s" in verified.output
    assert "compared: 200 live runs in" in verified.output
    globex = await herald("replay", "--verify", "--tenant", "globex")
    assert "checked 67 runs against the log: no difference" in globex.output

    refused = await herald("replay", "--into", "runs")
    assert refused.exit_code == 1
    assert "that is the live history; add --force-live" in refused.output
    rebuilt = await herald("replay", "--into", "runs_audit")
    assert rebuilt.exit_code == 0, rebuilt.output
    live_docs = {doc["_id"]: doc async for doc in live.find({}, {"rev": 0})}
    audit_docs = {doc["_id"]: doc async for doc in db["runs_audit"].find({}, {"rev": 0})}
    assert audit_docs == live_docs
    statuses = [doc["status"] for doc in live_docs.values()]
    assert (statuses.count("delivered"), statuses.count("failed")) == (80, 80)

    jsonl, table = tmp_path / "events.jsonl", tmp_path / "globex.csv"
    exported = await herald("replay", "--export", str(jsonl))
    assert exported.exit_code == 0, exported.output
    lines = jsonl.read_text().splitlines()
    assert sorted(DeliveryStatus.model_validate_json(line).event_id for line in lines) == sorted(
        event.event_id for event in log
    )
    assert (await herald("replay", "--export", str(table), "--tenant", "globex")).exit_code == 0
    with table.open(newline="") as rows:
        records = list(csv.DictReader(rows))
    assert len(records) == sum(1 for event in log if event.tenant_id == "globex")
    assert {record["tenant_id"] for record in records} == {"globex"}
    late = await herald("replay", "--export", str(jsonl), "--since", after_log.isoformat())
    assert late.exit_code == 0, late.output
    assert jsonl.read_text() == ""

    # Tamper with the live history: change a status, lose a run, invent one.
    assert live_docs["s0@r0"]["status"] == "delivered"
    await live.update_one({"_id": "s0@r0"}, {"$set": {"status": "failed"}})
    await live.delete_one({"_id": "s1@r1"})
    await live.insert_one(live_docs["s2@r2"] | {"_id": "s2@invented", "rev": 1})
    tampered = await herald("replay", "--verify")
    assert tampered.exit_code == 1
    assert 'run s0@r0: status: live "failed", replayed "delivered"' in tampered.output
    assert "run s1@r1: missing from the live history; the log has 6 event(s)" in tampered.output
    assert "run s2@invented: only in the live history (status failed), not in the log" in (
        tampered.output
    )
    assert "checked 201 runs against the log: 3 difference(s)" in tampered.output

    repaired = await herald("replay", "--into", "runs", "--force-live")
    assert repaired.exit_code == 0, repaired.output
    assert await live.find_one({"_id": "s1@r1"}, {"rev": 0}) == audit_docs["s1@r1"]
    assert (await live.find_one({"_id": "s0@r0"}) or {})["status"] == "failed"  # edits stay
    assert not [name for name in await db.list_collection_names() if "_verify_" in name]
