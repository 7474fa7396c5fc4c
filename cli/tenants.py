"""`herald tenants ...`: what a tenant's schedules ask of its mail provider.

`volume` reads the tenant's live schedules from the scheduler's `schedules`
collection and forecasts their emails (`services/scheduler/volume.py`), set
against the allowed volume the mailer keeps to (`HERALD_SMTP__MAX_PER_MINUTE`).

Exit codes: 0 done, 2 MongoDB could not be reached.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from herald.cli.support import console, open_database, run
from herald.services.scheduler.volume import Forecast, Peak, Span, forecast, minutes_to_send
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.runtime.settings import Settings

tenants_app = typer.Typer(
    help="What a tenant's schedules need.\n\nExample: herald tenants volume --tenant acme",
    no_args_is_help=True,
)

_BUSIEST_SHOWN = 5


async def _live_specs(settings: Settings, tenant: str) -> list[ScheduleSpec]:
    from herald.services.scheduler.store import SCHEDULES

    async with open_database(settings) as db:
        cursor = db[SCHEDULES].find({"tenant_id": tenant, "deleted": False}, {"spec": 1})
        return [ScheduleSpec.model_validate(doc["spec"]) async for doc in cursor]


def _when(peak: Peak | None) -> str:
    return f"{peak.start:%Y-%m-%d %H:%M} UTC" if peak else "-"


def _as_json(
    tenant: str,
    schedules: int,
    ahead: Forecast,
    peaks: dict[Span, Peak | None],
    per_minute: int | None,
) -> dict[str, Any]:
    minute = peaks[Span.MINUTE]
    return {
        "tenant_id": tenant,
        "start": ahead.start.isoformat(),
        "end": ahead.end.isoformat(),
        "enabled_schedules": schedules,
        "emails": ahead.total,
        "busiest": {
            span.value: {"start": peak.start.isoformat(), "emails": peak.emails} if peak else None
            for span, peak in peaks.items()
        },
        "allowed_per_minute": per_minute,
        "busiest_minute_takes_min": (
            minutes_to_send(minute.emails, per_minute) if minute and per_minute else None
        ),
    }


@tenants_app.command("volume")
def volume(
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant whose schedules count.")],
    days: Annotated[int, typer.Option(min=1, max=31, help="How many days ahead.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of tables.")] = False,
) -> None:
    """Emails the tenant's enabled schedules will send: the busiest minute, hour and day
    ahead (rolling, in UTC), against the provider's allowed volume.

    Example: herald tenants volume --tenant acme --days 7
    """
    settings = Settings()
    specs = run(_live_specs(settings, tenant))
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    ahead = forecast(specs, settings.default_timezone, now, timedelta(days=days))
    per_minute = settings.smtp.max_per_minute
    enabled = sum(s.enabled for s in specs)
    peaks = {span: ahead.peak(span) for span in Span}
    if as_json:
        sys.stdout.write(json.dumps(_as_json(tenant, enabled, ahead, peaks, per_minute)) + "\n")
        return
    console.print(
        f"{ahead.total:,} emails from {enabled} enabled schedule(s) of {escape(tenant)}, "
        f"{ahead.start:%Y-%m-%d %H:%M} to {ahead.end:%Y-%m-%d %H:%M} UTC"
    )
    busiest_spans = Table("busiest", "emails", "starting")
    for span, peak in peaks.items():
        busiest_spans.add_row(span.value, f"{peak.emails:,}" if peak else "0", _when(peak))
    console.print(busiest_spans)
    minute = peaks[Span.MINUTE]
    if per_minute is None:
        console.print("No allowed volume is set (HERALD_SMTP__MAX_PER_MINUTE): mail is not paced.")
    elif minute and minute.emails > per_minute:
        console.print(
            f"[yellow]The busiest minute is over the allowed {per_minute:,} a minute:[/yellow] "
            f"one mailer spreads its {minute.emails:,} emails over "
            f"{minutes_to_send(minute.emails, per_minute)} minutes (the limit is per replica)."
        )
    else:
        console.print(f"Within the allowed {per_minute:,} emails a minute.")
    busiest = Table("minute", "emails", title="Busiest minutes")
    for peak in ahead.busiest_minutes(_BUSIEST_SHOWN):
        busiest.add_row(_when(peak), f"{peak.emails:,}")
    if ahead.by_minute:
        console.print(busiest)
