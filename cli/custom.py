"""`herald reports custom ...`: save, list, show and delete a tenant's custom reports.

Registered by `shared.cli`; the console and error handling come from
`shared.cli_support`, so there is no import cycle. A definition is validated
before anything is written, and a rejected one is answered with every
field-level reason, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from pymongo.asynchronous.collection import AsyncCollection
from rich.markup import escape
from rich.table import Table

from herald.cli.support import console, fail, open_database, run
from herald.services.renderer.reports import custom_store as store
from herald.services.renderer.reports.custom_definitions import CustomReport, reasons
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings

custom_app = typer.Typer(help="Saved custom reports of a tenant.", no_args_is_help=True)
T = TypeVar("T")

Tenant = Annotated[str, typer.Option("--tenant", help="Tenant the reports belong to.")]
ReportId = Annotated[str, typer.Argument(help="The report's id.")]


def _with_collection(work: Callable[[AsyncCollection[Document]], Awaitable[T]]) -> T:
    """Run `work` on the collection; unreachable MongoDB is a message and exit 2."""

    async def main() -> T:
        async with open_database(Settings()) as db:
            return await work(db[store.CUSTOM_REPORTS])

    return run(main())


def _definition(path: Path, tenant: str) -> CustomReport:
    """The file's definition for `tenant`, or exit 1 with every reason it is not valid."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(f"{path}: cannot read a JSON definition: {exc}") from exc
    if not isinstance(data, dict):
        raise fail(f"{path}: a definition is one JSON object")
    if data.setdefault("tenant_id", tenant) != tenant:
        raise fail(f"tenant_id: the file says {data['tenant_id']!r} but --tenant is {tenant!r}")
    try:
        return CustomReport.model_validate(data)
    except ValidationError as exc:
        raise fail(*reasons(exc)) from exc


@custom_app.command("save")
def save(
    file: Annotated[Path, typer.Argument(help="The definition, a JSON file.")],
    tenant: Tenant,
) -> None:
    """Validate a definition and save it, replacing the tenant's report of the same id.

    Example: herald reports custom save inbound_queues.json --tenant acme
    """
    report = _definition(file, tenant)
    created = _with_collection(lambda reports: store.save(reports, report))
    verb = "created" if created else "replaced"
    console.print(f"{verb} custom report {report.report_id!r} for tenant {tenant!r}", markup=False)


@custom_app.command("list")
def list_reports(tenant: Tenant) -> None:
    """The tenant's custom reports, by id.

    Example: herald reports custom list --tenant acme
    """
    listed = _with_collection(lambda reports: store.list_reports(reports, tenant))
    table = Table("id", "title", "dataset", "updated")
    for item in listed:
        updated = item.updated_at.isoformat(timespec="seconds") if item.updated_at else ""
        table.add_row(escape(item.report_id), escape(item.title), item.dataset, updated)
    console.print(table)


@custom_app.command("show")
def show(report_id: ReportId, tenant: Tenant) -> None:
    """A saved definition as JSON (the format `save` reads).

    Example: herald reports custom show inbound_queues --tenant acme
    """
    try:
        report = _with_collection(lambda reports: store.get(reports, tenant, report_id))
    except ValidationError as exc:
        stale = f"stored report {report_id!r} no longer validates; save it again:"
        raise fail(stale, *reasons(exc)) from exc
    if report is None:
        raise fail(f"no custom report {report_id!r} for tenant {tenant!r}")
    console.print_json(report.model_dump_json())


@custom_app.command("delete")
def delete(report_id: ReportId, tenant: Tenant) -> None:
    """Delete a custom report; schedules naming it then fail with a clear reason.

    Example: herald reports custom delete inbound_queues --tenant acme
    """
    if not _with_collection(lambda reports: store.delete(reports, tenant, report_id)):
        raise fail(f"no custom report {report_id!r} for tenant {tenant!r}")
    console.print(f"deleted custom report {report_id!r} for tenant {tenant!r}", markup=False)
