"""Runs the projection holds in memory survive its scheduler's death: their offsets were not
committed, so the next scheduler reads their events again and writes them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from pymongo.asynchronous.database import AsyncDatabase

from herald.services.scheduler.firing import run_details
from herald.shared.contract.messages import DeliveryStatus, RunStatus
from herald.shared.contract.topics import Topics
from herald.shared.history import store as history_store
from herald.shared.runtime.kafka import client_options, group_id, publish_many
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.service import build_runtime
from herald.shared.runtime.settings import SchedulerSettings, Settings
from tests.helpers import ServiceProcess, ops_get, wait_until
from tests.integration.test_history_replay import SPEC, _status

pytestmark = pytest.mark.integration

HELD_RUNS = 30
FINAL_RUNS = 10


def _due(run_id: str, t0: datetime) -> DeliveryStatus:
    details = run_details(run_id, SPEC, "UTC", t0)
    return _status(run_id, "acme", t0, RunStatus.DUE, 1, 0, stage="scheduler", run=details)


def _events(t0: datetime) -> list[DeliveryStatus]:
    held = [_due(f"held-{n}@1", t0) for n in range(HELD_RUNS)]
    final = [
        event
        for n in range(FINAL_RUNS)
        for event in (
            _due(f"final-{n}@1", t0),
            _status(
                f"final-{n}@1",
                "acme",
                t0,
                RunStatus.RENDERED,
                1,
                1,
                stage="renderer",
                artifact_id="a",
            ),
            _status(f"final-{n}@1", "acme", t0, RunStatus.DELIVERED, 1, 2),
        )
    ]
    return held + final


async def _committed_partitions(settings: Settings) -> int:
    """How many `delivery.status` partitions the scheduler's group has committed an offset for."""
    admin = AIOKafkaAdminClient(**client_options(settings.kafka))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id(settings, "scheduler"))
    finally:
        await admin.close()
    topic = Topics(settings.kafka.topic_prefix).delivery_status
    return sum(1 for partition in offsets if partition.topic == topic)


def _held_gauge(scheduler: ServiceProcess) -> float | None:
    _, body = ops_get(scheduler.ops_port, "/metrics")
    found = re.search(r"^herald_history_held_runs (\S+)$", body, re.MULTILINE)
    return float(found.group(1)) if found else None


async def test_runs_held_by_a_scheduler_that_dies_are_written_by_the_next(
    topics_ready: Settings, db: AsyncDatabase[Document], log_dir: Path
) -> None:
    holding = topics_ready.model_copy(
        update={"scheduler": SchedulerSettings(history_hold_s=600, stuck_after_s=3600)}
    )
    runs = db[history_store.RUNS]
    first = ServiceProcess("scheduler", holding, log_dir)
    await first.wait_started()
    runtime = build_runtime("probe", holding)
    await runtime.broker.start()
    try:
        await publish_many(runtime.broker, runtime.topics, _events(datetime.now(UTC)))

        async def held_and_final_written() -> bool:
            return _held_gauge(first) == HELD_RUNS and await runs.count_documents({}) == FINAL_RUNS

        await wait_until(held_and_final_written, 60, "the runs under way held, the final written")

        async def committed() -> bool:
            return await _committed_partitions(holding) == holding.kafka.partitions

        await wait_until(committed, 30, "the scheduler to commit what it handled")
        first.kill()  # no chance to write what it held
        assert await runs.count_documents({"_id": {"$regex": "^held-"}}) == 0
        finals = [doc async for doc in runs.find({})]
        assert {doc["status"] for doc in finals} == {"delivered"}
        assert {len(doc["events"]) for doc in finals} == {3}, "each written once, whole"

        writing = topics_ready.model_copy(update={"scheduler": SchedulerSettings(history_hold_s=0)})
        second = ServiceProcess("scheduler", writing, log_dir)
        try:
            await second.wait_started()

            async def all_written() -> bool:
                return await runs.count_documents({}) == HELD_RUNS + FINAL_RUNS

            await wait_until(all_written, 60, "the next scheduler to write the held runs")
        finally:
            second.stop()
    finally:
        await runtime.broker.stop()
        first.kill()
    held = [doc async for doc in runs.find({"_id": {"$regex": "^held-"}})]
    assert len(held) == HELD_RUNS
    assert {doc["status"] for doc in held} == {"due"}
