"""Report artifacts in the GridFS bucket `artifacts`.

One artifact per run and part, with a deterministic `_id`
(`<run_id>/<part>`), so "is this run already rendered?" is an `_id` lookup
(cheap on MongoDB and FerretDB alike) and a duplicate `ReportDue` can never
make a second copy. A files document exists only once its upload finished, so
its presence means "complete".

Two uploads of one artifact can run at once (a rebalance hands a run to a
second renderer while the first is still at it). Each upload tags its chunks
with its own `attempt` id and names it in the files document; the first files
document inserted wins, the loser removes its own chunks and takes the
winner's artifact, and the winner removes chunks of any other attempt
(including those an interrupted upload left). Reads follow the files
document's attempt, so they never mix two uploads' chunks.

CSV is stored gzip-encoded (`metadata.content_encoding`): a CDR's text
shrinks about five-fold, so the database takes a fifth of the bytes, which on
FerretDB (every chunk a JSONB row) is most of a CSV's writing time. The files
document's `length` is the stored bytes, `metadata.size` and `metadata.sha256`
the content's; `read` gives the content.
"""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import timedelta
from typing import Any

from bson import Binary, ObjectId
from gridfs.errors import CorruptGridFile, NoFile
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from herald.shared.contract.messages import utcnow
from herald.shared.ports import StoredArtifact
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.retention import DayBuckets, delete_by_id, expiry_fields

BUCKET = "artifacts"
#: Tenants' logos, by `logo-<sha256>`: written by the scheduler, read by renderer and mailer.
BRAND_BUCKET = "brand_assets"
#: When an artifact's upload finished (GridFS's own field) and that day: what it
#: expires by (retention, the renderer's clean-up).
UPLOADED_AT = "uploadDate"
UPLOADED_DAY = "upload_day"
#: Bigger than GridFS's default 255 KB: FerretDB stores a document per row, and
#: a few 1 MB rows ingest at twice the bytes per second of many small ones.
#: Readers take the size from each files document, so older artifacts still read.
CHUNK_SIZE = 1024 * 1024
#: Chunks per insert, and inserts under way at once: the database writes one
#: batch while the next is produced: about 12 MB of chunks in memory at most.
_CHUNKS_PER_INSERT = 4
_INSERTS_IN_FLIGHT = 2
#: Content types stored gzip-encoded, and how: level 1 compresses a CDR 5.6-fold at
#: 180 MB/s here; higher levels gain little on such text for several times the CPU.
GZIPPED_TYPES = ("text/csv",)
GZIP = "gzip"
_GZIP_LEVEL = 1
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class _Gzip:
    """Content to its gzip encoding a chunk at a time, in a thread (zlib lets go of the
    GIL) and one step behind: the stream makes the next chunk while the last is encoded."""

    def __init__(self) -> None:
        self._zlib = zlib.compressobj(_GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
        self._raw = bytearray()
        self._encoding: asyncio.Future[bytes] | None = None

    async def add(self, piece: bytes) -> bytes:
        """What is encoded so far that was not returned yet (often nothing)."""
        self._raw += piece
        if len(self._raw) < CHUNK_SIZE:
            return b""
        raw = bytes(self._raw)
        self._raw.clear()
        done = await self.settle()
        self._encoding = asyncio.ensure_future(asyncio.to_thread(self._zlib.compress, raw))
        return done

    async def end(self) -> bytes:
        """The rest of the encoding, the gzip trailer included."""
        done = await self.settle()
        raw = bytes(self._raw)
        return done + await asyncio.to_thread(lambda: self._zlib.compress(raw) + self._zlib.flush())

    async def settle(self) -> bytes:
        """The encoding under way, once done (also to leave nothing running on a failure)."""
        encoding, self._encoding = self._encoding, None
        return await encoding if encoding is not None else b""


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    """Content already in memory (a logo), as `ArtifactStore.put` takes it."""
    yield data


def _chunk(file_id: str, attempt: ObjectId, number: int, data: bytearray) -> Document:
    return {
        "_id": ObjectId(),
        "files_id": file_id,
        "n": number,
        "data": Binary(data),
        "attempt": attempt,
    }


def _attempt(doc: Document) -> Any:
    """The upload a files document names (`metadata.attempt`), or None for a file stored
    without one."""
    return (doc.get("metadata") or {}).get("attempt")


def _own_chunks(doc: Document) -> Document:
    """The chunks of the upload a files document names, not a newer upload's under its id."""
    query: Document = {"files_id": doc["_id"]}
    if (attempt := _attempt(doc)) is not None:
        query["attempt"] = attempt
    return query


class ArtifactStore:
    """The `Artifacts` port on GridFS."""

    def __init__(self, db: AsyncDatabase[Document], bucket: str = BUCKET) -> None:
        self._db = db
        self._bucket = bucket

    async def ensure_indexes(self) -> None:
        """Chunks by their artifact and upload, in order: every chunk read and delete asks so.

        Not GridFS's unique `(files_id, n)`: two uploads of one artifact may hold the
        same chunk number for a while. Without it each lookup read every chunk stored,
        a cost growing with the bucket (on FerretDB it is the `files_id` GIN index of
        `ferretdb-gin.sql` that serves them).
        """
        await self._db[f"{self._bucket}.chunks"].create_index(
            [("files_id", ASCENDING), ("attempt", ASCENDING), ("n", ASCENDING)]
        )

    async def find(self, file_id: str) -> StoredArtifact | None:
        doc = await self._db[f"{self._bucket}.files"].find_one({"_id": file_id})
        if doc is None:
            return None
        metadata: dict[str, Any] = doc.get("metadata") or {}
        return StoredArtifact(
            artifact_id=file_id,
            filename=doc["filename"],
            content_type=metadata.get("content_type", "application/octet-stream"),
            size=int(metadata["size"] if "size" in metadata else doc["length"]),
            sha256=metadata.get("sha256", ""),
            metadata=metadata,
            stored_at=doc[UPLOADED_AT],
        )

    async def put(
        self,
        file_id: str,
        filename: str,
        content_type: str,
        chunks: AsyncIterable[bytes],
        metadata: dict[str, Any],
        late_metadata: Callable[[], dict[str, Any]] = dict,
    ) -> StoredArtifact:
        """Stream `chunks` into GridFS; on any failure nothing of the upload remains.

        Written to the GridFS layout directly (chunks, then the files document),
        a few chunks per insert: PyMongo's own upload stream buffers up to 48 MB
        of chunks before writing, which a million-row CSV would hold in memory.
        `late_metadata` is read once the stream is consumed (a row count, say).
        """
        attempt = ObjectId()
        digest = hashlib.sha256()
        gzip = _Gzip() if content_type.startswith(GZIPPED_TYPES) else None
        size, stored, number = 0, 0, 0
        pending = bytearray()
        batch: list[Document] = []
        inserts: deque[asyncio.Task[Any]] = deque()
        chunk_docs = self._db[f"{self._bucket}.chunks"]

        async def insert(docs: list[Document]) -> None:
            if len(inserts) >= _INSERTS_IN_FLIGHT:
                await inserts.popleft()
            inserts.append(asyncio.create_task(chunk_docs.insert_many(docs)))

        async def drop_own_chunks() -> None:
            # An insert still under way would land after the delete: let it end first.
            if gzip is not None:
                await asyncio.gather(gzip.settle(), return_exceptions=True)
            await asyncio.gather(*inserts, return_exceptions=True)
            await chunk_docs.delete_many({"files_id": file_id, "attempt": attempt})

        async def encoded() -> AsyncIterator[bytes]:
            nonlocal size
            async for piece in chunks:
                digest.update(piece)
                size += len(piece)
                yield piece if gzip is None else await gzip.add(piece)
            if gzip is not None:
                yield await gzip.end()

        try:
            async for piece in encoded():
                stored += len(piece)
                pending += piece
                while len(pending) >= CHUNK_SIZE:
                    batch.append(_chunk(file_id, attempt, number, pending[:CHUNK_SIZE]))
                    del pending[:CHUNK_SIZE]
                    number += 1
                if len(batch) >= _CHUNKS_PER_INSERT:
                    await insert(batch)
                    batch = []
            if pending:
                batch.append(_chunk(file_id, attempt, number, pending))
            if batch:
                await insert(batch)
            while inserts:
                await inserts.popleft()
            stored_at = utcnow()
            full_metadata = (
                metadata
                | late_metadata()
                | {
                    "sha256": digest.hexdigest(),
                    "size": size,
                    "content_type": content_type,
                    "filename": filename,
                    "attempt": attempt,
                }
                | ({"content_encoding": GZIP} if gzip is not None else {})
            )
            await self._db[f"{self._bucket}.files"].insert_one(
                {
                    "_id": file_id,
                    "length": stored,
                    "chunkSize": CHUNK_SIZE,
                    "filename": filename,
                    "metadata": full_metadata,
                }
                | expiry_fields(UPLOADED_AT, UPLOADED_DAY, stored_at)
            )
        except DuplicateKeyError:
            await drop_own_chunks()
            winner = await self.find(file_id)
            if winner is None:  # deleted since: the caller's retry uploads again
                raise
            return winner
        except BaseException:
            await drop_own_chunks()
            raise
        await chunk_docs.delete_many({"files_id": file_id, "attempt": {"$ne": attempt}})
        return StoredArtifact(
            file_id, filename, content_type, size, digest.hexdigest(), full_metadata, stored_at
        )

    async def delete(self, file_id: str) -> None:
        """Remove an artifact and its chunks; a missing one is not an error."""
        await self._db[f"{self._bucket}.files"].delete_one({"_id": file_id})
        await self._db[f"{self._bucket}.chunks"].delete_many({"files_id": file_id})

    def expiry(self, keep: timedelta, lookback_days: int) -> DayBuckets:
        """The bucket's uploads older than `keep`, for a service's clean-up (retention).

        Always swept, MongoDB included: a TTL index would remove the files
        documents and leave their chunks. Each goes chunks first (its own
        upload's), then its files document, so an interrupted removal leaves
        a files document the next pass finds again, never chunks nobody names.
        """
        return DayBuckets(
            self._db[f"{self._bucket}.files"],
            UPLOADED_AT,
            UPLOADED_DAY,
            keep,
            lookback_days=lookback_days,
            ttl=False,
            fields={"metadata.attempt": 1},
            remove=self._remove_uploads,
            name=self._bucket,
        )

    async def _remove_uploads(self, day: str, docs: list[Document]) -> None:
        for doc in docs:
            await self._db[f"{self._bucket}.chunks"].delete_many(_own_chunks(doc))
        await delete_by_id(self._db[f"{self._bucket}.files"], docs, {UPLOADED_DAY: day})

    async def remove_upload(self, doc: Document) -> None:
        """The upload a files document names (`_id`, `metadata.attempt`): its chunks, then
        the document; an upload stored under the same id since stays whole."""
        await self._db[f"{self._bucket}.chunks"].delete_many(_own_chunks(doc))
        query: Document = {"_id": doc["_id"]}
        if (attempt := _attempt(doc)) is not None:
            query["metadata.attempt"] = attempt
        await self._db[f"{self._bucket}.files"].delete_one(query)

    async def read(self, file_id: str) -> bytes:
        """The artifact's bytes from its own upload's chunks; NoFile when it does not exist."""
        doc = await self._db[f"{self._bucket}.files"].find_one({"_id": file_id})
        if doc is None:
            raise NoFile(f"no artifact {file_id!r}")
        metadata: dict[str, Any] = doc.get("metadata") or {}
        chunks = (
            self._db[f"{self._bucket}.chunks"]
            .find(_own_chunks(doc), {"data": 1, "n": 1})
            .sort("n", 1)
        )
        data = bytearray()
        number = 0
        async for chunk in chunks:
            if chunk["n"] != number:
                raise CorruptGridFile(f"artifact {file_id!r}: chunk {number} missing")
            data += chunk["data"]
            number += 1
        if len(data) != doc["length"]:
            raise CorruptGridFile(f"artifact {file_id!r}: {len(data)} of {doc['length']} bytes")
        if metadata.get("content_encoding") == GZIP:
            return await asyncio.to_thread(zlib.decompress, data, _GZIP_WBITS)
        return bytes(data)
