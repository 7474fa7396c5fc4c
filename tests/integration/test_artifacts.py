"""GridFS artifacts on the real server (FerretDB here): big round trips, no orphans.

The `Artifacts` port's promises run on `ArtifactStore` and on the fake
`MemoryArtifacts` alike (the renderer's and mailer's unit tests stand on the
fake); the tests after them are the GridFS store's own: chunking, racing
uploads, bounded memory.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import math
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from gridfs.errors import NoFile
from pymongo.asynchronous.database import AsyncDatabase

from herald.shared.ports import Artifacts
from herald.shared.runtime.artifacts import BUCKET, CHUNK_SIZE, ArtifactStore
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.fakes.artifacts import MemoryArtifacts
from tests.helpers import settings_env
from tests.integration.contract import SIDES, database

pytestmark = pytest.mark.integration

MB = 1024 * 1024
PDF = "application/pdf"


async def _pieces(data: bytes, size: int, fail_after: int | None = None) -> AsyncIterator[bytes]:
    for n, offset in enumerate(range(0, len(data), size)):
        if fail_after is not None and n == fail_after:
            raise ConnectionResetError("source went away mid-stream")
        yield data[offset : offset + size]


@pytest.fixture(params=SIDES)
def artifacts(request: pytest.FixtureRequest) -> Artifacts:
    db = database(request)
    return MemoryArtifacts() if db is None else ArtifactStore(db)


async def _store(artifacts: Artifacts, file_id: str, data: bytes) -> None:
    await artifacts.put(file_id, "r.csv", "text/csv", _pieces(data, 100 * 1024), {})


async def test_a_stored_artifact_is_found_and_read_back_as_stored(artifacts: Artifacts) -> None:
    """`late_metadata` is read once every byte is in: a CSV's row count is known only then."""
    data = os.urandom(600 * 1024)  # more than one GridFS chunk
    pieces = 0

    async def counted() -> AsyncIterator[bytes]:
        nonlocal pieces
        async for piece in _pieces(data, 100 * 1024):
            pieces += 1
            yield piece

    stored = await artifacts.put(
        "run-1/csv",
        "report.csv",
        "text/csv",
        counted(),
        {"run_id": "run-1", "rows": None, "companions": ["run-1/full.csv"]},
        late_metadata=lambda: {"rows": pieces},
    )
    digest = hashlib.sha256(data).hexdigest()
    described = {"filename": "report.csv", "content_type": "text/csv", "size": len(data)}
    assert stored.artifact_id == "run-1/csv"
    assert {key: getattr(stored, key) for key in described} == described
    assert stored.sha256 == digest
    given = {"run_id": "run-1", "rows": 6, "companions": ["run-1/full.csv"]}  # rows: the late one
    assert stored.metadata.items() >= (given | described | {"sha256": digest}).items()
    assert await artifacts.find("run-1/csv") == stored
    assert await artifacts.read("run-1/csv") == data


async def test_an_empty_artifact_is_stored_too(artifacts: Artifacts) -> None:
    """An empty CSV is a report too (with `skip_if_empty` off)."""
    await _store(artifacts, "run-1/csv", b"")
    found = await artifacts.find("run-1/csv")
    assert found is not None
    assert (found.size, found.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert await artifacts.read("run-1/csv") == b""


async def test_of_two_puts_of_one_artifact_the_first_stored_wins(artifacts: Artifacts) -> None:
    """A redelivered `ReportDue` never replaces what a mailer may already be sending."""
    first = await artifacts.put("run-1/pdf", "a.pdf", "application/pdf", _pieces(b"A" * 9, 4), {})
    second = await artifacts.put("run-1/pdf", "b.pdf", "application/pdf", _pieces(b"B" * 5, 4), {})
    assert second == first
    assert await artifacts.find("run-1/pdf") == first
    assert await artifacts.read("run-1/pdf") == b"A" * 9


async def test_a_deleted_artifact_is_gone_and_can_be_stored_again(artifacts: Artifacts) -> None:
    await artifacts.delete("never-stored/csv")  # not an error
    await _store(artifacts, "run-1/csv", b"old")
    await artifacts.delete("run-1/csv")
    assert await artifacts.find("run-1/csv") is None
    with pytest.raises(NoFile):
        await artifacts.read("run-1/csv")
    await artifacts.delete("run-1/csv")  # twice is fine too
    await _store(artifacts, "run-1/csv", b"new")
    assert await artifacts.read("run-1/csv") == b"new"


async def test_reading_a_missing_artifact_raises(artifacts: Artifacts) -> None:
    assert await artifacts.find("never-stored/csv") is None
    with pytest.raises(NoFile):
        await artifacts.read("never-stored/csv")


async def test_a_put_whose_stream_fails_stores_nothing(artifacts: Artifacts) -> None:
    """The source's error reaches the caller, whose retry then stores the whole artifact."""
    data = os.urandom(600 * 1024)
    with pytest.raises(ConnectionResetError):
        await artifacts.put("run-1/csv", "r.csv", "text/csv", _pieces(data, 100 * 1024, 3), {})
    assert await artifacts.find("run-1/csv") is None
    await _store(artifacts, "run-1/csv", data)
    assert await artifacts.read("run-1/csv") == data


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
    """It fails with chunk inserts written and under way: none of them is left behind."""
    data = os.urandom(10 * CHUNK_SIZE)
    store = ArtifactStore(db)
    with pytest.raises(ConnectionResetError):
        await store.put("run-2/pdf", "r.pdf", PDF, _pieces(data, 256 * 1024, 32), {})
    await asyncio.sleep(1)  # an insert the cleanup did not wait for would have landed by now
    assert await store.find("run-2/pdf") is None
    assert await db[f"{BUCKET}.chunks"].count_documents({"files_id": "run-2/pdf"}) == 0

    # A crash leaves chunks without a files document: the next upload clears them.
    await db[f"{BUCKET}.chunks"].insert_one({"files_id": "run-2/pdf", "n": 0, "data": b"stale"})
    await store.put("run-2/pdf", "r.pdf", PDF, _pieces(data, 256 * 1024), {})
    assert await store.read("run-2/pdf") == data
    chunks = await db[f"{BUCKET}.chunks"].count_documents({"files_id": "run-2/pdf"})
    assert chunks == math.ceil(len(data) / CHUNK_SIZE)  # the stale one is gone


async def test_a_csv_is_stored_gzip_encoded_and_read_as_its_text(
    db: AsyncDatabase[Document],
) -> None:
    """A few MB of CSV: the chunks hold its gzip encoding, as any gzip reader (the platform
    serving the file) decodes it; size, sha256 and `read` are the text's. A failure half
    way, with an encoding under way, leaves nothing."""
    rows = (f"2026-11-02,call-{n:07d},outbound,Rückgewinnung,{n % 97}\r\n" for n in range(90_000))
    text = "".join(rows).encode()
    store = ArtifactStore(db)
    with pytest.raises(ConnectionResetError):
        await store.put("run-4/csv", "r.csv", "text/csv", _pieces(text, 64 * 1024, 40), {})
    assert await db[f"{BUCKET}.chunks"].count_documents({"files_id": "run-4/csv"}) == 0

    stored = await store.put("run-4/csv", "r.csv", "text/csv", _pieces(text, 64 * 1024), {})
    assert (stored.size, stored.sha256) == (len(text), hashlib.sha256(text).hexdigest())
    files = await db[f"{BUCKET}.files"].find_one({"_id": "run-4/csv"})
    assert files is not None
    assert files["metadata"]["content_encoding"] == "gzip"
    assert files["length"] < len(text) / 3, "compressed"
    chunks = db[f"{BUCKET}.chunks"].find({"files_id": "run-4/csv"}).sort("n", 1)
    raw = b"".join([chunk["data"] async for chunk in chunks])
    assert len(raw) == files["length"]
    assert gzip.decompress(raw) == text
    assert await store.read("run-4/csv") == text
    found = await store.find("run-4/csv")
    assert found is not None
    assert found.size == len(text)


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
    assert await chunks.count_documents({"files_id": "run-3/pdf"}) == math.ceil(
        len(winner) / CHUNK_SIZE
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


async def test_chunks_are_indexed_by_their_artifact(db: AsyncDatabase[Document]) -> None:
    """Every chunk read and delete asks by `files_id`: unindexed, each scanned the bucket."""
    store = ArtifactStore(db)
    await store.ensure_indexes()
    await store.ensure_indexes()  # at every start: a second time changes nothing
    indexes = await db[f"{BUCKET}.chunks"].index_information()
    keys = [list(index["key"]) for index in indexes.values()]
    assert [("files_id", 1), ("attempt", 1), ("n", 1)] in keys
