"""Report artifacts in the GridFS bucket `artifacts`.

One artifact per run and part, with a deterministic `_id`
(`<run_id>/<part>`), so "is this run already rendered?" is an `_id` lookup
(cheap on MongoDB and FerretDB alike) and a duplicate `ReportDue` can never
make a second copy. A files document exists only once its upload finished, so
its presence means "complete"; chunks left by an upload that died half-way are
removed before the next try.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from typing import Any

from gridfs import AsyncGridFSBucket
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document

BUCKET = "artifacts"


def artifact_id(run_id: str, part: str) -> str:
    return f"{run_id}/{part}"


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    artifact_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    metadata: dict[str, Any]


class ArtifactStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
        self._bucket = AsyncGridFSBucket(db, bucket_name=BUCKET)

    async def find(self, file_id: str) -> StoredArtifact | None:
        doc = await self._db[f"{BUCKET}.files"].find_one({"_id": file_id})
        if doc is None:
            return None
        metadata: dict[str, Any] = doc.get("metadata") or {}
        return StoredArtifact(
            artifact_id=file_id,
            filename=doc["filename"],
            content_type=metadata.get("content_type", "application/octet-stream"),
            size=int(doc["length"]),
            sha256=metadata.get("sha256", ""),
            metadata=metadata,
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

        `late_metadata` is read once the stream is consumed (a row count, say).
        """
        # A retry replaces whatever an earlier, interrupted attempt left under this id.
        await self.delete(file_id)
        digest = hashlib.sha256()
        size = 0
        upload = self._bucket.open_upload_stream_with_id(file_id, filename)
        try:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                await upload.write(chunk)
            full_metadata = (
                metadata
                | late_metadata()
                | {
                    "sha256": digest.hexdigest(),
                    "size": size,
                    "content_type": content_type,
                    "filename": filename,
                }
            )
            await upload.set("metadata", full_metadata)
            await upload.close()
        except BaseException:
            await upload.abort()
            raise
        return StoredArtifact(
            file_id, filename, content_type, size, digest.hexdigest(), full_metadata
        )

    async def delete(self, file_id: str) -> None:
        """Remove an artifact and its chunks; a missing one is not an error."""
        await self._db[f"{BUCKET}.files"].delete_one({"_id": file_id})
        await self._db[f"{BUCKET}.chunks"].delete_many({"files_id": file_id})

    async def read(self, file_id: str) -> bytes:
        stream = await self._bucket.open_download_stream(file_id)
        return await stream.read()
