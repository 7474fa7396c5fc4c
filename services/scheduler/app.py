"""Wires the scheduler: settings, broker, MongoDB store, subscribers."""

from __future__ import annotations

from faststream import FastStream

from services.scheduler import handlers
from services.scheduler.store import SchedulerStore
from shared import history_store
from shared.service import build_runtime, make_app


def create_app() -> FastStream:
    runtime = build_runtime("scheduler")
    store = SchedulerStore(runtime.db)
    handlers.register(runtime, store)

    async def prepare_storage() -> None:
        await store.ensure_indexes()
        await history_store.ensure_indexes(runtime.db[history_store.RUNS])

    return make_app(runtime, [prepare_storage])
