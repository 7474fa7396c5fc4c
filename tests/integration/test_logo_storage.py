"""Tenants' logos on the real scheduler and FerretDB: stored only for accepted commands,
removed once no tenant has named them for their retention.

The audit's reproduction (tests of `set-branding --logo ... --expected-version 99`)
left a file in `brand_assets` per rejected command, never removed.
"""

from __future__ import annotations

from base64 import b64encode
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.client.commands import CommandRejectedError, HeraldClient
from herald.services.scheduler.cleanup import UNUSED_SINCE, scheduler_cleanup
from herald.services.scheduler.ports import Output
from herald.services.scheduler.tenant_commands import TenantState
from herald.services.scheduler.tenant_store import TenantStore
from herald.shared.contract.messages import ChangeTenantSettings, LogoUpload
from herald.shared.contract.tenant_settings import TenantBranding
from herald.shared.runtime.artifacts import BRAND_BUCKET, ArtifactStore
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.conftest import fresh_settings
from tests.helpers import running_scheduler
from tests.infra import Endpoints

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
async def scheduler(
    infra: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    settings = fresh_settings(infra)
    async with running_scheduler(settings, tmp_path_factory.mktemp("logs")) as running:
        yield running


def _png(n: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes([n]) * 2048


def _upload(data: bytes) -> dict[str, Any]:
    return {"filename": "logo.png", "content_type": "image/png", "data": b64encode(data)}


def _branding(tenant: str, data: bytes, expected: int | None = None) -> ChangeTenantSettings:
    return ChangeTenantSettings(
        command_id=uuid4(),
        tenant_id=tenant,
        expected_version=expected,
        branding={
            "platform_name": tenant.title(),
            "platform_base_url": f"https://{tenant}.example",
            "logo_upload": _upload(data),
        },
    )


def _logo_id(data: bytes) -> str:
    return LogoUpload.model_validate(_upload(data)).stored_as().asset_id


async def _logos(db: AsyncDatabase[Document]) -> set[str]:
    return {doc["_id"] async for doc in db[f"{BRAND_BUCKET}.files"].find({}, {"_id": 1})}


async def test_a_rejected_branding_command_stores_no_logo(
    herald: HeraldClient, sdb: AsyncDatabase[Document]
) -> None:
    for n in range(3):
        with pytest.raises(CommandRejectedError) as rejected:
            await herald.send(_branding("logojunk", _png(n), expected=99))
        assert [e.field for e in rejected.value.errors] == ["expected_version"]
    assert await sdb[f"{BRAND_BUCKET}.files"].count_documents({}) == 0
    assert await sdb[f"{BRAND_BUCKET}.chunks"].count_documents({}) == 0


async def test_a_replaced_logo_goes_once_unnamed_for_its_retention(
    herald: HeraldClient, sdb: AsyncDatabase[Document], scheduler: Settings
) -> None:
    first, second, third = _png(10), _png(11), _png(12)
    for version, data in enumerate((first, second, third)):
        accepted = await herald.send(_branding("replacer", data, expected=version))
        assert accepted.version == version + 1
    assert await _logos(sdb) >= {_logo_id(first), _logo_id(second), _logo_id(third)}

    clock = Clock(NOW)
    cleanup = scheduler_cleanup(sdb, scheduler, clock)
    await cleanup.prepare()
    await cleanup.run_once()
    # Found unnamed, kept for now: a renderer may still read the logo just replaced.
    assert await _logos(sdb) >= {_logo_id(first), _logo_id(second), _logo_id(third)}
    marked = await sdb[f"{BRAND_BUCKET}.files"].find_one({"_id": _logo_id(first)})
    assert marked is not None
    assert marked["metadata"][UNUSED_SINCE] is not None

    # Another tenant names the first logo again: it stays; the second goes a day after.
    await herald.send(_branding("reuser", first, expected=0))
    clock.now = NOW + timedelta(days=scheduler.retention.logos_days, minutes=1)
    await cleanup.run_once()
    left = await _logos(sdb)
    assert _logo_id(second) not in left
    assert {_logo_id(first), _logo_id(third)} <= left
    assert await sdb[f"{BRAND_BUCKET}.chunks"].count_documents({"files_id": _logo_id(second)}) == 0
    logos = ArtifactStore(sdb, BRAND_BUCKET)
    assert await logos.read(_logo_id(first)) == first
    assert await logos.read(_logo_id(third)) == third
    kept = await sdb[f"{BRAND_BUCKET}.files"].find_one({"_id": _logo_id(first)})
    assert kept is not None
    assert UNUSED_SINCE not in kept["metadata"]


async def test_a_logo_named_while_it_is_removed_is_stored_again(
    settings: Settings, db: AsyncDatabase[Document], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No transactions: a command may name a logo between a pass's look and its removal."""
    store = TenantStore(db)
    data = _png(20)
    ref = await store.put_logo(LogoUpload.model_validate(_upload(data)))
    clock = Clock(NOW)
    cleanup = scheduler_cleanup(db, settings, clock)
    await cleanup.prepare()
    await cleanup.run_once()  # found unnamed
    remove = ArtifactStore.remove_upload

    async def named_meanwhile(self: ArtifactStore, doc: Document) -> None:
        await remove(self, doc)
        branding = TenantBranding(
            platform_name="Late", platform_base_url="https://late.example", logo=ref
        )
        await store.save(
            None, TenantState("late", 1, branding=branding), "c-1", [Output("t", "{}")]
        )

    monkeypatch.setattr(ArtifactStore, "remove_upload", named_meanwhile)
    clock.now = NOW + timedelta(days=settings.retention.logos_days, minutes=1)
    removed, _ = await cleanup.run_once()
    assert removed == 0
    assert await ArtifactStore(db, BRAND_BUCKET).read(ref.asset_id) == data
