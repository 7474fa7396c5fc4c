"""The `Artifacts` port in a dict, with GridFS's promises: first stored wins, found is complete."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, Callable
from typing import Any

from gridfs.errors import NoFile

from herald.shared.contract.messages import utcnow
from herald.shared.ports import StoredArtifact


class MemoryArtifacts:
    def __init__(self) -> None:
        self._files: dict[str, tuple[StoredArtifact, bytes]] = {}
        self.puts = 0
        self.reads = 0
        #: The ids looked up, in order.
        self.looked_up: list[str] = []

    async def find(self, file_id: str) -> StoredArtifact | None:
        self.looked_up.append(file_id)
        found = self._files.get(file_id)
        return found[0] if found else None

    async def put(
        self,
        file_id: str,
        filename: str,
        content_type: str,
        chunks: AsyncIterable[bytes],
        metadata: dict[str, Any],
        late_metadata: Callable[[], dict[str, Any]] = dict,
    ) -> StoredArtifact:
        self.puts += 1
        data = b"".join([chunk async for chunk in chunks])
        if file_id in self._files:  # another upload finished first: take its artifact
            return self._files[file_id][0]
        stored = StoredArtifact(
            artifact_id=file_id,
            filename=filename,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            metadata=metadata
            | late_metadata()
            | {
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "content_type": content_type,
                "filename": filename,
            },
            stored_at=utcnow(),
        )
        self._files[file_id] = (stored, data)
        return stored

    async def delete(self, file_id: str) -> None:
        self._files.pop(file_id, None)

    async def read(self, file_id: str) -> bytes:
        self.reads += 1
        if file_id not in self._files:
            raise NoFile(f"no artifact {file_id!r}")
        return self._files[file_id][1]

    def ids(self) -> set[str]:
        return set(self._files)
