"""GridFS artifacts on the real server (FerretDB here): big round trips, no orphans."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.shared.runtime.artifacts import BUCKET, CHUNK_SIZE, ArtifactStore
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.helpers import settings_env

pytestmark = pytest.mark.integration

MB = 1024 * 1024


async def _pieces(data: bytes, size: int, fail_after: int | None = None) -> AsyncIterator[bytes]:
    for n, offset in enumerate(range(0, len(data), size)):
        if fail_after is not None and n == fail_after:
            raise ConnectionResetError("source went away mid-stream")
        yield data[offset : offset + size]


async def test_a_20_mb_artifact_round_trips_through_the_async_bucket(
    db: AsyncDatabase[Document],
) -> None:
    data = os.urandom(20 * MB)
    store = ArtifactStore(db)
    stored = await store.put(
        "run-1/csv",
        "big.csv",
        "text/csv",
        _pieces(data, MB),
        {"run_id": "run-1"},
        late_metadata=lambda: {"rows": 42},
    )
    assert stored.size == 20 * MB
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    found = await store.find("run-1/csv")
    assert found is not None
    assert found.metadata["rows"] == 42
    assert found.metadata["sha256"] == stored.sha256
    assert found.size == 20 * MB
    assert await store.read("run-1/csv") == data


async def test_an_upload_that_fails_half_way_leaves_nothing_and_can_be_redone(
    db: AsyncDatabase[Document],
) -> None:
    data = os.urandom(3 * MB)
    store = ArtifactStore(db)
    with pytest.raises(ConnectionResetError):
        await store.put("run-2/csv", "r.csv", "text/csv", _pieces(data, 256 * 1024, 8), {})
    assert await store.find("run-2/csv") is None
    assert await db[f"{BUCKET}.chunks"].count_documents({"files_id": "run-2/csv"}) == 0

    # A crash leaves chunks without a files document: the next upload clears them.
    await db[f"{BUCKET}.chunks"].insert_one({"files_id": "run-2/csv", "n": 0, "data": b"stale"})
    await store.put("run-2/csv", "r.csv", "text/csv", _pieces(data, 256 * 1024), {})
    assert await store.read("run-2/csv") == data
    chunks = await db[f"{BUCKET}.chunks"].count_documents({"files_id": "run-2/csv"})
    assert chunks == math.ceil(len(data) / CHUNK_SIZE)  # the stale one is gone


async def test_two_uploads_of_one_artifact_at_once_leave_one_whole_artifact(
    db: AsyncDatabase[Document],
) -> None:
    """A rebalance can hand a run to a second renderer while the first still renders it."""
    first, second = os.urandom(2 * MB), os.urandom(3 * MB)
    store = ArtifactStore(db)

    async def slow(data: bytes) -> AsyncIterator[bytes]:
        async for piece in _pieces(data, 256 * 1024):
            await asyncio.sleep(0.01)  # the two uploads interleave chunk by chunk
            yield piece

    a, b = await asyncio.gather(
        store.put("run-3/pdf", "a.pdf", "application/pdf", slow(first), {}),
        store.put("run-3/pdf", "b.pdf", "application/pdf", slow(second), {}),
    )
    assert a == b  # the loser hands back the winner's artifact
    winner = first if a.filename == "a.pdf" else second
    assert a.sha256 == hashlib.sha256(winner).hexdigest()
    assert await store.read("run-3/pdf") == winner
    chunks = db[f"{BUCKET}.chunks"]
    assert (
        await chunks.count_documents({"files_id": "run-3/pdf"}) == len(winner) // (255 * 1024) + 1
    )


def test_a_million_row_csv_renders_in_bounded_memory(
    settings: Settings, db: AsyncDatabase[Document]
) -> None:
    """Source rows stream through the CSV writer into GridFS; nothing holds them all."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.integration.million_rows"],
        env=os.environ | settings_env(settings),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rows"] == 1_000_000
    assert result["peak_mb"] < 200, result
