"""The `custom_reports` collection: each tenant's saved definitions, one document each.

`_id` is `<tenant>/<report_id>`, so saving, reading and deleting touch one
document by `_id` (single-document operations, served by `_id` on FerretDB
too). A definition is validated before it is written and again when it is
read: one that no longer validates (the allow-lists changed since) raises
pydantic's ValidationError with its reasons instead of running.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from pymongo.asynchronous.collection import AsyncCollection

from herald.services.renderer.reports.custom_definitions import CustomReport
from herald.shared.runtime.mongo import Document

CUSTOM_REPORTS: Final = "custom_reports"
#: Stored beside the definition's own fields.
_BOOKKEEPING = ("_id", "updated_at")


@dataclass(frozen=True, slots=True)
class Listed:
    """A saved definition as a listing shows it (read without validating it)."""

    report_id: str
    title: str
    dataset: str
    updated_at: datetime | None


def _id(tenant_id: str, report_id: str) -> str:
    return f"{tenant_id}/{report_id}"


async def save(collection: AsyncCollection[Document], report: CustomReport) -> bool:
    """Insert or replace the tenant's definition of that id; True when it is new."""
    doc = report.model_dump(mode="json") | {
        "_id": _id(report.tenant_id, report.report_id),
        "updated_at": datetime.now(UTC),
    }
    result = await collection.replace_one({"_id": doc["_id"]}, doc, upsert=True)
    return result.upserted_id is not None


async def get(
    collection: AsyncCollection[Document], tenant_id: str, report_id: str
) -> CustomReport | None:
    """The definition, or None when the tenant has none of that id (raises if stale)."""
    doc = await collection.find_one({"_id": _id(tenant_id, report_id)})
    if doc is None:
        return None
    return CustomReport.model_validate({k: v for k, v in doc.items() if k not in _BOOKKEEPING})


async def list_reports(collection: AsyncCollection[Document], tenant_id: str) -> list[Listed]:
    """The tenant's definitions by id; a stale one is listed too, so it can be shown and fixed."""
    fields = {"report_id": 1, "title": 1, "dataset": 1, "updated_at": 1}
    docs = await collection.find({"tenant_id": tenant_id}, fields).to_list()
    listed = [
        Listed(
            str(doc.get("report_id", "")),
            str(doc.get("title", "")),
            str(doc.get("dataset", "")),
            doc.get("updated_at"),
        )
        for doc in docs
    ]
    return sorted(listed, key=lambda item: item.report_id)


async def delete(collection: AsyncCollection[Document], tenant_id: str, report_id: str) -> bool:
    """Remove the definition; False when there was none. Schedules naming it then fail."""
    result = await collection.delete_one({"_id": _id(tenant_id, report_id)})
    return result.deleted_count == 1
