"""The standard reports implemented so far, computed from the `calls` collection.

Campaign Summary, per campaign over the run's window and filters:
dialed = calls; answered = sum of the `answered` flag; contact rate =
answered / dialed; conversions = sum of `sale`; conversion % = conversions /
answered; talk minutes = sum of `talk_s` / 60. Derived figures are computed in
Python after a `$match` + `$group` (DESIGN.md's storage rules).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.renderer.reports.model import Cell, Column, ColumnKind, ReportData, ReportUnavailable
from shared.catalog import STANDARD_REPORTS, TEST_REPORT_ID
from shared.messages import RunDetails
from shared.mongo import Document


def _ratio(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


async def _campaign_summary(
    db: AsyncDatabase[Document], tenant_id: str, run: RunDetails
) -> ReportData:
    match: dict[str, Any] = {
        "tenant_id": tenant_id,
        "started_at": {"$gte": run.window.start, "$lt": run.window.end},
    }
    if run.filters.campaign_ids:
        match["campaign_id"] = {"$in": run.filters.campaign_ids}
    if run.filters.agent_ids:
        match["agent_id"] = {"$in": run.filters.agent_ids}
    pipeline: list[dict[str, Any]] = [
        {"$match": match},
        {
            "$group": {
                "_id": "$campaign_id",
                "dialed": {"$sum": 1},
                "answered": {"$sum": "$answered"},
                "sales": {"$sum": "$sale"},
                "talk_s": {"$sum": "$talk_s"},
            }
        },
        {"$sort": {"_id": 1}},
    ]

    async def rows() -> AsyncIterator[tuple[Cell, ...]]:
        async for group in await db["calls"].aggregate(pipeline):
            dialed, answered, sales = group["dialed"], group["answered"], group["sales"]
            yield (
                group["_id"],
                dialed,
                answered,
                _ratio(answered, dialed),
                sales,
                _ratio(sales, answered),
                round(group["talk_s"] / 60.0, 1),
            )

    return ReportData(
        title=STANDARD_REPORTS["campaign_summary"],
        columns=(
            Column("campaign", "Campaign"),
            Column("dialed", "Dialed", ColumnKind.INTEGER),
            Column("answered", "Answered", ColumnKind.INTEGER),
            Column("contact_rate", "Contact rate %", ColumnKind.PERCENT),
            Column("conversions", "Conversions", ColumnKind.INTEGER),
            Column("conversion_pct", "Conversion %", ColumnKind.PERCENT),
            Column("talk_minutes", "Talk minutes", ColumnKind.DECIMAL),
        ),
        rows=rows(),
    )


async def _delivery_test(run: RunDetails) -> AsyncIterator[tuple[Cell, ...]]:
    yield ("SMTP delivery check", run.run_id, run.scheduled_for.isoformat())


async def build(db: AsyncDatabase[Document], tenant_id: str, run: RunDetails) -> ReportData:
    """The report a run names, or ReportUnavailable with a reason a person can act on."""
    if run.report.kind == "test" and run.report.id == TEST_REPORT_ID:
        return ReportData(
            title="Herald test email",
            columns=(Column("check", "Check"), Column("run", "Run"), Column("at", "Sent at")),
            rows=_delivery_test(run),
        )
    if run.report.kind == "standard" and run.report.id == "campaign_summary":
        return await _campaign_summary(db, tenant_id, run)
    raise ReportUnavailable(
        f"report {run.report.kind}/{run.report.id} is not available in this renderer"
    )
