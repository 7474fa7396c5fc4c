"""The renderer's ports in memory: the share index, the report source, the PDF printer,
the reference data that names the filters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from herald.services.renderer.calldata.records import Dimension
from herald.services.renderer.calldata.store import DIMENSIONS
from herald.services.renderer.ports import Complete
from herald.services.renderer.reports.chart import Chart
from herald.services.renderer.reports.model import ReportData, ReportRequest
from herald.services.renderer.shares import complete
from herald.shared.ports import Artifacts


class MemoryShares:
    """`ShareIndex` with ShareStore's promises: the first record wins; a share older than
    the TTL, or whose artifacts are gone, is not reused and its record is dropped.

    Both keep the promises of `tests/integration/test_render_shares.py`. ShareStore's memo
    of found shares has no twin here: it saves queries, and it would go on returning a
    share found once whose artifacts were then deleted within the TTL (Herald never does).
    """

    def __init__(
        self,
        artifacts: Artifacts,
        ttl_s: float = 3600.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._artifacts = artifacts
        self._ttl = timedelta(seconds=ttl_s)
        self._clock = clock
        #: key -> (artifact id, recorded at)
        self._records: dict[str, tuple[str, datetime]] = {}
        #: (tenant, report id) -> the saved custom report's version.
        self.definitions: dict[tuple[str, str], str] = {}

    async def definition(self, tenant_id: str, report_id: str) -> str | None:
        return self.definitions.get((tenant_id, report_id))

    async def find(self, key: str) -> Complete | None:
        record = self._records.get(key)
        if record is None:
            return None
        artifact_id, recorded = record
        fresh = recorded > self._clock() - self._ttl
        found = await complete(self._artifacts, artifact_id) if fresh else None
        if found is None and self._records.get(key) == record:
            del self._records[key]  # only that record: another run may have replaced it
        return found

    async def record(self, key: str, tenant_id: str, run_id: str, artifact_id: str) -> bool:
        if key in self._records:
            return False
        self._records[key] = (artifact_id, self._clock())
        return True

    def shared(self) -> dict[str, str]:
        """Every recorded share: key -> artifact id."""
        return {key: artifact_id for key, (artifact_id, _) in self._records.items()}


class MemorySource:
    """`ReportSource` answering the n-th fetch with the n-th outcome (the last one repeats).

    While `gate` is set and closed, fetches wait on it: a render stays in flight.
    """

    def __init__(self, *outcomes: ReportData | Exception) -> None:
        self._outcomes = list(outcomes)
        self.requests: list[ReportRequest] = []
        self.gate: asyncio.Event | None = None

    async def fetch(self, request: ReportRequest) -> ReportData:
        self.requests.append(request)
        outcome = self._outcomes.pop(0) if len(self._outcomes) > 1 else self._outcomes[0]
        if self.gate is not None:
            await self.gate.wait()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def close(self) -> None:
        """Nothing to release."""


class FakePrinter:
    """`PdfPrinter` whose "PDF" is the HTML behind a PDF header, and whose "PNG" names the
    chart; counts its renders and keeps the charts it was asked to draw."""

    def __init__(self) -> None:
        self.calls = 0
        self.charts: list[tuple[Chart, str]] = []

    async def render(self, html: str, charts: Sequence[Chart], brand: str) -> bytes:
        self.calls += 1
        self.charts += [(chart, brand) for chart in charts]
        return b"%PDF-fake\n" + html.encode()

    async def png(self, chart: Chart, brand: str) -> bytes:
        self.charts.append((chart, brand))
        return b"\x89PNG-fake\n" + chart.title.encode()


class MemoryDimensions:
    """`filter_names.Dimensions`: each tenant's records of a kind, by id; counts its reads."""

    def __init__(self, records: Sequence[Dimension] = ()) -> None:
        self._records = list(records)
        self.reads = 0

    async def dimension(
        self, kind: type[Dimension], tenant_id: str
    ) -> Mapping[str, Mapping[str, Any]]:
        self.reads += 1
        _, id_field = DIMENSIONS[kind]
        docs = [r.document() for r in self._records if isinstance(r, kind)]
        return {d[id_field]: d for d in docs if d["tenant_id"] == tenant_id}
