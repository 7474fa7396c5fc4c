"""MongoDB wiring: one async client per process, through PyMongo's async API.

Works on MongoDB and on FerretDB alike (see docs/architecture.md, "Storage rules").
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from herald.shared.runtime.settings import Settings

Document = dict[str, Any]


def connect(settings: Settings, app_name: str) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        settings.mongo.url.get_secret_value(),
        appname=app_name,
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=settings.mongo.server_selection_timeout_ms,
    )


def database(client: AsyncMongoClient[Document], settings: Settings) -> AsyncDatabase[Document]:
    return client[settings.mongo.database]
