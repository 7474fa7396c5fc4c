"""Picks the report source the settings name."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from herald.services.renderer.reports.mongo_source import MongoSource
from herald.services.renderer.reports.source import ReportSource
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import ReportSourceKind, Settings


def source_for(settings: Settings, db: AsyncDatabase[Document]) -> ReportSource:
    reports = settings.reports
    if reports.source is ReportSourceKind.HTTP:
        # Imported only here: httpx brings its command line (rich, click, pygments), 6 MB
        # of the renderer's RSS that a renderer reading MongoDB has no use for.
        from herald.services.renderer.reports.http_source import HttpSource

        return HttpSource(reports.http)
    return MongoSource(
        db, settings.data_zone, use_rollups=reports.use_rollups, reuse_s=reports.reuse_reads_s
    )
