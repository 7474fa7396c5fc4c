"""`herald reports ...`: look at a report in the terminal, manage saved custom reports."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table as RichTable

from herald.cli.custom import custom_app
from herald.cli.support import console, open_database, print_invalid, run
from herald.shared.contract.messages import DataWindow
from herald.shared.contract.schedule_spec import Filters, ReportRef
from herald.shared.contract.wall_clock import local_midnight
from herald.shared.runtime.settings import Settings

if TYPE_CHECKING:
    from herald.services.renderer.reports.model import ReportData, Table

reports_app = typer.Typer(help="The report catalog.", no_args_is_help=True)
reports_app.add_typer(custom_app, name="custom")


@reports_app.command("show")
def show(
    report: Annotated[str, typer.Argument(help="Standard report id, or a custom report's id.")],
    tenant: Annotated[str, typer.Option(help="Whose data.")],
    first: Annotated[str, typer.Option("--from", help="First local day, YYYY-MM-DD.")],
    last: Annotated[str, typer.Option("--to", help="Last local day (inclusive).")],
    campaign: Annotated[list[str] | None, typer.Option(help="Campaign id (repeatable).")] = None,
    agent: Annotated[list[str] | None, typer.Option(help="Agent id (repeatable).")] = None,
    custom: Annotated[bool, typer.Option(help="REPORT names a saved custom report.")] = False,
    limit: Annotated[int, typer.Option(help="Rows shown per table.")] = 50,
    as_csv: Annotated[bool, typer.Option("--csv", help="All rows as CSV on stdout.")] = False,
    timezone: Annotated[
        str | None, typer.Option(help="The days' zone (default: HERALD_DEFAULT_TIMEZONE).")
    ] = None,
) -> None:
    """Compute a report as a schedule would (with the tenant's compliance settings), and print it.

    Example: herald reports show campaign_summary --tenant demo --from 2026-11-01 --to 2026-11-07
    """
    # Imported here: the CLI ships with the renderer, but `shared` must not need a
    # service's code just to be imported.
    from herald.services.renderer.reports.model import ReportRequest, ReportUnavailable
    from herald.services.renderer.sources import source_for
    from herald.services.scheduler.tenant_store import TenantStore

    settings = Settings()
    zone = timezone or settings.default_timezone
    try:
        ref = ReportRef(kind="custom" if custom else "standard", id=report)
        filters = Filters(campaign_ids=campaign or [], agent_ids=agent or [])
        start, end = date.fromisoformat(first), date.fromisoformat(last) + timedelta(days=1)
    except ValidationError as exc:
        print_invalid(exc)
        raise typer.Exit(1) from exc
    except ValueError as exc:
        console.print(f"[red]error:[/red] --from/--to: {exc}")
        raise typer.Exit(1) from exc
    try:
        days_zone = ZoneInfo(zone)
    except (ValueError, KeyError) as exc:
        console.print(f"[red]error:[/red] --timezone: unknown zone {zone!r}")
        raise typer.Exit(1) from exc
    # Each day from its local midnight, in UTC, as the scheduler's windows are: arithmetic
    # on zoned times runs on the wall clock (a 25-hour day counts 24).
    window = DataWindow(
        start=local_midnight(start, days_zone), end=local_midnight(end, days_zone), timezone=zone
    )

    async def compute() -> None:
        async with open_database(settings) as db:
            source = source_for(settings, db)
            stored = await TenantStore(db).read(tenant)
            own = stored.state.compliance if stored else None
            request = ReportRequest(tenant, ref, window, filters)
            if own is not None:
                request = replace(request, compliance=own)
            try:
                data = await source.fetch(request)
                if as_csv:
                    await _write_csv(data)
                    return
                console.print(f"[bold]{escape(data.title)}[/bold]  {first} to {last} ({zone})")
                for note in data.notes:
                    console.print(note)
                for table in data.tables:
                    await _print_table(table, limit)
            finally:
                await source.close()

    try:
        run(compute())
    except ReportUnavailable as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


async def _print_table(table: Table, limit: int) -> None:
    from herald.services.renderer.formats.cells import display_row, rounding_note
    from herald.services.renderer.reports.model import rows_of

    shown = RichTable(*(c.label for c in table.columns), title=table.title)
    count = 0
    async for row in rows_of(table):
        count += 1
        if count <= limit:
            shown.add_row(*display_row(table.columns, row))
    if table.totals is not None:
        shown.add_row(*display_row(table.columns, table.totals))
    console.print(shown)
    if count > limit:
        console.print(f"showing {limit} of {count} rows")
    if note := rounding_note(table):
        console.print(note, markup=False)


async def _write_csv(data: ReportData) -> None:
    from herald.services.renderer.formats.csv_writer import RowCounter, csv_chunks

    async for chunk in csv_chunks(data, RowCounter()):
        sys.stdout.write(chunk.decode())
