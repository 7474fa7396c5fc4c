"""Reading what a standard report declares, then computing it: a report's only I/O."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from herald.services.renderer.calldata.groupings import Document, Grouped, Grouping, Sums
from herald.services.renderer.calldata.records import Dimension
from herald.services.renderer.calldata.store import Scope
from herald.services.renderer.reports.model import ReportData, ReportRequest
from herald.services.renderer.reports.periods import previous_period
from herald.services.renderer.reports.standard.definition import Inputs, ReportDefinition
from herald.shared.contract.messages import DataWindow


class CallData(Protocol):
    """The reads of `CallStore` a standard report uses (tests hold the same data in memory)."""

    @property
    def zone(self) -> ZoneInfo: ...

    async def group(self, grouping: Grouping, scope: Scope) -> Grouped: ...

    async def sessions(self, scope: Scope) -> dict[str, Sums]: ...

    async def dimension(self, kind: type[Dimension], tenant_id: str) -> dict[str, Document]: ...

    def calls(self, scope: Scope) -> AsyncIterator[Document]: ...


async def read(definition: ReportDefinition, data: CallData, request: ReportRequest) -> Inputs:
    """Exactly what the definition reads, within the request's window and filters.

    A report with headline metrics also reads its grouping and sessions over the
    previous period (`periods.py`), to set each figure beside the last one.
    """
    reads, window, filters = definition.reads, request.window, request.filters
    compliance = request.compliance

    def scope(start: datetime, end: datetime) -> Scope:
        campaigns, agents = tuple(filters.campaign_ids), tuple(filters.agent_ids)
        return Scope(request.tenant_id, start, end, campaigns, agents)

    async def over(start: datetime, end: datetime) -> tuple[Grouped | None, dict[str, Sums]]:
        grouped = (
            None if reads.grouping is None else await data.group(reads.grouping, scope(start, end))
        )
        return grouped, await data.sessions(scope(start, end)) if reads.sessions else {}

    grouped, sessions = await over(window.start, window.end)
    earlier = None
    if reads.grouping is not None and reads.earlier is not None:
        span = reads.earlier(window, data.zone, compliance)
        earlier = await data.group(reads.grouping, scope(*span))
    dimensions = {kind: await data.dimension(kind, request.tenant_id) for kind in reads.dimensions}
    previous = None
    if definition.metrics:
        start, end = previous_period(window, data.zone)
        before, before_sessions = await over(start, end)
        last = DataWindow(start=start, end=end, timezone=window.timezone)
        previous = Inputs(
            last,
            data.zone,
            before,
            None,
            before_sessions,
            dimensions,
            filters=filters,
            compliance=compliance,
        )
    return Inputs(
        window,
        data.zone,
        grouped,
        earlier,
        sessions,
        dimensions,
        data.calls(scope(window.start, window.end)) if reads.calls else None,
        previous,
        filters,
        compliance,
    )


async def build(definition: ReportDefinition, data: CallData, request: ReportRequest) -> ReportData:
    return definition.report(await read(definition, data, request))
