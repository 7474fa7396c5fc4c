"""A child process for the memory test: renders a 1,000,000-row CSV into GridFS.

Run as `python -m tests.integration.million_rows`; prints the artifact's row
count and this process's peak RSS in MB as JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from herald.services.renderer.render import Renderer
from herald.services.renderer.reports.model import ReportData, ReportRequest, Row, Table
from herald.services.renderer.reports.standard import CDR_COLUMNS
from herald.shared.contract.messages import DataWindow, RunDetails
from herald.shared.contract.schedule_spec import ReportFormat, ReportRef
from herald.shared.runtime.artifacts import ArtifactStore
from herald.shared.runtime.mongo import connect, database
from herald.shared.runtime.settings import Settings
from tests.memory import peak_rss_mb

ROWS = 1_000_000


class MillionCalls:
    """A source of one million distinct CDR rows, generated as they are read."""

    async def fetch(self, request: ReportRequest) -> ReportData:
        async def rows() -> AsyncIterator[Row]:
            start = datetime(2026, 11, 1, 8, 0)
            for n in range(ROWS):
                yield (
                    start + timedelta(seconds=n),
                    f"call-{n:07d}",
                    "outbound",
                    "acme-renewals",
                    "renewals-a",
                    f"lead-{n % 50000:06d}",
                    None,
                    f"agent-{n % 50:02d}",
                    "+1 555 *** 0123",
                    "answered",
                    "Not interested",
                    "Bandwidth",
                    "NORMAL_CLEARING",
                    n % 30,
                    12,
                    n % 600,
                    0,
                    22,
                    Decimal(n % 100) / 100,
                    n % 9 == 0,
                    Decimal("0.00"),
                )

        return ReportData("CDR Report", (Table(CDR_COLUMNS, rows()),))

    async def close(self) -> None:
        """Nothing to release."""


async def main() -> None:
    settings = Settings()
    client = connect(settings, "herald-tests")
    db = database(client, settings)
    renderer = Renderer(MillionCalls(), ArtifactStore(db), None, settings)
    run = RunDetails(
        run_id="million@2026-11-02",
        scheduled_for=datetime(2026, 11, 2, 8, tzinfo=UTC),
        schedule_name="CDR",
        report=ReportRef(id="cdr"),
        window=DataWindow(
            start=datetime(2026, 11, 1, tzinfo=UTC),
            end=datetime(2026, 11, 2, tzinfo=UTC),
            timezone="UTC",
        ),
        format=ReportFormat.CSV,
        recipients=["ops@example.com"],
    )
    rendered = await renderer.render("acme", "s1", run)
    await client.close()
    print(json.dumps({"rows": rendered.rows, "peak_mb": peak_rss_mb()}))


if __name__ == "__main__":
    asyncio.run(main())
