"""What every Herald service process shares: settings, logging, Kafka, MongoDB, start-up.

Each service's `app.py` builds a `Runtime`, registers its subscribers on
`runtime.broker` and hands start-up work (topics, indexes) to `make_app`.
Kafka or MongoDB unreachable at start is waited out in place, the pod alive
and unready, so that Kubernetes does not restart it in a growing back-off;
settings the servers refuse stop the service at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka.errors import KafkaError
from faststream import FastStream
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from herald.shared.contract.topics import Topics
from herald.shared.runtime import logs, tracing
from herald.shared.runtime.kafka import TRANSIENT_ERRORS, ensure_topics, group_id, make_broker
from herald.shared.runtime.mongo import Document, connect, database
from herald.shared.runtime.ops import OpsServer
from herald.shared.runtime.settings import Settings

StartupHook = Callable[[], Awaitable[None]]

log = logging.getLogger("herald.app")

#: The pause after a start-up step found Kafka or MongoDB unreachable, doubled after each try.
START_PAUSE_S = 1.0
#: The longest pause between two tries.
START_PAUSE_MAX_S = 30.0


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


def unreachable(exc: Exception) -> bool:
    """An outage, waited out at start; any other error (settings the servers refuse, such
    as a replication factor above the brokers, or a bug) can never pass by waiting."""
    if isinstance(exc, KafkaError):
        return bool(exc.retriable)
    return isinstance(exc, TRANSIENT_ERRORS)


def _dependency(exc: Exception) -> str:
    if isinstance(exc, KafkaError):
        return "Kafka"
    if isinstance(exc, PyMongoError):
        return "MongoDB"
    return "Kafka or MongoDB"


async def until_reachable(step: StartupHook) -> None:
    """Run a start-up step again after each outage, pausing longer each time up to
    `START_PAUSE_MAX_S`. A step must leave nothing behind when it fails."""
    pause = START_PAUSE_S
    while True:
        try:
            await step()
            return
        except Exception as exc:
            if not unreachable(exc):
                raise
            log.warning(
                "%s unreachable at start, trying again in %.0f s: %r",
                _dependency(exc),
                pause,
                exc,
            )
        await asyncio.sleep(pause)
        pause = min(2 * pause, START_PAUSE_MAX_S)


class StartUp:
    """The start-up steps, in a task of their own so that a SIGTERM while they wait for
    Kafka or MongoDB cancels them before the shutdown closes the clients they use."""

    def __init__(self, steps: Sequence[StartupHook]) -> None:
        self._steps = steps
        self._task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        self._task = task = asyncio.create_task(self._run_all(), name="start-up")
        try:
            await asyncio.wait([task])
        finally:
            task.cancel()
        if task.cancelled():
            # By `stop`: FastStream is shutting down and cancels this when done. Returning
            # would start the consumers; raising would cut the shutdown short.
            await asyncio.Event().wait()
        task.result()

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait([self._task])

    async def _run_all(self) -> None:
        for step in self._steps:
            await until_reachable(step)


def make_app(runtime: Runtime, startup: Sequence[StartupHook] = ()) -> FastStream:
    """`startup`: steps before the consumers start, each run again after an outage."""
    app = FastStream(runtime.broker, logger=log)
    ops = OpsServer(runtime.settings.ops, runtime.settings.kafka, runtime.broker, runtime.mongo)

    async def topics() -> None:
        await ensure_topics(runtime.settings)

    async def connect() -> None:
        """Here, where an outage is waited out: FastStream then only starts the consumers."""
        try:
            await runtime.broker.connect()
        except Exception:
            await runtime.broker.stop()  # a half-made connection is made again whole
            raise

    steps = StartUp([topics, *startup, connect])

    @app.on_startup
    async def _prepare() -> None:
        await ops.start()  # first: liveness answers while the rest starts
        await steps.run()

    app.on_shutdown(steps.stop)  # first of the shutdown hooks: the services add theirs after

    @app.after_shutdown
    async def _close() -> None:
        await ops.stop()
        await runtime.mongo.close()
        await asyncio.to_thread(tracing.shutdown)  # the spans still queued are exported

    return app


def run(service: str, create_app: Callable[[], FastStream]) -> None:
    """A service's `__main__`. What stops it is one log line, the traceback inside (not
    a bare traceback after the JSON lines), and exit status 1."""
    configure_logging(service)
    try:
        asyncio.run(create_app().run())
    except Exception as exc:
        log.critical("%s stopped: %r", service, exc, exc_info=exc)
        raise SystemExit(1) from None
