"""The `herald` command line, built on the client and the shared stores."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from uuid import uuid4

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from herald.cli import demo, keys, look
from herald.cli.data import data_app
from herald.cli.replay import replay_command
from herald.cli.reports import reports_app
from herald.cli.schedules import schedules_app, smtp_app
from herald.cli.storage import storage_command
from herald.cli.support import (
    RUN_COLUMNS,
    client,
    console,
    print_invalid,
    run,
    run_row,
    wait_for_run,
)
from herald.cli.tenants import tenants_app
from herald.client.commands import CommandRejectedError
from herald.shared.contract.messages import CreateSchedule, RunNow, RunStatus
from herald.shared.contract.schedule_spec import (
    ReportFormat,
    ScheduleSpec,
)
from herald.shared.history import store as history_store
from herald.shared.history.fold import RunRecord
from herald.shared.runtime.kafka import ensure_topics
from herald.shared.runtime.mongo import connect, database
from herald.shared.runtime.settings import Settings

app = typer.Typer(help="Herald: scheduled report delivery over Kafka.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data and a demo delivery.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(demo_app, name="demo")
app.add_typer(data_app, name="data")
app.add_typer(reports_app, name="reports")
app.add_typer(schedules_app, name="schedules")
app.add_typer(smtp_app, name="smtp")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys.app, name="keys")
app.command("replay")(replay_command)
app.command("storage")(storage_command)


@topics_app.command("create")
def topics_create() -> None:
    """Create Herald's topics if missing.

    Example: herald topics create
    """
    settings = Settings()
    run(ensure_topics(settings))
    console.print(f"topics with prefix {settings.kafka.topic_prefix!r} are in place")


@demo_app.command("seed")
def demo_seed(
    calls: Annotated[int, typer.Option(min=0, help="How many calls to generate.")] = 20_000,
    days: Annotated[
        int, typer.Option(min=1, help="Spread over this many local days before today.")
    ] = 45,
    tenant: Annotated[str, typer.Option(help="Tenant to seed.")] = demo.DEMO_TENANT,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed and size give the same data.")
    ] = demo.DEFAULT_SEED,
) -> None:
    """Write the deterministic demo dataset, replacing the tenant's calls, sessions and dimensions.

    Times are in the data zone (HERALD_REPORTS__DATA_TIMEZONE, else HERALD_DEFAULT_TIMEZONE).

    Example: herald demo seed --calls 1000000 --days 60
    """
    settings = Settings()
    zone = settings.data_zone
    started = time.monotonic()
    columns = (
        TextColumn("seeding {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(repr(tenant), total=calls)

        async def seed_all() -> int:
            client = connect(settings, "herald-cli")
            try:
                return await demo.seed(
                    database(client, settings),
                    tenant_id=tenant,
                    calls=calls,
                    days=days,
                    anchor=datetime.now(zone).date(),
                    random_seed=seed,
                    zone=zone,
                    progress=lambda done: bar.update(task, completed=done),
                )
            finally:
                await client.close()

        written = run(seed_all())
    elapsed = time.monotonic() - started
    console.print(
        f"seeded {written:,} calls over {days} days for tenant {tenant!r} (times in {zone.key}) "
        f"in {elapsed:.1f} s: {written / elapsed:,.0f} calls/s"
    )


@demo_app.command("schedules")
def demo_schedules(
    to: Annotated[list[str], typer.Option("--to", help="Recipient address (repeatable).")],
    tenant: Annotated[str, typer.Option(help="Tenant of the schedules.")] = demo.DEMO_TENANT,
    report_format: Annotated[
        ReportFormat | None,
        typer.Option("--format", help="Send every schedule in this format instead of its own."),
    ] = None,
) -> None:
    """Create the five common schedules of the product documentation (needs the scheduler).

    Morning Brief, Weekly Scorecard, Monthly Executive, Compliance Audit and Revenue
    Review. Their ids are `<tenant>-<name>`, so running it again reports those that exist.

    Example: herald demo schedules --to ops@example.com
    """

    async def create(specs: dict[str, ScheduleSpec]) -> list[tuple[str, ScheduleSpec, str, bool]]:
        outcomes = []
        async with client(Settings()) as herald:
            for name, spec in specs.items():
                schedule_id = f"{tenant}-{name}"
                command = CreateSchedule(
                    command_id=uuid4(), tenant_id=tenant, schedule_id=schedule_id, spec=spec
                )
                try:
                    accepted = await herald.send(command)
                except CommandRejectedError as exc:
                    fine = all(error.code == "exists" for error in exc.errors)
                    outcome = (
                        "already exists" if fine else f"[red]rejected:[/red] {escape(str(exc))}"
                    )
                else:
                    fine, when = True, accepted.next_run_at
                    outcome = f"created, first run {when:%Y-%m-%d %H:%M %Z}" if when else "created"
                outcomes.append((schedule_id, spec, outcome, fine))
        return outcomes

    try:
        outcomes = run(create(demo.schedules(to, report_format)))
    except ValidationError as exc:
        print_invalid(exc)
        raise typer.Exit(2) from exc
    except TimeoutError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    weekdays = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")
    table = Table("schedule", "report", "when", "format", "outcome")
    for schedule_id, spec, outcome, _fine in outcomes:
        every = spec.frequency.value if spec.weekday is None else weekdays[spec.weekday]
        when = f"{every} {spec.time_of_day:%H:%M}"
        table.add_row(schedule_id, spec.report.id, when, spec.format.value, outcome)
    console.print(table)
    if not all(fine for *_, fine in outcomes):
        raise typer.Exit(1)


@demo_app.command("deliver")
def demo_deliver(
    to: Annotated[list[str], typer.Option("--to", help="Recipient address (repeatable).")],
    tenant: Annotated[str, typer.Option(help="Tenant of the demo schedule.")] = demo.DEMO_TENANT,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for delivery.")] = 120.0,
) -> None:
    """Run the demo's "Morning Brief" (a PDF) now, creating it if needed; wait for delivery.

    The schedule is the one `herald demo schedules` creates (`<tenant>-morning-brief`),
    so running both leaves one Morning Brief, not two.

    Example: herald demo deliver --to ops@example.com
    """

    async def deliver() -> RunRecord:
        settings = Settings()
        schedule_id = f"{tenant}-morning-brief"
        spec = demo.schedules(to)["morning-brief"]
        async with client(settings) as herald:
            try:
                await herald.send(
                    CreateSchedule(
                        command_id=uuid4(), tenant_id=tenant, schedule_id=schedule_id, spec=spec
                    )
                )
            except CommandRejectedError as exc:
                if not all(error.code == "exists" for error in exc.errors):
                    raise
            accepted = await herald.send(
                RunNow(command_id=uuid4(), tenant_id=tenant, schedule_id=schedule_id)
            )
        assert accepted.run_id is not None
        console.print(f"run {accepted.run_id} is due; waiting for delivery ...")
        return await wait_for_run(settings, tenant, accepted.run_id, timeout)

    try:
        record = run(deliver())
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            where = ".".join(map(str, error["loc"]))
            console.print(f"[red]error:[/red] {escape(where)}: {escape(error['msg'])}")
        raise typer.Exit(2) from exc
    except (CommandRejectedError, TimeoutError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    console.print(f"run {record.run_id}: [bold]{record.status.value}[/bold]")
    if record.status is not RunStatus.DELIVERED:
        console.print(f"reason: {record.reason}", markup=False)
        raise typer.Exit(1)


@demo_app.command("look")
def demo_look(
    to: Annotated[str, typer.Option("--to", help="Recipient whose last email to keep.")],
    out: Annotated[Path, typer.Option(help="Directory to write into.")],
    mailpit: Annotated[
        str, typer.Option(envvar="HERALD_MAILPIT_URL", help="Mailpit's HTTP address.")
    ] = "http://127.0.0.1:18025",
) -> None:
    """Keep the last email to a recipient where a person can open it.

    Writes the message (.eml), its HTML with images inline, its attachments, page
    images of its PDFs (pdftoppm) and screenshots of the email in headless Chromium
    at 375 and 800 px.

    Example: herald demo look --to reports-demo@example.com --out /tmp/demo
    """
    try:
        kept = look.keep(look.last_message(mailpit.rstrip("/"), to), out)
    except (OSError, LookupError, ValueError, subprocess.CalledProcessError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    console.print(f"subject: {escape(kept.subject)}")
    for path in kept.files:
        console.print(f"  {path}")


@app.command("history")
def history(
    tenant: Annotated[
        str | None, typer.Option(help="Tenant whose runs to show (default: every tenant's).")
    ] = None,
    schedule: Annotated[str | None, typer.Option(help="Only this schedule.")] = None,
    status: Annotated[RunStatus | None, typer.Option(help="Only runs in this status.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Updated at or after (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Updated before (UTC).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many runs.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines instead of a table.")] = False,
) -> None:
    """The delivery history of a tenant, or of every tenant, newest first.

    Example: herald history --tenant demo --status failed --since 2026-11-01
    Example: herald history --status pending_retry
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

    records = run(query())
    if as_json:
        for record in records:
            sys.stdout.write(json.dumps(record.model_dump(mode="json", exclude={"events"})) + "\n")
        return
    every_tenant = tenant is None
    table = Table(*(("tenant",) if every_tenant else ()), *RUN_COLUMNS)
    for record in records:
        table.add_row(*((escape(record.tenant_id),) if every_tenant else ()), *run_row(record))
    console.print(table)
