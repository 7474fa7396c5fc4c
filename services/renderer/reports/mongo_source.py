"""The built-in source: standard and saved custom reports computed from MongoDB."""

from __future__ import annotations

from collections.abc import Awaitable
from zoneinfo import ZoneInfo

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect, ExecutionTimeout, ServerSelectionTimeoutError

from herald.services.renderer.calldata.store import CallStore
from herald.services.renderer.reports import custom
from herald.services.renderer.reports.custom_store import CUSTOM_REPORTS
from herald.services.renderer.reports.model import (
    ReportData,
    ReportRequest,
    ReportUnavailable,
    SourceUnavailable,
)
from herald.services.renderer.reports.standard import REPORTS
from herald.services.renderer.reports.standard.reading import build
from herald.shared.runtime.mongo import Document

#: Errors after which the same request may well succeed.
_TRANSIENT = (AutoReconnect, ServerSelectionTimeoutError, ExecutionTimeout)


class MongoSource:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        zone: ZoneInfo,
        *,
        use_rollups: bool = True,
        reuse_s: float = 0.0,
    ) -> None:
        self.store = CallStore(db, zone, use_rollups=use_rollups, reuse_s=reuse_s)
        self.definitions = db[CUSTOM_REPORTS]

    async def fetch(self, request: ReportRequest) -> ReportData:
        report = request.report
        building: Awaitable[ReportData]
        if report.kind == "custom":
            building = custom.run(self.store, self.definitions, request)
        elif report.kind == "standard" and report.id in REPORTS:
            definition = REPORTS[report.id]
            reasons = definition.refusals(request.filters)
            if reasons:
                raise ReportUnavailable("; ".join(reasons))
            building = build(definition, self.store, request)
        else:
            raise ReportUnavailable(f"report {report.kind}/{report.id} is not available")
        try:
            return await building
        except _TRANSIENT as exc:
            raise SourceUnavailable(f"MongoDB did not answer: {exc}") from exc

    async def close(self) -> None:
        """The database client belongs to the service; nothing to release here."""
