"""`herald storage`: what each collection of Herald's database holds, and how long it keeps it.

Sizes come from the server's `collStats` (MongoDB, and FerretDB, which
answers it from PostgreSQL's table sizes), else `$collStats`; a server that
answers neither gets the document count alone.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from typing import Annotated, Any

import typer
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure
from rich.markup import escape
from rich.table import Table

from herald.cli.support import console, open_database, run
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings


@dataclass(frozen=True, slots=True)
class CollectionSize:
    collection: str
    documents: int
    #: Bytes of data, of storage on disk and of its indexes; None where the server does not say.
    data_bytes: int | None
    storage_bytes: int | None
    index_bytes: int | None
    #: What bounds it (docs/operations.md, "Retention"); empty: kept until deleted.
    retention: str


def retention_of(settings: Settings) -> dict[str, str]:
    """Each bounded collection's rule, in words."""
    kept = settings.retention
    share_s = kept.shares_s or 2 * settings.renderer.share_ttl_s
    artifact_days = (
        kept.artifacts_days + (settings.renderer.share_ttl_s + settings.longest_run_s) / 86400
    )
    artifacts = f"{artifact_days:.1f} days after upload"
    ledger = f"{kept.ledger_days} days after the acceptance (a receipt) or the claim"
    logos = (
        f"{kept.logos_days} days after no tenant names the logo, "
        f"then {kept.every_s / 3600:g} h in the bin"
    )
    return {
        "runs": f"{kept.runs_days} days after a run is final",
        "commands": f"{kept.commands_days} days",
        "timers": f"until rung; a final run's leftover after {kept.timers_s / 3600:g} h",
        "sends": ledger,
        "send_takeovers": f"{kept.ledger_days} days",
        "send_volume": "2 days",
        "render_shares": f"{share_s / 3600:g} h",
        "artifacts.files": artifacts,
        "artifacts.chunks": artifacts,
        "brand_assets.files": logos,
        "brand_assets.chunks": logos,
        "logo_trash": "while a logo is in the bin",
        "logo_verdicts": "while a logo is in the bin",
    }


def _number(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


async def collection_size(db: AsyncDatabase[Document], name: str, rule: str) -> CollectionSize:
    try:
        stats = await db.command("collStats", name)
    except OperationFailure:
        stats = None
    if stats is None:
        try:
            found = await (
                await db[name].aggregate([{"$collStats": {"storageStats": {}}}])
            ).to_list()
            stats = found[0]["storageStats"] if found else None
        except (OperationFailure, KeyError):
            stats = None
    if stats is None or _number(stats.get("count")) is None:
        count = await db[name].count_documents({})
        return CollectionSize(name, count, None, None, None, rule)
    return CollectionSize(
        name,
        int(stats["count"]),
        _number(stats.get("size")),
        _number(stats.get("storageSize")),
        _number(stats.get("totalIndexSize")),
        rule,
    )


async def database_sizes(db: AsyncDatabase[Document], settings: Settings) -> list[CollectionSize]:
    rules = retention_of(settings)
    names = sorted(n for n in await db.list_collection_names() if not n.startswith("system."))
    return [await collection_size(db, name, rules.get(name, "")) for name in names]


def _bytes(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _total(values: list[int | None]) -> int | None:
    return None if any(v is None for v in values) else sum(v or 0 for v in values)


def storage_command(
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object instead of a table.")
    ] = False,
) -> None:
    """Size and document count of every collection in Herald's database, and its retention.

    Example: herald storage --json
    """
    settings = Settings()

    async def measure() -> list[CollectionSize]:
        async with open_database(settings) as db:
            return await database_sizes(db, settings)

    sizes = run(measure())
    totals = {
        "documents": sum(s.documents for s in sizes),
        "data_bytes": _total([s.data_bytes for s in sizes]),
        "storage_bytes": _total([s.storage_bytes for s in sizes]),
        "index_bytes": _total([s.index_bytes for s in sizes]),
    }
    if as_json:
        shown = {
            "database": settings.mongo.database,
            "collections": [asdict(s) for s in sizes],
            "totals": totals,
        }
        sys.stdout.write(json.dumps(shown) + "\n")
        return
    table = Table(
        "collection",
        "documents",
        "data",
        "storage",
        "indexes",
        "retention",
        title=f"database {escape(settings.mongo.database)}",
    )
    for size in sizes:
        table.add_row(
            escape(size.collection),
            f"{size.documents:,}",
            _bytes(size.data_bytes),
            _bytes(size.storage_bytes),
            _bytes(size.index_bytes),
            escape(size.retention),
        )
    table.add_section()
    table.add_row(
        "total",
        f"{totals['documents']:,}",
        _bytes(totals["data_bytes"]),
        _bytes(totals["storage_bytes"]),
        _bytes(totals["index_bytes"]),
        "",
    )
    console.print(table)
