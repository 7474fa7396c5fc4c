"""Where report data comes from: the interface every source implements.

The built-in source computes reports from the contact-center data in
MongoDB (`mongo_source.py`); platforms that compute reports themselves
serve them over HTTP (`http_source.py`). A third source implements `fetch`.
"""

from __future__ import annotations

from typing import Protocol

from herald.services.renderer.reports.model import ReportData, ReportRequest


class ReportSource(Protocol):
    async def fetch(self, request: ReportRequest) -> ReportData:
        """The report's data; raises ReportUnavailable (permanent) or SourceUnavailable."""
        ...

    async def close(self) -> None: ...
