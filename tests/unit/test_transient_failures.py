"""A message handled again after an outage is counted and logged alike on either path.

The HandlerErrors alert reads `herald_handler_transient_failures_total`: the renderer's and
the mailer's batches retry in place and never raise to FastStream, whose exception
counter therefore never saw their outages. The runbook quotes the log line.
"""

from __future__ import annotations

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pymongo.errors import AutoReconnect

from herald.shared.runtime import kafka
from herald.shared.runtime.batches import BatchRunner
from herald.shared.runtime.kafka import Record, make_broker, undecoded
from herald.shared.runtime.metrics import REGISTRY
from herald.shared.runtime.settings import Settings

#: The line the runbook (docs/operations.md, HandlerErrors) tells operators to look for.
LOGGED = "transient failure on {topic}, handling the message again: "


def _failures(service: str, topic: str) -> float:
    labels = {"service": service, "topic": topic}
    return REGISTRY.get_sample_value("herald_handler_transient_failures_total", labels) or 0.0


def _record(topic: str) -> Record:
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=b"s-1",
        value=b"{}",
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=[],
    )


async def test_a_batch_record_retried_in_place_counts_each_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outages = [AutoReconnect("database away"), ConnectionError("broker away")]
    handled: list[bytes] = []

    async def flaky(raw: bytes) -> None:
        if outages:
            raise outages.pop()
        handled.append(raw)

    async def poisoned(record: Record, exc: Exception) -> None:
        raise AssertionError(f"an outage is no poison: {exc!r}")

    before = _failures("mailer", "x.report.rendered")
    runner = BatchRunner(flaky, poisoned, limit=2, service="mailer", pause_s=0)
    await runner.run([_record("x.report.rendered")])

    assert handled == [b"{}"]
    assert _failures("mailer", "x.report.rendered") == before + 2
    logged = [r.getMessage() for r in caplog.records if r.name == "herald.kafka"]
    assert logged == [
        LOGGED.format(topic="x.report.rendered") + "ConnectionError('broker away')",
        LOGGED.format(topic="x.report.rendered") + "AutoReconnect('database away')",
    ]


async def test_a_message_read_again_by_the_middleware_counts_its_outage(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The scheduler's path: the error goes up to FastStream, the batch is read again."""
    monkeypatch.setattr(kafka, "RETRY_PAUSE_S", 0)
    broker = make_broker(Settings(), "scheduler")

    @broker.subscriber("x.schedule.commands", batch=True, decoder=undecoded)
    async def on_batch(message: KafkaMessage) -> None:
        raise ConnectionError("database away")

    before = _failures("scheduler", "x.schedule.commands")
    async with TestKafkaBroker(broker) as test_broker:
        with pytest.raises(ConnectionError):
            await test_broker.publish(b"{}", "x.schedule.commands")

    assert _failures("scheduler", "x.schedule.commands") == before + 1
    logged = [r.getMessage() for r in caplog.records if r.name == "herald.kafka"]
    assert logged == [
        LOGGED.format(topic="x.schedule.commands") + "ConnectionError('database away')"
    ]
