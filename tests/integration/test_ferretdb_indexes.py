"""FerretDB's lookups by `_id` and by an indexed field use an index (deploy/local/ferretdb-gin.sql).

Without it FerretDB 1.24 reads the whole table for every find, update and
delete: the cost of each would grow with the history, and a 10,000-run herd
slows to a crawl. MongoDB needs none of this.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.shared.history import store as history_store
from herald.shared.runtime.mongo import Document

pytestmark = pytest.mark.integration


def _scans(plan: dict[str, Any]) -> list[str]:
    """Every scan node of a PostgreSQL plan, by type."""
    nodes = [plan["Node Type"]] if "Scan" in plan["Node Type"] else []
    for child in plan.get("Plans", []):
        nodes += _scans(child)
    return nodes


async def _plan(db: AsyncDatabase[Document], collection: str, query: Document) -> list[str]:
    explained = await db.command("explain", {"find": collection, "filter": query})
    return _scans(explained["queryPlanner"]["Plan"])


async def test_lookups_by_id_and_by_an_indexed_field_read_an_index(
    db: AsyncDatabase[Document],
) -> None:
    if "ferretdbVersion" not in await db.command("buildInfo"):
        pytest.skip("MongoDB indexes `_id` and its own indexes itself")
    runs = db[history_store.RUNS]
    await history_store.ensure_indexes(runs)  # created before the documents, as services do
    await runs.insert_many(
        [
            {"_id": f"s{n}@r", "tenant_id": f"t{n % 50}", "status": "delivered", "pad": "x" * 400}
            for n in range(3000)
        ]
    )

    assert await _plan(db, history_store.RUNS, {"_id": "s7@r"}) == [
        "Bitmap Heap Scan",
        "Bitmap Index Scan",
    ]
    assert "Seq Scan" not in await _plan(db, history_store.RUNS, {"tenant_id": "t3"})
    assert "Seq Scan" not in await _plan(db, history_store.RUNS, {"_id": "s7@r", "rev": 2})
    # A field no index starts with is still read in full: the indexes follow `create_index`.
    assert await _plan(db, history_store.RUNS, {"status": "delivered"}) == ["Seq Scan"]


def _in_a_new_session(setting: str) -> str | None:
    """`setting` as a new session of the role FerretDB connects as sees it, on its
    database; None without a local PostgreSQL (`deploy/local/infra` runs one)."""
    psql = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))
    if not psql:
        return None
    as_owner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    port = os.environ.get("HERALD_LOCAL_PG_PORT", "15432")
    server = ["-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "ferretdb"]
    shown = subprocess.run(
        [*as_owner, str(psql[-1]), *server, "-Atc", f"SHOW {setting}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return shown.stdout.strip()


async def test_ferretdbs_sessions_plan_each_lookup_with_its_values(
    db: AsyncDatabase[Document],
) -> None:
    """FerretDB prepares its statements with the field as a parameter (`_jsonb->$1`);
    a generic plan of one cannot use an index. Measured on 3,000 creates in a row:
    with PostgreSQL's default the second run fell from 248/s to 121/s as its
    sessions settled on generic plans; planned with their values, 262/s and 265/s."""
    if "ferretdbVersion" not in await db.command("buildInfo"):
        pytest.skip("MongoDB plans its own queries")
    mode = await asyncio.to_thread(_in_a_new_session, "plan_cache_mode")
    if mode is None:
        pytest.skip("no local PostgreSQL under this FerretDB")
    assert mode == "force_custom_plan"
