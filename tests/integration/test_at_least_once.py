"""Commits come after handling: a consumer that dies mid-message gets it again after restart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from herald.shared.runtime.kafka import client_options
from herald.shared.runtime.settings import Settings
from tests.helpers import settings_env, wait_until
from tests.infra import REPO

pytestmark = pytest.mark.integration


def _consumer(settings: Settings, journal: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.crashing_consumer", str(journal), *extra],
        cwd=REPO,
        env=env | settings_env(settings),
    )


async def test_message_is_redelivered_after_a_crash_mid_handler(
    settings: Settings, tmp_path: Path
) -> None:
    topic = f"{settings.kafka.topic_prefix}.crashy"
    admin = AIOKafkaAdminClient(**client_options(settings.kafka))
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    await admin.close()
    producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all")
    await producer.start()
    await producer.send_and_wait(topic, b"first", key=b"k")
    await producer.send_and_wait(topic, b"second", key=b"k")
    await producer.stop()
    journal = tmp_path / "journal"

    crashing = _consumer(settings, journal, "--crash")
    assert crashing.wait(60) == 17, "the consumer should have died in its handler"
    assert journal.read_text().splitlines() == ["received first"]

    survivor = _consumer(settings, journal)
    try:

        async def both_handled() -> bool:
            return "handled second" in journal.read_text()

        await wait_until(both_handled, 60, "the restarted consumer to handle both messages")
    finally:
        survivor.terminate()
        survivor.wait(30)
    assert journal.read_text().splitlines() == [
        "received first",
        "received first",
        "handled first",
        "received second",
        "handled second",
    ]
