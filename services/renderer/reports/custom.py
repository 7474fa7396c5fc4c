"""Saved custom reports, computed: one grouping of calls or sessions, filtered, folded, sorted.

For calls, the grouping's keys are the report's dimensions plus its filtered
fields, so one `CallStore.group` serves it and the fixed filters apply to its
cells. When a registered grouping covers those keys and sums, that grouping is
used and the days the window covers whole come from the daily roll-ups;
otherwise an ad-hoc grouping is summed from the raw calls (about 50 times
slower on FerretDB). Sessions are summed per local day the same way.

`read` is the report's only I/O, through the reads standard reports use plus
sums of sessions (`CustomData`); `custom_figures.compute` turns what it read
into the table without any, so its figures are checked in memory.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import ValidationError
from pymongo.asynchronous.collection import AsyncCollection

from herald.services.renderer.calldata.groupings import (
    Cells,
    Grouped,
    Grouping,
)
from herald.services.renderer.calldata.store import Scope
from herald.services.renderer.reports import custom_store as custom_report_store
from herald.services.renderer.reports.custom_definitions import (
    CALLS,
    CustomReport,
    reasons,
)
from herald.services.renderer.reports.custom_figures import NAMED, calls_grouping, compute, own_keys
from herald.services.renderer.reports.model import (
    ReportData,
    ReportRequest,
    ReportUnavailable,
)
from herald.services.renderer.reports.standard.definition import Inputs
from herald.services.renderer.reports.standard.reading import CallData
from herald.shared.runtime.mongo import Document


class CustomData(CallData, Protocol):
    """A standard report's reads of `CallStore`, and sessions summed per any keys."""

    async def session_sums(
        self, scope: Scope, keys: tuple[str, ...], sums: tuple[str, ...]
    ) -> Cells: ...


async def run(
    data: CustomData, definitions: AsyncCollection[Document], request: ReportRequest
) -> ReportData:
    """Load the schedule's saved definition and compute it; a missing or stale one is permanent."""
    report_id, tenant_id = request.report.id, request.tenant_id
    try:
        report = await custom_report_store.get(definitions, tenant_id, report_id)
    except ValidationError as exc:
        problems = "; ".join(reasons(exc))
        raise ReportUnavailable(
            f"custom report {report_id!r} no longer validates ({problems}); save it again"
        ) from exc
    if report is None:
        raise ReportUnavailable(
            f"custom report {report_id!r} does not exist for tenant {tenant_id!r} (deleted?)"
        )
    return await build(data, report, request)


async def build(data: CustomData, report: CustomReport, request: ReportRequest) -> ReportData:
    """The report's one table over the request's window and campaign/agent filters."""
    return compute(report, await read(data, report, request))


async def read(data: CustomData, report: CustomReport, request: ReportRequest) -> Inputs:
    """Exactly what the report reads: one grouping's cells, and the names of its dimensions."""
    window, filters = request.window, request.filters
    scope = Scope(
        request.tenant_id,
        window.start,
        window.end,
        tuple(filters.campaign_ids),
        tuple(filters.agent_ids),
    )
    if report.dataset == CALLS.name:
        grouped = await data.group(calls_grouping(report), scope)
    elif filters.campaign_ids:
        raise ReportUnavailable(
            f"custom report {report.report_id!r} sums agent sessions, which have no campaign; "
            "remove the schedule's campaign filter"
        )
    else:
        grouping = Grouping(f"custom_{report.dataset}", own_keys(report), report.summed)
        # Sessions have no campaign_id: that key of the grouping is None in every cell.
        cells = await data.session_sums(scope, grouping.all_keys, grouping.sums)
        grouped = Grouped(grouping, cells)
    kinds = [NAMED[name] for name in report.dimensions if name in NAMED]
    dimensions = {kind: await data.dimension(kind, request.tenant_id) for kind in kinds}
    return Inputs(window, data.zone, grouped, dimensions=dimensions)
