"""What the renderer's use case needs beyond the shared ports, as Protocols.

The report source (`reports/source.ReportSource`) and the PDF printer
(`formats/page.PdfPrinter`) are ports of their own modules; the adapters are
`render.Renderer` and `shares.ShareStore`, the fakes `tests/fakes/renderer.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from herald.services.renderer.render import Rendered
from herald.shared.contract.messages import RunDetails
from herald.shared.contract.tenant_settings import TenantCompliance
from herald.shared.ports import StoredArtifact
from herald.shared.runs.brand import Brand


@dataclass(frozen=True, slots=True)
class Complete:
    """An artifact with every companion it names: a finished render."""

    artifact: StoredArtifact
    companions: tuple[StoredArtifact, ...]


class RunRenderer(Protocol):
    """Turns a due run into stored artifacts."""

    async def render(self, tenant_id: str, schedule_id: str, run: RunDetails) -> Rendered:
        """The run's artifact, written last; None in it when empty and skipped."""

    async def brand(self, tenant_id: str) -> Brand:
        """The brand the tenant's renders show now (part of what makes two renders alike)."""

    def compliance(self, tenant_id: str) -> TenantCompliance:
        """The abandon-rate ceiling the tenant's reports flag now (part of it too)."""


class ShareIndex(Protocol):
    """Finished renders by content key, so identical runs render once."""

    async def definition(self, tenant_id: str, report_id: str) -> str | None:
        """A saved custom report's version; None when there is no such report."""

    async def find(self, key: str) -> Complete | None:
        """The render recorded under `key` if recent and complete; an unusable one is forgotten."""

    async def record(self, key: str, tenant_id: str, run_id: str, artifact_id: str) -> bool:
        """Offer a fresh render under `key`; False when another was recorded first."""
