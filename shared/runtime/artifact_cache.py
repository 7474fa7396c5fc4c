"""Artifacts read once per process: a byte-bounded LRU cache in front of any `Artifacts`.

An artifact never changes under its id (the first upload wins, `find` sees
only complete ones), so bytes read once stay right for the life of the
process; many runs share one render, and a run's every recipient and every
redelivery read the same files. Only complete reads are kept: a read that
fails raises to everyone waiting on it and leaves nothing behind. Reads of
one missing id at once are one read (single flight). A `delete` drops the
id, so a later upload under it is read afresh. Writes and lookups go through.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterable, Callable
from functools import partial
from typing import Any

from herald.shared.ports import Artifacts, StoredArtifact

#: Bytes kept by default: a few hundred typical attachments.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class CachedArtifacts:
    """The `Artifacts` port, each artifact's bytes read from `inner` once while it fits."""

    def __init__(self, inner: Artifacts, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._inner = inner
        self._max_bytes = max_bytes
        self._kept: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._reading: dict[str, asyncio.Future[bytes]] = {}

    @property
    def size(self) -> int:
        """Bytes held now; never more than `max_bytes`."""
        return self._size

    async def find(self, file_id: str) -> StoredArtifact | None:
        return await self._inner.find(file_id)

    async def put(
        self,
        file_id: str,
        filename: str,
        content_type: str,
        chunks: AsyncIterable[bytes],
        metadata: dict[str, Any],
        late_metadata: Callable[[], dict[str, Any]] = dict,
    ) -> StoredArtifact:
        return await self._inner.put(
            file_id, filename, content_type, chunks, metadata, late_metadata
        )

    async def delete(self, file_id: str) -> None:
        await self._inner.delete(file_id)
        self._reading.pop(file_id, None)  # a read under way may return the deleted bytes
        self._forget(file_id)

    async def read(self, file_id: str) -> bytes:
        kept = self._kept.get(file_id)
        if kept is not None:
            self._kept.move_to_end(file_id)
            return kept
        reading = self._reading.get(file_id)
        if reading is None:
            reading = asyncio.ensure_future(self._inner.read(file_id))
            self._reading[file_id] = reading
            reading.add_done_callback(partial(self._settle, file_id))
        # Shielded: one reader cancelled does not cancel the read the others wait on.
        return await asyncio.shield(reading)

    def _settle(self, file_id: str, reading: asyncio.Future[bytes]) -> None:
        if self._reading.get(file_id) is not reading:
            return  # deleted while it was read
        del self._reading[file_id]
        if not reading.cancelled() and reading.exception() is None:
            self._keep(file_id, reading.result())

    def _keep(self, file_id: str, data: bytes) -> None:
        if len(data) > self._max_bytes:
            return  # larger than the whole cache: read through every time
        self._forget(file_id)
        self._kept[file_id] = data
        self._size += len(data)
        while self._size > self._max_bytes:
            _, evicted = self._kept.popitem(last=False)
            self._size -= len(evicted)

    def _forget(self, file_id: str) -> None:
        dropped = self._kept.pop(file_id, None)
        if dropped is not None:
            self._size -= len(dropped)
