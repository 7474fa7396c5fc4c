"""`herald schedules ...` and `herald smtp test`: schedule commands, sent through the client.

Every change is a command the scheduler answers (`shared.client`), so the
CLI applies exactly the rules a platform service meets, and a rejection is
printed field by field. `list` and `show` read the scheduler's `schedules`
collection and the `runs` history directly, as `herald history` does.

Exit codes: 0 done, 1 rejected or invalid input (or the run did not deliver),
2 Kafka, MongoDB or the services could not be reached in time.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
import yaml
from pymongo.asynchronous.database import AsyncDatabase
from rich.markup import escape
from rich.table import Table

from herald.cli.support import (
    RUN_COLUMNS,
    console,
    fail,
    open_database,
    run,
    run_row,
    send_command,
    valid_command,
    wait_for_run,
)
from herald.client.diagnosis import diagnose
from herald.services.scheduler.store import SCHEDULES, SchedulerStore, schedule_id_of
from herald.shared.contract.identity import ScheduleRef
from herald.shared.contract.messages import (
    CommandAccepted,
    CreateSchedule,
    DeleteSchedule,
    DisableSchedule,
    EnableSchedule,
    RunNow,
    RunStatus,
    SendTestEmail,
    UpdateSchedule,
)
from herald.shared.contract.schedule_spec import Frequency, ReportFormat, ScheduleSpec, WindowKind
from herald.shared.contract.tolerance import TOLERANT
from herald.shared.history import store as history_store
from herald.shared.history.fold import FINAL_STATUSES, RunRecord
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings

schedules_app = typer.Typer(
    help="A tenant's report schedules.\n\nExample: herald schedules list --tenant acme",
    no_args_is_help=True,
)
smtp_app = typer.Typer(
    help="The mail server.\n\nExample: herald smtp test --to ops@example.com",
    no_args_is_help=True,
)

#: The pseudo-schedule a test email's run is recorded under in the history.
SMTP_TEST_SCHEDULE = "smtp-test"
_WEEKDAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")
_RECENT_RUNS = 10

Tenant = Annotated[str, typer.Option("--tenant", help="Tenant the schedule belongs to.")]
ScheduleId = Annotated[str, typer.Argument(help="The schedule's id.")]
ExpectedVersion = Annotated[
    int | None,
    typer.Option(help="Apply only if the schedule is still at this version (see `show`)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="JSON instead of a table.")]
# What a schedule says, as flags; each given one overrides the --file's field.
SpecFile = Annotated[
    Path | None,
    typer.Option(
        "--file",
        help="The schedule's fields as JSON, or YAML (.yaml/.yml): the `spec` `show` prints.",
    ),
]
Name = Annotated[str | None, typer.Option(help="The schedule's name, the email's title.")]
Report = Annotated[
    str | None,
    typer.Option(help="A standard report id, or with --custom a saved custom report's id."),
]
Custom = Annotated[bool, typer.Option("--custom", help="--report names a saved custom report.")]
Campaigns = Annotated[
    list[str] | None,
    typer.Option("--campaign", help="Campaign filter (repeatable); replaces all filters."),
]
Agents = Annotated[
    list[str] | None,
    typer.Option("--agent", help="Agent filter (repeatable); replaces all filters."),
]
Every = Annotated[Frequency | None, typer.Option("--frequency", help="How often it fires.")]
Weekday = Annotated[int | None, typer.Option(help="Weekly: 0 = Monday ... 6 = Sunday.")]
Cron = Annotated[str | None, typer.Option(help="Custom: a cron expression.")]
Window = Annotated[WindowKind | None, typer.Option(help="Custom: the report's data window.")]
WindowN = Annotated[
    int | None, typer.Option("--window-n", help="Hours or days of last_hours / last_days.")
]
At = Annotated[str | None, typer.Option("--time", help="Local time of day, HH:MM.")]
Zone = Annotated[
    str | None, typer.Option("--timezone", help="IANA time zone (default: the server's).")
]
To = Annotated[list[str] | None, typer.Option("--to", help="Recipient address (repeatable).")]
Format = Annotated[ReportFormat | None, typer.Option("--format", help="Email format.")]
SkipIfEmpty = Annotated[
    bool | None,
    typer.Option("--skip-if-empty/--send-if-empty", help="Send nothing when the report is empty."),
]
CatchUp = Annotated[
    int | None,
    typer.Option("--catch-up", help="Seconds a missed firing may still be sent late."),
]
Clear = Annotated[
    list[str] | None,
    typer.Option(help="Set this field to null (repeatable), e.g. weekday when leaving weekly."),
]


class _SpecLoader(yaml.SafeLoader):
    """YAML 1.1 reads `time_of_day: 12:30` as the base-60 integer 750, which the scheduler
    refuses as no time of day: here such a value stays the text it looks like."""


_INT = "tag:yaml.org,2002:int"
_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != _INT]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver(
    _INT,
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)


def _from_file(path: Path | None) -> dict[str, Any]:
    """A spec from a JSON file, or YAML when the name ends in .yaml or .yml."""
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
        yaml_file = path.suffix in (".yaml", ".yml")
        data: Any = yaml.load(text, _SpecLoader) if yaml_file else json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise fail(f"{path}: cannot read a spec: {exc}") from exc
    if not isinstance(data, dict):
        raise fail(f"{path}: the file must hold one object (a mapping)")
    return data


def _flags(
    *,
    name: str | None,
    report: str | None,
    custom: bool,
    campaigns: list[str] | None,
    agents: list[str] | None,
    frequency: Frequency | None,
    weekday: int | None,
    cron: str | None,
    window: WindowKind | None,
    window_n: int | None,
    at: str | None,
    zone: str | None,
    to: list[str] | None,
    report_format: ReportFormat | None,
    skip_if_empty: bool | None,
    catch_up: int | None,
) -> dict[str, Any]:
    """The spec fields the flags give; the models judge the values, so reasons name fields."""
    if custom and report is None:
        raise fail("--custom needs --report")
    if window_n is not None and window is None:
        raise fail("--window-n needs --window")
    fields: dict[str, Any] = {
        "name": name,
        "report": None
        if report is None
        else {"kind": "custom" if custom else "standard", "id": report},
        "frequency": frequency,
        "weekday": weekday,
        "cron": cron,
        "window": None if window is None else {"kind": window, "n": window_n},
        "time_of_day": at,
        "timezone": zone,
        "recipients": to,
        "format": report_format,
        "skip_if_empty": skip_if_empty,
        "catch_up_seconds": catch_up,
    }
    if campaigns is not None or agents is not None:
        fields["filters"] = {"campaign_ids": campaigns or [], "agent_ids": agents or []}
    return {key: value for key, value in fields.items() if value is not None}


def _next(accepted: CommandAccepted) -> str:
    when = accepted.next_run_at
    return f"next run {when:%Y-%m-%d %H:%M %Z}" if when else "no next run"


@schedules_app.command("create")
def create(
    schedule_id: ScheduleId,
    tenant: Tenant,
    file: SpecFile = None,
    name: Name = None,
    report: Report = None,
    custom: Custom = False,
    campaigns: Campaigns = None,
    agents: Agents = None,
    frequency: Every = None,
    weekday: Weekday = None,
    cron: Cron = None,
    window: Window = None,
    window_n: WindowN = None,
    at: At = None,
    zone: Zone = None,
    to: To = None,
    report_format: Format = None,
    skip_if_empty: SkipIfEmpty = None,
    catch_up: CatchUp = None,
    enabled: Annotated[
        bool | None, typer.Option("--enabled/--disabled", help="Create it switched on or off.")
    ] = None,
) -> None:
    r"""Create a schedule from flags, a JSON or YAML file, or both (flags win).

    Example: herald schedules create acme-brief --tenant acme --name "Morning Brief" \
        --report campaign_summary --frequency daily --time 07:30 --to ops@example.com
    """
    spec = _from_file(file) | _flags(
        name=name,
        report=report,
        custom=custom,
        campaigns=campaigns,
        agents=agents,
        frequency=frequency,
        weekday=weekday,
        cron=cron,
        window=window,
        window_n=window_n,
        at=at,
        zone=zone,
        to=to,
        report_format=report_format,
        skip_if_empty=skip_if_empty,
        catch_up=catch_up,
    )
    if enabled is not None:
        spec["enabled"] = enabled
    command = valid_command(CreateSchedule, tenant_id=tenant, schedule_id=schedule_id, spec=spec)
    accepted = send_command(command)
    console.print(
        f"created {schedule_id} (version {accepted.version}), {_next(accepted)}", markup=False
    )


@schedules_app.command("update")
def update(
    schedule_id: ScheduleId,
    tenant: Tenant,
    expected_version: ExpectedVersion = None,
    file: SpecFile = None,
    name: Name = None,
    report: Report = None,
    custom: Custom = False,
    campaigns: Campaigns = None,
    agents: Agents = None,
    frequency: Every = None,
    weekday: Weekday = None,
    cron: Cron = None,
    window: Window = None,
    window_n: WindowN = None,
    at: At = None,
    zone: Zone = None,
    to: To = None,
    report_format: Format = None,
    skip_if_empty: SkipIfEmpty = None,
    catch_up: CatchUp = None,
    clear: Clear = None,
) -> None:
    """Change the fields given (flags, or a JSON or YAML file of fields); the rest stays as it is.

    Without --expected-version, the change applies to the version stored now.

    Example: herald schedules update acme-brief --tenant acme --frequency weekly --weekday 0
    """
    changes = (
        _from_file(file)
        | _flags(
            name=name,
            report=report,
            custom=custom,
            campaigns=campaigns,
            agents=agents,
            frequency=frequency,
            weekday=weekday,
            cron=cron,
            window=window,
            window_n=window_n,
            at=at,
            zone=zone,
            to=to,
            report_format=report_format,
            skip_if_empty=skip_if_empty,
            catch_up=catch_up,
        )
        | dict.fromkeys(clear or [])
    )
    if not changes:
        raise fail("nothing to change: give a field flag, --clear or --file")
    version = (
        _current_version(tenant, schedule_id) if expected_version is None else expected_version
    )
    command = valid_command(
        UpdateSchedule,
        tenant_id=tenant,
        schedule_id=schedule_id,
        changes=changes,
        expected_version=version,
    )
    accepted = send_command(command)
    console.print(
        f"updated {schedule_id} to version {accepted.version}, {_next(accepted)}", markup=False
    )


def _current_version(tenant: str, schedule_id: str) -> int:
    async def query() -> Document | None:
        async with open_database(Settings()) as db:
            return await _load(db, tenant, schedule_id)

    doc = run(query())
    if doc is None:
        raise fail("schedule_id: schedule not found")
    return int(doc["version"])


@schedules_app.command("enable")
def enable(
    schedule_id: ScheduleId, tenant: Tenant, expected_version: ExpectedVersion = None
) -> None:
    """Switch a schedule on; it fires again from its next time.

    Example: herald schedules enable acme-brief --tenant acme
    """
    accepted = send_command(
        valid_command(
            EnableSchedule,
            tenant_id=tenant,
            schedule_id=schedule_id,
            expected_version=expected_version,
        )
    )
    console.print(
        f"enabled {schedule_id} (version {accepted.version}), {_next(accepted)}", markup=False
    )


@schedules_app.command("disable")
def disable(
    schedule_id: ScheduleId, tenant: Tenant, expected_version: ExpectedVersion = None
) -> None:
    """Switch a schedule off; it keeps its settings and history.

    Example: herald schedules disable acme-brief --tenant acme
    """
    accepted = send_command(
        valid_command(
            DisableSchedule,
            tenant_id=tenant,
            schedule_id=schedule_id,
            expected_version=expected_version,
        )
    )
    console.print(f"disabled {schedule_id} (version {accepted.version})", markup=False)


@schedules_app.command("delete")
def delete(
    schedule_id: ScheduleId, tenant: Tenant, expected_version: ExpectedVersion = None
) -> None:
    """Delete a schedule; its delivery history stays.

    Example: herald schedules delete acme-brief --tenant acme
    """
    send_command(
        valid_command(
            DeleteSchedule,
            tenant_id=tenant,
            schedule_id=schedule_id,
            expected_version=expected_version,
        )
    )
    console.print(f"deleted {schedule_id}", markup=False)


@schedules_app.command("run-now")
def run_now(
    schedule_id: ScheduleId,
    tenant: Tenant,
    wait: Annotated[
        float,
        typer.Option(help="Seconds to wait for the run to finish (0: do not wait)."),
    ] = 0.0,
) -> None:
    """Fire a schedule once, now, outside its timetable.

    Example: herald schedules run-now acme-brief --tenant acme --wait 120
    """
    accepted = send_command(valid_command(RunNow, tenant_id=tenant, schedule_id=schedule_id))
    assert accepted.run_id is not None
    console.print(f"run {accepted.run_id} is due", markup=False)
    if wait > 0:
        record = _wait(tenant, accepted.run_id, wait, FINAL_STATUSES)
        _print_outcome(record)
        if record.status is not RunStatus.DELIVERED:
            raise typer.Exit(1)


@smtp_app.command("test")
def smtp_test(
    to: Annotated[str, typer.Option("--to", help="Address to send the test email to.")],
    tenant: Annotated[
        str, typer.Option("--tenant", help="Tenant whose history records the test run.")
    ] = "ops",
    wait: Annotated[float, typer.Option(help="Seconds to wait for the mail server.")] = 120.0,
) -> None:
    """Send a small test report through renderer, mailer and the SMTP server.

    On failure, prints the SMTP server's reply. A temporary failure answers
    at once too: the run is retried later, but the test has its answer.

    Example: herald smtp test --to ops@example.com
    """
    command = valid_command(
        SendTestEmail, tenant_id=tenant, schedule_id=SMTP_TEST_SCHEDULE, recipients=[to]
    )
    accepted = send_command(command)
    assert accepted.run_id is not None
    console.print(f"test run {accepted.run_id} is due", markup=False)
    record = _wait(tenant, accepted.run_id, wait, FINAL_STATUSES | {RunStatus.PENDING_RETRY})
    _print_outcome(record)
    if record.status is not RunStatus.DELIVERED:
        raise typer.Exit(1)


def _wait(tenant: str, run_id: str, timeout_s: float, settled: Collection[RunStatus]) -> RunRecord:
    """The run's record once its status is one of `settled`; exit 2 if that takes too long."""

    try:
        return run(wait_for_run(Settings(), tenant, run_id, timeout_s, settled))
    except TimeoutError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from exc


def _print_outcome(record: RunRecord) -> None:
    """The status, the reason, and what the mail server said to each recipient."""
    console.print(f"run {record.run_id}: {record.status.value}", markup=False)
    if record.reason:
        console.print(f"reason: {record.reason}", markup=False, soft_wrap=True)
    if record.status is RunStatus.PENDING_RETRY and record.next_attempt_at:
        until = record.details.retry_until if record.details else None
        retried = f", retried until {until:%Y-%m-%d %H:%M:%S %Z}" if until else ""
        console.print(f"next attempt at {record.next_attempt_at:%Y-%m-%d %H:%M:%S %Z}{retried}")
    for result in record.recipients:
        console.print(f"  {result.address}: {diagnose(result)}", markup=False, soft_wrap=True)


# --- reading: list and show --------------------------------------------------


async def _load(db: AsyncDatabase[Document], tenant: str, schedule_id: str) -> Document | None:
    """A live schedule of this tenant (ids are the tenant's own: another's is not seen)."""
    doc = await SchedulerStore(db).find(ScheduleRef(tenant, schedule_id))
    return None if doc is None or doc.get("deleted") else doc


def _when(spec: ScheduleSpec, zone: str) -> str:
    if spec.frequency is Frequency.CUSTOM:
        return f"cron {spec.cron} ({zone})"
    every = {
        Frequency.DAILY: "daily",
        Frequency.MONTHLY: "monthly on the 1st",
        Frequency.WEEKLY: _WEEKDAYS[spec.weekday or 0],
    }[spec.frequency]
    return f"{every} {spec.time_of_day:%H:%M} {zone}"


def _local(when: datetime | None, zone: str) -> str:
    return f"{when.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M %Z}" if when else "-"


def _summary(doc: Document, last: RunRecord | None, default_zone: str) -> dict[str, Any]:
    """One schedule as the list shows it (and as `--json` prints it)."""
    spec = ScheduleSpec.model_validate(doc["spec"], context=TOLERANT)
    zone = spec.timezone or default_zone
    return {
        "schedule_id": schedule_id_of(doc),
        "name": spec.name,
        "report": f"{spec.report.kind}:{spec.report.id}",
        "when": _when(spec, zone),
        "format": spec.format.value,
        "recipients": len(spec.recipients),
        "enabled": spec.enabled,
        "version": doc["version"],
        "next_run_at": _local(doc.get("next_run_at"), zone),
        "last_status": last.status.value if last else None,
        "last_run_at": _local(last.updated_at, zone) if last else None,
    }


@schedules_app.command("list")
def list_schedules(
    tenant: Tenant,
    limit: Annotated[int, typer.Option(help="At most this many schedules, by id.")] = 200,
    as_json: AsJson = False,
) -> None:
    """The tenant's schedules with their next firing and the status of their last run.

    Example: herald schedules list --tenant acme
    """
    settings = Settings()

    async def query() -> list[dict[str, Any]]:
        async with open_database(settings) as db:
            cursor = db[SCHEDULES].find(
                {"tenant_id": tenant, "deleted": False}, {"outbox": 0, "slot_spec": 0}
            )
            docs = [doc async for doc in cursor.sort("_id").limit(limit)]
            runs = db[history_store.RUNS]
            lasts = await asyncio.gather(
                *(
                    history_store.query_runs(runs, tenant, schedule_id=schedule_id_of(doc), limit=1)
                    for doc in docs
                )
            )
        return [
            _summary(doc, last[0] if last else None, settings.default_timezone)
            for doc, last in zip(docs, lasts, strict=True)
        ]

    rows = run(query())
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    table = Table("schedule", "name", "report", "when", "format", "on", "next run", "last run")
    for row in rows:
        last = f"{row['last_status']} {row['last_run_at']}" if row["last_status"] else "-"
        table.add_row(
            *(escape(str(row[key])) for key in ("schedule_id", "name", "report", "when", "format")),
            "yes" if row["enabled"] else "no",
            row["next_run_at"],
            last,
        )
    console.print(table)


@schedules_app.command("show")
def show(schedule_id: ScheduleId, tenant: Tenant, as_json: AsJson = False) -> None:
    """One schedule: its fields, version, next firing and its latest runs.

    Example: herald schedules show acme-brief --tenant acme --json
    """
    settings = Settings()

    async def query() -> tuple[Document | None, list[RunRecord]]:
        async with open_database(settings) as db:
            doc = await _load(db, tenant, schedule_id)
            if doc is None:
                return None, []
            runs = await history_store.query_runs(
                db[history_store.RUNS], tenant, schedule_id=schedule_id, limit=_RECENT_RUNS
            )
        return doc, runs

    doc, runs = run(query())
    if doc is None:
        raise fail(f"no schedule {schedule_id!r} for tenant {tenant!r}")
    summary = _summary(doc, runs[0] if runs else None, settings.default_timezone)
    if as_json:
        recent = [r.model_dump(mode="json", exclude={"events", "details"}) for r in runs]
        sys.stdout.write(json.dumps(summary | {"spec": doc["spec"], "recent_runs": recent}) + "\n")
        return
    state = "enabled" if summary["enabled"] else "disabled"
    console.print(
        f"{schedule_id} (tenant {tenant}): {summary['name']}, version {summary['version']}, "
        f"{state}; {summary['when']}; next run {summary['next_run_at']}",
        markup=False,
        soft_wrap=True,
    )
    console.print_json(json.dumps(doc["spec"]))
    table = Table(*RUN_COLUMNS, title="latest runs")
    for r in runs:
        table.add_row(*run_row(r))
    console.print(table)
