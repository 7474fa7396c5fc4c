"""The `herald` command line, built on the client and the shared stores."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Coroutine
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from pymongo.errors import PyMongoError
from rich.console import Console
from rich.table import Table

from shared import demo, history_store
from shared.client import CommandRejectedError, HeraldClient, HeraldUnavailable
from shared.history import FINAL_STATUSES, RunRecord
from shared.kafka import ensure_topics
from shared.messages import CreateSchedule, RunNow, RunStatus
from shared.mongo import connect, database
from shared.schedule_spec import Filters, Frequency, ReportFormat, ReportRef, ScheduleSpec
from shared.settings import Settings

app = typer.Typer(help="Herald: scheduled report delivery over Kafka.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data and a demo delivery.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(demo_app, name="demo")

console = Console()
T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command; unreachable infrastructure is a message and exit 2, not a traceback."""
    try:
        return asyncio.run(coroutine)
    except HeraldUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except PyMongoError as exc:
        url = Settings().mongo.url.get_secret_value().split("@")[-1]
        console.print(f"[red]error:[/red] MongoDB at {url}: {exc}")
        raise typer.Exit(2) from exc


@topics_app.command("create")
def topics_create() -> None:
    """Create Herald's topics if missing.

    Example: herald topics create
    """
    settings = Settings()
    _run(ensure_topics(settings))
    console.print(f"topics with prefix {settings.kafka.topic_prefix!r} are in place")


@demo_app.command("seed")
def demo_seed(
    calls: Annotated[int, typer.Option(help="How many calls to generate.")] = 5000,
    days: Annotated[int, typer.Option(help="Spread over this many days before today.")] = 45,
    tenant: Annotated[str, typer.Option(help="Tenant to seed.")] = demo.DEMO_TENANT,
) -> None:
    """Write a deterministic demo dataset (replaces the tenant's demo calls).

    Example: herald demo seed --calls 20000
    """

    async def seed() -> int:
        settings = Settings()
        client = connect(settings, "herald-cli")
        try:
            return await demo.seed(
                database(client, settings),
                tenant_id=tenant,
                calls=calls,
                days=days,
                anchor=date.today(),
            )
        finally:
            await client.close()

    written = _run(seed())
    console.print(f"seeded {written} calls for tenant {tenant!r}")


async def _wait_for_run(
    settings: Settings, tenant: str, run_id: str, timeout_s: float
) -> RunRecord:
    client = connect(settings, "herald-cli")
    runs = database(client, settings)[history_store.RUNS]
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            record = await history_store.get_run(runs, tenant, run_id)
            if record is not None and record.status in FINAL_STATUSES:
                return record
            await asyncio.sleep(0.5)
    finally:
        await client.close()
    raise TimeoutError(f"run {run_id} did not finish within {timeout_s:.0f} s")


@demo_app.command("deliver")
def demo_deliver(
    to: Annotated[list[str], typer.Option("--to", help="Recipient address (repeatable).")],
    report_format: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.CSV,
    tenant: Annotated[str, typer.Option(help="Tenant of the demo schedule.")] = demo.DEMO_TENANT,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for delivery.")] = 120.0,
) -> None:
    """Create the demo "Morning Brief" schedule and run it now; wait until it is delivered.

    Example: herald demo deliver --to ops@example.com
    """

    async def deliver() -> RunRecord:
        settings = Settings()
        schedule_id = f"{tenant}-morning-brief-{uuid.uuid4().hex[:8]}"
        spec = ScheduleSpec(
            name="Morning Brief",
            report=ReportRef(id="campaign_summary"),
            filters=Filters(),
            frequency=Frequency.DAILY,
            recipients=to,
            format=report_format,
        )
        async with HeraldClient(settings) as herald:
            await herald.send(CreateSchedule(tenant_id=tenant, schedule_id=schedule_id, spec=spec))
            accepted = await herald.send(RunNow(tenant_id=tenant, schedule_id=schedule_id))
        assert accepted.run_id is not None
        console.print(f"run {accepted.run_id} is due; waiting for delivery ...")
        return await _wait_for_run(settings, tenant, accepted.run_id, timeout)

    try:
        record = _run(deliver())
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            console.print(f"[red]error:[/red] {'.'.join(map(str, error['loc']))}: {error['msg']}")
        raise typer.Exit(2) from exc
    except (CommandRejectedError, TimeoutError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"run {record.run_id}: [bold]{record.status.value}[/bold]")
    if record.status is not RunStatus.DELIVERED:
        console.print(f"reason: {record.reason}")
        raise typer.Exit(1)


@app.command("history")
def history(
    tenant: Annotated[str, typer.Option(help="Tenant whose runs to show.")],
    schedule: Annotated[str | None, typer.Option(help="Only this schedule.")] = None,
    status: Annotated[RunStatus | None, typer.Option(help="Only runs in this status.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Updated at or after (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Updated before (UTC).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many runs.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines instead of a table.")] = False,
) -> None:
    """The delivery history of a tenant, newest first.

    Example: herald history --tenant demo --status failed --since 2026-11-01
    """

    def utc(value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=value.tzinfo or UTC) if value else None

    async def query() -> list[RunRecord]:
        settings = Settings()
        client = connect(settings, "herald-cli")
        try:
            runs = database(client, settings)[history_store.RUNS]
            return await history_store.query_runs(
                runs,
                tenant,
                schedule_id=schedule,
                status=status,
                since=utc(since),
                until=utc(until),
                limit=limit,
            )
        finally:
            await client.close()

    records = _run(query())
    if as_json:
        for record in records:
            sys.stdout.write(json.dumps(record.model_dump(mode="json", exclude={"events"})) + "\n")
        return
    table = Table("run", "status", "attempt", "updated", "reason")
    for record in records:
        table.add_row(
            record.run_id,
            record.status.value,
            str(record.attempt),
            record.updated_at.isoformat(timespec="seconds"),
            record.reason or "",
        )
    console.print(table)
