"""Every service's operator port: liveness, readiness as the consumer joins, metrics, JSON logs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from herald.shared.runtime.ops import OpsServer
from herald.shared.runtime.service import build_runtime
from herald.shared.runtime.settings import Settings
from tests.helpers import ServiceProcess, ops_get, wait_until

pytestmark = pytest.mark.integration


async def _fetch(port: int, path: str) -> tuple[int, str]:
    return await asyncio.to_thread(ops_get, port, path)


@pytest.mark.parametrize("name", ["scheduler", "renderer", "mailer"])
async def test_a_service_is_alive_then_ready_and_exposes_metrics(
    name: str, topics_ready: Settings, log_dir: Path
) -> None:
    service = ServiceProcess(name, topics_ready, log_dir)
    try:

        async def alive() -> bool:
            return (await _fetch(service.ops_port, "/healthz"))[0] == 200

        await wait_until(alive, 60, f"{name} to answer /healthz")

        async def ready() -> str | None:
            status, body = await _fetch(service.ops_port, "/readyz")
            return body if status == 200 else None

        body = await wait_until(ready, 90, f"{name} to be ready")
        assert json.loads(body) == {"kafka": True, "mongodb": True, "partitions": True}
        status, metrics = await _fetch(service.ops_port, "/metrics")
        assert status == 200
        assert "herald_consumer_lag" in metrics
        assert "herald_dead_letters_total" in metrics
        assert "faststream_received_messages" in metrics
        assert (await _fetch(service.ops_port, "/nope"))[0] == 404
    finally:
        service.stop()
    lines = [line for line in service.log().splitlines() if line.startswith("{")]
    assert lines, "no JSON log lines"
    records = [json.loads(line) for line in lines]
    assert {r["service"] for r in records} == {name}
    assert any("started successfully" in r["message"] for r in records)


async def test_readiness_waits_for_the_consumer_to_get_its_partitions(
    topics_ready: Settings,
) -> None:
    runtime = build_runtime("probe", topics_ready)

    @runtime.broker.subscriber(
        runtime.topics.delivery_status, group_id=runtime.group_id, auto_offset_reset="earliest"
    )
    async def ignore(body: bytes) -> None:
        """A consumer like any service's."""

    ops = OpsServer(runtime.settings.ops, runtime.settings.kafka, runtime.broker, runtime.mongo)
    assert (await ops.readiness())["partitions"] is False  # not started: not ready
    await runtime.broker.start()
    try:

        async def joined() -> bool:
            return all((await ops.readiness()).values())

        await wait_until(joined, 60, "the consumer to be assigned its partitions")
    finally:
        await runtime.broker.stop()
        await runtime.mongo.close()
