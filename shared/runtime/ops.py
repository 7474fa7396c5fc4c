"""The operator's port of every service: `/healthz`, `/readyz` and `/metrics`.

A few fixed GET routes on `asyncio.start_server`, in the service's own event
loop: a web framework would bring its own server and signal handling, which
would fight FastStream's graceful shutdown for SIGTERM.

- `/healthz`: the process answers (liveness).
- `/readyz`: Kafka and MongoDB answer and every consumer has partitions
  assigned (readiness), each reported on its own, at start too. Run at most
  as many replicas of a service as its topics have partitions, or the extra
  ones stay unready by design.
- `/metrics`: Prometheus text: FastStream's Kafka metrics, Herald's own
  (`shared/metrics.py`) and the consumers' lag per partition.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiokafka import AIOKafkaClient, AIOKafkaConsumer
from faststream.kafka import KafkaBroker
from prometheus_client import generate_latest
from pymongo import AsyncMongoClient

from herald.shared.runtime.kafka import client_options
from herald.shared.runtime.metrics import CONSUMER_LAG, REGISTRY
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import KafkaSettings, OpsSettings

log = logging.getLogger("herald.ops")

_TIMEOUT_S = 2.0


class OpsServer:
    def __init__(
        self,
        settings: OpsSettings,
        kafka: KafkaSettings,
        broker: KafkaBroker,
        mongo: AsyncMongoClient[Document],
    ) -> None:
        self._settings = settings
        self._kafka = kafka
        self._broker = broker
        self._mongo = mongo
        self._server: asyncio.Server | None = None

    def _consumers(self) -> list[AIOKafkaConsumer]:
        """The started consumers (a Kafka subscriber has one once it runs)."""
        found = (getattr(sub, "consumer", None) for sub in self._broker.subscribers)
        return [consumer for consumer in found if isinstance(consumer, AIOKafkaConsumer)]

    async def start(self) -> None:
        ops = self._settings
        self._server = await asyncio.start_server(self._serve, ops.host, ops.port)
        log.info("health and metrics on %s:%d", ops.host, ops.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def readiness(self) -> dict[str, bool]:
        """Each dependency's state; the service is ready when all are True."""
        checks: dict[str, bool] = {}
        checks["kafka"] = await self._kafka_answers()
        try:
            await asyncio.wait_for(self._mongo.admin.command("ping"), _TIMEOUT_S)
            checks["mongodb"] = True
        except Exception:  # any failure means "not reachable now"; the probe retries
            checks["mongodb"] = False
        subscribers = list(self._broker.subscribers)
        consumers = self._consumers()
        checks["partitions"] = len(consumers) == len(subscribers) and all(
            consumer.assignment() for consumer in consumers
        )
        return checks

    async def _kafka_answers(self) -> bool:
        """The broker's own client once it runs; before, while the service waits at start
        (for MongoDB, say), a client of this check's, so that Kafka is not reported down
        for not being connected yet."""
        if self._broker.running:
            return bool(await self._broker.ping(timeout=_TIMEOUT_S))
        client = AIOKafkaClient(**client_options(self._kafka))
        try:
            await asyncio.wait_for(client.bootstrap(), _TIMEOUT_S)
        except Exception:  # any failure means "not reachable now"; the probe retries
            return False
        finally:
            await client.close()
        return True

    async def _measure_lag(self) -> None:
        """Lag per assigned partition, read when Prometheus scrapes: end offset - position."""
        CONSUMER_LAG.clear()
        for consumer in self._consumers():
            for tp in consumer.assignment():
                end = consumer.highwater(tp)
                if end is None:
                    continue  # nothing fetched from it yet
                position = await consumer.position(tp)
                CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, end - position))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), _TIMEOUT_S)
            while (await asyncio.wait_for(reader.readline(), _TIMEOUT_S)).strip():
                pass  # headers: nothing here needs them
            method, _, rest = request.decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            status, content_type, body = await self._route(method, path)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method != "GET":
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        if path == "/healthz":
            return "200 OK", "text/plain", b"ok\n"
        if path == "/readyz":
            checks = await self.readiness()
            status = "200 OK" if all(checks.values()) else "503 Service Unavailable"
            return status, "application/json", json.dumps(checks).encode() + b"\n"
        if path == "/metrics":
            await self._measure_lag()
            return "200 OK", "text/plain; version=0.0.4", generate_latest(REGISTRY)
        return "404 Not Found", "text/plain", b"not found\n"
