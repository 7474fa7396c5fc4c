"""MongoDB wiring: one async client per process, through PyMongo's async API.

Works on MongoDB and on FerretDB alike (see docs/architecture.md, "Storage rules").
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from herald.shared.runtime.metrics import MONGO_COMMANDS
from herald.shared.runtime.settings import Settings

Document = dict[str, Any]


class CommandCounter(CommandListener):
    """Counts each command sent, by name and collection: what a use case costs in round
    trips to the database, and where.

    Batching is judged by this count (`herald_mongo_commands_total`), not by guesswork.
    """

    def started(self, event: CommandStartedEvent) -> None:
        MONGO_COMMANDS.labels(event.command_name, command_collection(event)).inc()

    def succeeded(self, event: CommandSucceededEvent) -> None:
        """Counted when started: a command that fails still cost a round trip."""

    def failed(self, event: CommandFailedEvent) -> None:
        """Counted when started."""


def command_collection(event: CommandStartedEvent) -> str:
    """The collection a command works on (a `getMore`'s cursor's too); "" for a command of
    the database or server (`ping`, `buildInfo`). Its name's value says it, as the wire
    protocol has it."""
    target = event.command.get(
        "collection" if event.command_name == "getMore" else event.command_name
    )
    return target if isinstance(target, str) else ""


#: Update or replace statements in one command at most. FerretDB 1.24 holds a
#: PostgreSQL connection per statement of an `update` command until it ends and
#: deadlocks the whole server once those in flight reach its pool (see
#: `MongoSettings.max_pool_size` and docs/architecture.md, "Storage rules").
UPDATES_PER_COMMAND = 4
#: Commands of one batch in flight at once, whatever the client's pool (a CLI's or
#: a test's is larger than a service's): the same FerretDB limit.
COMMANDS_AT_ONCE = 4

#: The server's code for an insert whose `_id` (or unique key) is taken.
DUPLICATE_KEY = 11000

Request = Any


async def insert_new(collection: AsyncCollection[Document], docs: Sequence[Document]) -> list[bool]:
    """Insert all in one unordered command; per document, whether it was new.

    A document whose key is taken is left as stored (insert-unique is atomic on
    MongoDB and FerretDB alike); any other error propagates.
    """
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(error.get("code") != DUPLICATE_KEY for error in errors):
            raise
        taken = {error["index"] for error in errors}
        return [n not in taken for n in range(len(docs))]
    return [True] * len(docs)


async def bulk_in_commands(
    collection: AsyncCollection[Document], requests: Sequence[Request]
) -> None:
    """Unordered bulk writes of `UPDATES_PER_COMMAND` statements, `COMMANDS_AT_ONCE` at a time.

    For writes whose every statement is to be applied (upserts by `_id`,
    deletes by `_id`): all are sent, then the first error propagates as it
    was raised; writing them all again is harmless.
    """
    room = asyncio.Semaphore(COMMANDS_AT_ONCE)

    async def send(chunk: Sequence[Request]) -> None:
        async with room:
            await collection.bulk_write(list(chunk), ordered=False)

    sent = await asyncio.gather(
        *(
            send(requests[start : start + UPDATES_PER_COMMAND])
            for start in range(0, len(requests), UPDATES_PER_COMMAND)
        ),
        return_exceptions=True,
    )
    for outcome in sent:
        if isinstance(outcome, BaseException):
            raise outcome


def connect(
    settings: Settings, app_name: str, *, pool_size: int | None = None
) -> AsyncMongoClient[Document]:
    """`pool_size` for a client beside the process's main one (`max_pool_size`)."""
    return AsyncMongoClient(
        settings.mongo.url.get_secret_value(),
        appname=app_name,
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=settings.mongo.server_selection_timeout_ms,
        maxPoolSize=pool_size or settings.mongo.max_pool_size,
        event_listeners=[CommandCounter()],
    )


def database(client: AsyncMongoClient[Document], settings: Settings) -> AsyncDatabase[Document]:
    return client[settings.mongo.database]
