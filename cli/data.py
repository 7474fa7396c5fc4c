"""`herald data ...`: load the platform's contact-center data and maintain its roll-ups.

Input is JSON Lines, one record per line, validated by the same models the
reports rely on (a session also against the data's zone, its spans within its
local day there). A bad line is reported with its number and field reasons and
skipped; the good ones are loaded, and the command exits 1 if any was bad.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Coroutine, Iterator
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer
from pydantic import BaseModel, ValidationError

from herald.cli.support import console, open_database, print_invalid, run
from herald.services.renderer.calldata.records import (
    DATA_ZONE,
    Agent,
    AgentSession,
    Call,
    CallList,
    Campaign,
    Team,
)
from herald.services.renderer.calldata.store import ROLLUP_LEASE_TTL, CallStore, RollupBusy
from herald.shared.runtime.leases import LeaseLost
from herald.shared.runtime.settings import Settings

data_app = typer.Typer(help="Contact-center data the reports are computed from.")
_BATCH = 5000
_AGAIN = "Run it again: calls already stored are skipped, and every day's roll-up is completed."
T = TypeVar("T")


def _run_writing(coroutine: Coroutine[Any, Any, T]) -> T:
    """`run`, where another writer of the same day's roll-up is a message, not a traceback."""
    try:
        return run(coroutine)
    except RollupBusy as exc:
        console.print(f"[red]error:[/red] {exc} (another import or rollup). {_AGAIN}")
        raise typer.Exit(1) from exc
    except LeaseLost as exc:
        console.print(
            f"[red]error:[/red] stopped: this command held {exc} for over "
            f"{ROLLUP_LEASE_TTL.total_seconds():.0f} s (stalled, or a very large day), and "
            f"another writer took that day over. {_AGAIN}"
        )
        raise typer.Exit(1) from exc


class Kind(enum.StrEnum):
    CALLS = "calls"
    SESSIONS = "sessions"
    AGENTS = "agents"
    TEAMS = "teams"
    CAMPAIGNS = "campaigns"
    LISTS = "lists"


MODELS: dict[Kind, type[BaseModel]] = {
    Kind.CALLS: Call,
    Kind.SESSIONS: AgentSession,
    Kind.AGENTS: Agent,
    Kind.TEAMS: Team,
    Kind.CAMPAIGNS: Campaign,
    Kind.LISTS: CallList,
}


def _records(path: Path, model: type[BaseModel], zone: ZoneInfo, bad: list[int]) -> Iterator[Any]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                yield model.model_validate(json.loads(line), context={DATA_ZONE: zone})
            except json.JSONDecodeError as exc:
                console.print(f"[red]error:[/red] line {number}: not JSON ({exc.msg})")
                bad.append(number)
            except ValidationError as exc:
                print_invalid(exc, where=f"line {number}: ")
                bad.append(number)


@data_app.command("import")
def import_records(
    kind: Annotated[Kind, typer.Argument(help="What the file holds.")],
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines file.")],
) -> None:
    """Load records from a JSON Lines file (calls are folded into the daily roll-ups).

    Example: herald data import calls exports/calls-2026-11-26.jsonl
    """
    bad: list[int] = []

    async def load() -> int:
        settings = Settings()
        async with open_database(settings) as db:
            store = CallStore(db, settings.data_zone)
            written, batch = 0, []
            for record in _records(path, MODELS[kind], settings.data_zone, bad):
                batch.append(record)
                if len(batch) >= _BATCH:
                    written += await _write(store, kind, batch)
                    batch = []
            return written + await _write(store, kind, batch)

    written = _run_writing(load())
    console.print(f"{written} new {kind.value} stored; {len(bad)} bad line(s)")
    if bad:
        raise typer.Exit(1)


async def _write(store: CallStore, kind: Kind, batch: list[Any]) -> int:
    if not batch:
        return 0
    if kind is Kind.CALLS:
        return await store.ingest(batch)
    await store.put(batch)
    return len(batch)


@data_app.command("rollup")
def rollup(
    tenant: Annotated[str, typer.Option(help="Tenant whose day to recompute.")],
    day: Annotated[list[str], typer.Option(help="Local day, YYYY-MM-DD (repeatable).")],
) -> None:
    """Recompute days' roll-ups from their stored calls (after writing calls directly).

    Example: herald data rollup --tenant acme --day 2026-11-26
    """
    try:
        days = [date.fromisoformat(value) for value in day]
    except ValueError as exc:
        console.print(f"[red]error:[/red] --day: {exc}")
        raise typer.Exit(1) from exc

    async def rebuild() -> None:
        settings = Settings()
        async with open_database(settings) as db:
            store = CallStore(db, settings.data_zone)
            for one in days:
                await store.rebuild_rollups(tenant, one)

    _run_writing(rebuild())
    console.print(f"roll-ups of {len(days)} day(s) rebuilt for tenant {tenant!r}")
