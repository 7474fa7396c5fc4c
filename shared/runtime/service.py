"""What every Herald service process shares: settings, logging, Kafka, MongoDB, start-up.

Each service's `app.py` builds a `Runtime`, registers its subscribers on
`runtime.broker` and hands start-up work (topics, indexes) to `make_app`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from faststream import FastStream
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from herald.shared.contract.topics import Topics
from herald.shared.runtime import logs, tracing
from herald.shared.runtime.kafka import ensure_topics, group_id, make_broker
from herald.shared.runtime.mongo import Document, connect, database
from herald.shared.runtime.ops import OpsServer
from herald.shared.runtime.settings import Settings

StartupHook = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Runtime:
    service: str
    settings: Settings
    topics: Topics
    broker: KafkaBroker
    mongo: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]

    @property
    def group_id(self) -> str:
        return group_id(self.settings, self.service)


def configure_logging(service: str) -> None:
    logs.configure(
        service,
        level=os.environ.get("HERALD_LOG_LEVEL", "INFO"),
        json_lines=Settings().ops.json_logs,
    )


def build_runtime(service: str, settings: Settings | None = None) -> Runtime:
    settings = settings or Settings()
    # First: the MongoDB client and the broker are made traced or not (OTEL_* variables).
    tracing.configure(service)
    mongo = connect(settings, f"herald-{service}")
    return Runtime(
        service=service,
        settings=settings,
        topics=Topics(settings.kafka.topic_prefix),
        broker=make_broker(settings, service),
        mongo=mongo,
        db=database(mongo, settings),
    )


def make_app(runtime: Runtime, startup: Sequence[StartupHook] = ()) -> FastStream:
    app = FastStream(runtime.broker, logger=logging.getLogger("herald.app"))
    ops = OpsServer(runtime.settings.ops, runtime.broker, runtime.mongo)

    @app.on_startup
    async def _prepare() -> None:
        await ops.start()  # first: liveness answers while the rest starts
        await ensure_topics(runtime.settings)
        for hook in startup:
            await hook()

    @app.after_shutdown
    async def _close() -> None:
        await ops.stop()
        await runtime.mongo.close()
        await asyncio.to_thread(tracing.shutdown)  # the spans still queued are exported

    return app
