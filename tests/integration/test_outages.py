"""Kafka or MongoDB unreachable, at a service's start and under a running one.

The servers are taken away through a TCP proxy each test starts and stops
(`tests/tcp_proxy.py`); the shared ones are never stopped. At start a service
waits for them in place: alive (`/healthz`), unready with the missing one named
in `/readyz` and its log, and ready by itself once it is back; Kubernetes
restarting it instead would back off longer each time. Settings the servers
refuse stop it at once. A running service's handler that meets an outage
counts it for the HandlerErrors alert.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from herald.shared.contract.topics import Topics
from herald.shared.runtime.kafka import client_options
from herald.shared.runtime.settings import Settings
from tests.helpers import ServiceProcess, ops_get, wait_until
from tests.samples import report_rendered
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

SERVICES = ["scheduler", "renderer", "mailer"]


async def _fetch(port: int, path: str) -> tuple[int, str]:
    return await asyncio.to_thread(ops_get, port, path)


async def _stop(service: ServiceProcess) -> int:
    """Waited for in a thread: the proxy, in this event loop, forwards its last words."""
    return await asyncio.to_thread(service.stop)


async def _readiness(service: ServiceProcess) -> tuple[int, dict[str, bool]]:
    status, body = await _fetch(service.ops_port, "/readyz")
    return status, json.loads(body)


async def _logged(service: ServiceProcess, text: str) -> bool:
    if service.process.poll() is not None:
        raise AssertionError(f"{service.name} exited:\n{service.log()[-3000:]}")
    return text in service.log()


def _proxy_to(address: str) -> TcpProxy:
    host, port = address.rsplit(":", 1)
    return TcpProxy(host, int(port))


def _mongo_through(settings: Settings, proxy: TcpProxy, selection_ms: int = 1000) -> Settings:
    """The settings with MongoDB reached through `proxy`; a server selection gives up
    after `selection_ms`, so the service meets the outage quickly."""
    url = settings.mongo.url.get_secret_value()
    server = urlsplit(url).netloc.rsplit("@", 1)[-1]
    mongo = settings.mongo.model_copy(
        update={
            "url": SecretStr(url.replace(server, f"127.0.0.1:{proxy.port}", 1)),
            "server_selection_timeout_ms": selection_ms,
        }
    )
    return settings.model_copy(update={"mongo": mongo})


def _mongo_proxy(settings: Settings) -> TcpProxy:
    server = urlsplit(settings.mongo.url.get_secret_value())
    assert server.hostname is not None
    return TcpProxy(server.hostname, server.port or 27017)


async def _comes_up(service: ServiceProcess) -> None:
    """Ready by itself once the server is back, within the longest pause between tries."""

    async def ready() -> bool:
        assert service.process.poll() is None, service.log()[-3000:]
        return (await _fetch(service.ops_port, "/readyz"))[0] == 200

    await wait_until(ready, 90, f"{service.name} to become ready")
    assert await _readiness(service) == (
        200,
        {"kafka": True, "mongodb": True, "partitions": True},
    )


async def _waits_unready_then_comes_up(
    service: ServiceProcess, proxy: TcpProxy, down: str, readiness: dict[str, bool]
) -> None:
    """`down` ("Kafka" or "MongoDB") is behind the `proxy`, not started yet: the service
    tries again, pausing longer each time (no exit, no restart needed), alive, and unready
    as `readiness` says; once the proxy starts, it comes up by itself."""
    try:
        for pause in ("1 s", "2 s"):
            await wait_until(
                lambda p=pause: _logged(
                    service, f"{down} unreachable at start, trying again in {p}: "
                ),
                30,
                f"{service.name} to wait for {down} ({pause})",
            )
        assert (await _fetch(service.ops_port, "/healthz"))[0] == 200
        assert await _readiness(service) == (503, readiness)
        await proxy.start()
        await _comes_up(service)
    finally:
        await _stop(service)
        await proxy.stop()


@pytest.mark.parametrize("name", SERVICES)
async def test_a_service_started_while_kafka_is_unreachable_waits_unready(
    name: str, topics_ready: Settings, log_dir: Path
) -> None:
    proxy = _proxy_to(topics_ready.kafka.bootstrap_servers.split(",")[0])  # not started yet
    kafka = topics_ready.kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:{proxy.port}"})
    service = ServiceProcess(name, topics_ready.model_copy(update={"kafka": kafka}), log_dir)
    # MongoDB answers, and /readyz says so though the consumers have not started.
    await _waits_unready_then_comes_up(
        service, proxy, "Kafka", {"kafka": False, "mongodb": True, "partitions": False}
    )


@pytest.mark.parametrize("name", SERVICES)
async def test_a_service_started_while_mongodb_is_unreachable_waits_unready(
    name: str, topics_ready: Settings, log_dir: Path
) -> None:
    proxy = _mongo_proxy(topics_ready)  # not started yet
    service = ServiceProcess(name, _mongo_through(topics_ready, proxy), log_dir)
    # Past several server selections (each gives up after 1 s): it waits on. Kafka
    # answers, though the broker is not started yet.
    await _waits_unready_then_comes_up(
        service, proxy, "MongoDB", {"kafka": True, "mongodb": False, "partitions": False}
    )


async def test_a_service_waiting_at_start_stops_cleanly_on_sigterm(
    topics_ready: Settings, log_dir: Path
) -> None:
    """The wait is cancelled before the shutdown closes the MongoDB client it uses."""
    proxy = _mongo_proxy(topics_ready)  # never started
    settings = _mongo_through(topics_ready, proxy, selection_ms=10_000)
    service = ServiceProcess("mailer", settings, log_dir)

    async def alive() -> bool:
        return (await _fetch(service.ops_port, "/healthz"))[0] == 200

    await wait_until(alive, 30, "the mailer to answer /healthz")
    # Now inside its first server selection, which gives up only after 10 s.
    assert service.stop(timeout_s=15) == 0
    assert "CRITICAL" not in service.log()
    assert "shut down gracefully" in service.log()


async def test_settings_the_servers_refuse_stop_the_service_at_once(
    settings: Settings, log_dir: Path
) -> None:
    """No waiting on what can never work: one broker cannot hold three replicas."""
    service = ServiceProcess(
        "renderer", settings, log_dir, extra_env={"HERALD_KAFKA__REPLICATION_FACTOR": "3"}
    )
    try:
        code = await asyncio.to_thread(service.process.wait, 60)
    finally:
        service.stop()
    assert code == 1
    lines = service.log().splitlines()
    # One JSON line says why, its traceback inside: no bare traceback after the JSON lines.
    records = [json.loads(line) for line in lines]
    assert records[-1]["level"] == "CRITICAL"
    assert re.match(r"renderer stopped: InvalidReplicationFactorError", records[-1]["message"])
    assert "unreachable" not in service.log()


async def test_a_running_mailer_counts_the_transient_failures_of_a_mongodb_outage(
    topics_ready: Settings, log_dir: Path
) -> None:
    """What HandlerErrors alerts on: the mailer handles the message again in place, and
    never raises to FastStream, whose exception counter stayed empty."""
    proxy = _mongo_proxy(topics_ready)
    await proxy.start()
    settings = _mongo_through(topics_ready, proxy)
    topic = Topics(settings.kafka.topic_prefix).report_rendered
    service = ServiceProcess("mailer", settings, log_dir)
    try:
        await _comes_up(service)
        await proxy.stop()  # MongoDB goes away under the running mailer
        producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all")
        await producer.start()
        try:
            rendered = report_rendered()
            await producer.send_and_wait(
                topic, rendered.model_dump_json().encode(), key=rendered.key()
            )
        finally:
            await producer.stop()
        failures = re.compile(
            r'^herald_handler_transient_failures_total\{service="mailer",'
            rf'topic="{re.escape(topic)}"\}} ([0-9.]+)$',
            re.M,
        )

        async def counted() -> float:
            found = failures.search((await _fetch(service.ops_port, "/metrics"))[1])
            return float(found.group(1)) if found and float(found.group(1)) >= 2 else 0.0

        await wait_until(counted, 60, "the mailer to count its transient failures")
        assert f"transient failure on {topic}, handling the message again: " in service.log()
        metrics = (await _fetch(service.ops_port, "/metrics"))[1]
        assert "herald_messages_in_flight 1.0" in metrics
        assert (await _readiness(service))[1]["mongodb"] is False

        await proxy.start()  # back: the message is handled, nothing is in flight

        async def handled() -> bool:
            return (
                "herald_messages_in_flight 0.0" in (await _fetch(service.ops_port, "/metrics"))[1]
            )

        await wait_until(handled, 60, "the message to be handled once MongoDB is back")
    finally:
        await _stop(service)
        await proxy.stop()
