"""Wires the scheduler: the one place that builds the adapters and hands them to the use cases."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from faststream import FastStream

from herald.services.scheduler import handlers
from herald.services.scheduler.calendar import Calendar
from herald.services.scheduler.cleanup import scheduler_cleanup
from herald.services.scheduler.command_handling import CommandHandler
from herald.services.scheduler.projection import Projection
from herald.services.scheduler.queues import KafkaStageQueues
from herald.services.scheduler.slots import SlotStore
from herald.services.scheduler.store import BareIds, SchedulerStore
from herald.services.scheduler.tenant_store import TenantStore
from herald.services.scheduler.ticker import Ticker
from herald.services.scheduler.timers import TimerStore
from herald.shared.history import store as history_store
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runtime.kafka import BulkPublisher, Record
from herald.shared.runtime.leases import LEASES, LeaseStore
from herald.shared.runtime.mongo import connect, database
from herald.shared.runtime.service import build_runtime, make_app

log = logging.getLogger("herald.scheduler")

#: How often the runs the projection holds are looked at, to write those held long enough,
#: and the status offsets committed.
HELD_CHECK_S = 1.0


def create_app() -> FastStream:
    runtime = build_runtime("scheduler")
    settings = runtime.settings
    bare_ids = BareIds()
    store = SchedulerStore(runtime.db, bare_ids)
    slots = SlotStore(runtime.db)
    lease_ttl = timedelta(seconds=settings.scheduler.lease_ttl_s)
    leases = LeaseStore(runtime.db[LEASES], lease_ttl)
    timers = TimerStore(runtime.db)
    runs = runtime.db[history_store.RUNS]
    cache_mb = settings.scheduler.history_cache_mb
    history = history_store.MongoRunHistory(
        runs, history_store.RecordCache(cache_mb * 1024 * 1024) if cache_mb else None
    )
    publisher = BulkPublisher(settings)
    calendar = Calendar(store, slots, leases, publisher, settings.default_timezone)
    queues = KafkaStageQueues(settings)
    ticker = Ticker(settings, calendar, slots, leases, timers, history, publisher, queues)
    # Commands have a database client of their own (see `Calendar.sharing_turns`).
    commands_mongo = connect(
        settings, "herald-scheduler-commands", pool_size=settings.scheduler.command_pool_size
    )
    commands_db = database(commands_mongo, settings)
    commands_store = SchedulerStore(commands_db, bare_ids)
    handler = CommandHandler(
        commands_store,
        calendar.sharing_turns(
            commands_store,
            SlotStore(commands_db),
            LeaseStore(commands_db[LEASES], lease_ttl),
        ),
        handlers.BrokerBodies(runtime.broker, runtime.topics),
        runtime.topics,
        settings.default_timezone,
        RecipientPolicy.from_settings(settings.security),
        TenantStore(commands_db),
        concurrency=settings.scheduler.command_concurrency,
    )
    stuck_after = timedelta(seconds=settings.scheduler.stuck_after_s)
    projection: Projection[Record] = Projection(
        history, timers, stuck_after, hold=settings.scheduler.history_hold
    )
    statuses = handlers.StatusProjection(
        runtime.broker, runtime.topics, projection, ticker.quiet, calendar.commands_first
    )
    handlers.register(
        runtime.broker, runtime.topics, runtime.group_id, handler, statuses, calendar.commands_first
    )
    running: list[asyncio.Task[None]] = []
    writing: list[asyncio.Task[None]] = []

    async def prepare() -> None:
        await store.ensure_indexes()
        await leases.ensure_indexes()
        await timers.ensure_indexes()
        await history_store.ensure_indexes(runs)
        await calendar.forget_deleted()

    cleanup = scheduler_cleanup(runtime.db, settings)  # retention: runs, commands, timers
    app = make_app(runtime, [publisher.start, queues.start, prepare, cleanup.start])
    app.on_shutdown(cleanup.stop)

    @app.after_startup
    async def start_ticker() -> None:
        running.append(asyncio.create_task(ticker.run(), name="ticker"))
        writing.append(asyncio.create_task(write_held(), name="held runs"))

    async def write_held() -> None:
        """The runs the projection held long enough are written, whether or not more come."""
        while True:
            await asyncio.sleep(HELD_CHECK_S)
            try:
                await statuses.write_held()
            except Exception:  # an outage, or a bug: the runs stay held, their offsets uncommitted
                log.exception("held runs not written yet; trying again in %.0f s", HELD_CHECK_S)

    @app.on_shutdown
    async def stop_ticker() -> None:
        ticker.stop()
        await asyncio.gather(*running)
        for task in writing:
            task.cancel()
        await asyncio.gather(*writing, return_exceptions=True)
        try:  # the history current, and what was handled committed (else read again)
            await statuses.write_held(everything=True)
        except Exception:
            log.exception("held runs not written before stopping: the next owner reads them")
        await publisher.stop()
        await queues.stop()

    @app.after_shutdown
    async def close_commands_client() -> None:
        await commands_mongo.close()

    return app
