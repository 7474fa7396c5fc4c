"""Picks the report source the settings name."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from services.renderer.reports.http_source import HttpSource
from services.renderer.reports.mongo_source import MongoSource
from services.renderer.reports.source import ReportSource
from shared.mongo import Document
from shared.settings import ReportSourceKind, Settings


def source_for(settings: Settings, db: AsyncDatabase[Document]) -> ReportSource:
    reports = settings.reports
    if reports.source is ReportSourceKind.HTTP:
        return HttpSource(reports.http)
    return MongoSource(db, settings.data_zone, use_rollups=reports.use_rollups)
