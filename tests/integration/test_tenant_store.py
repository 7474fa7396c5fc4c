"""Tenant settings on the real servers: the store's conditional write on MongoDB/FerretDB,
logos in GridFS, and the compacted topic read whole by `TenantTable`."""

from __future__ import annotations

from base64 import b64encode

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.services.scheduler.ports import ConcurrentChange, Output
from herald.services.scheduler.tenant_commands import TenantState
from herald.services.scheduler.tenant_store import TenantStore
from herald.shared.contract.messages import LogoUpload, TenantSettings
from herald.shared.contract.tenant_settings import TenantCompliance
from herald.shared.contract.topics import Topics
from herald.shared.runtime.artifacts import BRAND_BUCKET, ArtifactStore
from herald.shared.runtime.kafka import make_broker, publish_many
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from herald.shared.runtime.tenant_table import TenantTable
from tests.helpers import wait_until

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


async def test_a_write_from_a_stale_version_changes_nothing(db: AsyncDatabase[Document]) -> None:
    store = TenantStore(db)
    first = TenantState("acme", 1, default_timezone="Europe/Paris")
    await store.save(None, first, "c-1", [Output("t", "{}", "acme")])
    with pytest.raises(ConcurrentChange):
        await store.save(None, first, "c-2", [])  # a second first write
    uk = TenantCompliance(abandon_period="24h", abandon_threshold_pct=2.5)
    second = TenantState("acme", 2, default_timezone="Asia/Tokyo", compliance=uk)
    await store.save(first, second, "c-3", [])
    with pytest.raises(ConcurrentChange):
        await store.save(first, TenantState("acme", 2), "c-4", [])  # from version 1 again
    stored = await store.read("acme")
    assert stored is not None
    assert stored.state == second
    assert stored.outbox["c-1"] == [Output("t", "{}", "acme")]
    assert await store.read("nobody") is None


async def test_a_logo_is_stored_once_per_content_and_read_back(
    db: AsyncDatabase[Document],
) -> None:
    store = TenantStore(db)
    upload = LogoUpload(filename="acme.png", content_type="image/png", data=b64encode(PNG))
    ref = await store.put_logo(upload)
    again = await store.put_logo(upload.model_copy(update={"filename": "other.png"}))
    assert again.asset_id == ref.asset_id
    logos = ArtifactStore(db, BRAND_BUCKET)
    assert await logos.read(ref.asset_id) == PNG
    assert await db[f"{BRAND_BUCKET}.files"].count_documents({}) == 1


async def test_the_table_reads_the_latest_of_each_tenant_and_follows_changes(
    topics_ready: Settings,
) -> None:
    settings = topics_ready
    topics = Topics(settings.kafka.topic_prefix)
    broker = make_broker(settings, "tests")
    await broker.start()
    try:
        await publish_many(
            broker,
            topics,
            [
                TenantSettings(tenant_id="acme", version=1, default_timezone="UTC"),
                TenantSettings(tenant_id="acme", version=3, default_timezone="Asia/Tokyo"),
                # Older than what is read: never wins, whatever its place.
                TenantSettings(tenant_id="acme", version=2, default_timezone="Europe/Paris"),
                TenantSettings(tenant_id="globex", version=1, default_timezone="America/Lima"),
            ],
        )
        table = TenantTable(settings.kafka, topics.tenant_settings)
        await table.start(timeout_s=30)
        try:
            # Caught up when `start` returns: nothing is served on stale settings.
            acme, globex = table.settings("acme"), table.settings("globex")
            assert acme is not None
            assert (acme.version, acme.default_timezone) == (3, "Asia/Tokyo")
            assert globex is not None
            assert globex.default_timezone == "America/Lima"
            assert table.settings("nobody") is None
            await publish_many(broker, topics, [TenantSettings(tenant_id="globex", version=2)])

            async def followed() -> TenantSettings | None:
                latest = table.settings("globex")
                return latest if latest is not None and latest.version == 2 else None

            await wait_until(followed, 10, "the table to follow globex's change")
        finally:
            await table.stop()
    finally:
        await broker.stop()
