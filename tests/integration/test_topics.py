"""Herald's topics as `ensure_topics` creates them: the audit log is kept for good."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from herald.shared.contract.topics import Topics
from herald.shared.runtime.kafka import client_options
from herald.shared.runtime.settings import Settings

pytestmark = pytest.mark.integration


async def _configs(settings: Settings, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(**client_options(settings.kafka))
    await admin.start()
    try:
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
    finally:
        await admin.close()
    (resource,) = response.resources
    return {entry[0]: entry[1] for entry in resource[4]}


async def test_the_audit_topic_is_retained_and_never_compacted(topics_ready: Settings) -> None:
    topics = Topics(topics_ready.kafka.topic_prefix)
    audit = await _configs(topics_ready, topics.delivery_status)
    assert audit["cleanup.policy"] == "delete"
    assert audit["retention.ms"] == "-1"
    assert audit["retention.bytes"] == "-1"
    due = await _configs(topics_ready, topics.report_due)
    assert due["retention.ms"] != "-1"  # work topics keep the broker's retention
