"""What more than one service needs from outside, as Protocols.

Use cases take these (and their service's own `ports.py`), never a broker or a
database: the adapters live in `runtime/`, in-memory fakes in `tests/fakes/`,
so every use case runs in unit tests without a server.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from herald.shared.contract.messages import Envelope, TenantSettings


class TenantDirectory(Protocol):
    """Each tenant's latest settings (`runtime.tenant_table.TenantTable`)."""

    def settings(self, tenant_id: str) -> TenantSettings | None:
        """None: the tenant set none, the environment's defaults apply."""


class Publisher(Protocol):
    """Where a stage's messages go: each on its topic, keyed by its schedule."""

    async def publish(self, *messages: Envelope) -> None:
        """Returns once every message is acknowledged."""


def artifact_id(run_id: str, part: str) -> str:
    """Deterministic: "is this run's part stored?" is one lookup, and a redelivery never copies."""
    return f"{run_id}/{part}"


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    artifact_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    metadata: dict[str, Any]
    #: When it was stored: what a stage reports it happened at, the same on every repeat.
    stored_at: datetime


class Artifacts(Protocol):
    """Rendered files by id (GridFS); one that is found is complete."""

    async def find(self, file_id: str) -> StoredArtifact | None: ...

    async def put(
        self,
        file_id: str,
        filename: str,
        content_type: str,
        chunks: AsyncIterable[bytes],
        metadata: dict[str, Any],
        late_metadata: Callable[[], dict[str, Any]] = dict,
    ) -> StoredArtifact:
        """Store the streamed bytes; `late_metadata` is read once they are all written.

        Two puts of one id: the first stored wins and both return it.
        """

    async def delete(self, file_id: str) -> None:
        """A missing artifact is not an error."""

    async def read(self, file_id: str) -> bytes: ...
