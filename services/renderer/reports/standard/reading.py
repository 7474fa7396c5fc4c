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
from herald.services.renderer.reports.standard.definition import Inputs, ReportDefinition


class CallData(Protocol):
    """The reads of `CallStore` a standard report uses (tests hold the same data in memory)."""

    @property
    def zone(self) -> ZoneInfo: ...

    async def group(self, grouping: Grouping, scope: Scope) -> Grouped: ...

    async def sessions(self, scope: Scope) -> dict[str, Sums]: ...

    async def dimension(self, kind: type[Dimension], tenant_id: str) -> dict[str, Document]: ...

    def calls(self, scope: Scope) -> AsyncIterator[Document]: ...


async def read(definition: ReportDefinition, data: CallData, request: ReportRequest) -> Inputs:
    """Exactly what the definition reads, within the request's window and filters."""
    reads, window, filters = definition.reads, request.window, request.filters

    def scope(start: datetime, end: datetime) -> Scope:
        campaigns, agents = tuple(filters.campaign_ids), tuple(filters.agent_ids)
        return Scope(request.tenant_id, start, end, campaigns, agents)

    now = scope(window.start, window.end)
    grouped = earlier = None
    if reads.grouping is not None:
        grouped = await data.group(reads.grouping, now)
        if reads.earlier is not None:
            earlier = await data.group(reads.grouping, scope(*reads.earlier(window, data.zone)))
    return Inputs(
        window,
        data.zone,
        grouped,
        earlier,
        await data.sessions(now) if reads.sessions else {},
        {kind: await data.dimension(kind, request.tenant_id) for kind in reads.dimensions},
        data.calls(now) if reads.calls else None,
    )


async def build(definition: ReportDefinition, data: CallData, request: ReportRequest) -> ReportData:
    return definition.report(await read(definition, data, request))
