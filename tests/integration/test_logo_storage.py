"""Tenants' logos on the real scheduler and FerretDB: stored only for accepted commands,
removed once no tenant has named them for their retention and a pass interval in the bin;
never while a tenant names them, whatever a pass and a command do meanwhile.

The audit's reproduction (tests of `set-branding --logo ... --expected-version 99`)
left a file in `brand_assets` per rejected command, never removed.
"""

from __future__ import annotations

from base64 import b64encode
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure

from herald.client.commands import CommandRejectedError, HeraldClient
from herald.services.scheduler.cleanup import scheduler_cleanup
from herald.services.scheduler.logo_bin import Verdict
from herald.services.scheduler.ports import Output
from herald.services.scheduler.tenant_commands import TenantState
from herald.services.scheduler.tenant_store import (
    LOGO_TRASH,
    LOGO_VERDICTS,
    UNUSED_SINCE,
    MongoLogos,
    TenantStore,
)
from herald.shared.contract.messages import ChangeTenantSettings, LogoUpload
from herald.shared.contract.tenant_settings import TenantBranding
from herald.shared.runtime.artifacts import BRAND_BUCKET, ArtifactStore
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.fakes.mailer import Clock

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


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

    # Another tenant names the first logo again: it stays; the second goes to the bin a day
    # after, still whole, and is purged a pass interval later.
    await herald.send(_branding("reuser", first, expected=0))
    kept = await sdb[f"{BRAND_BUCKET}.files"].find_one({"_id": _logo_id(first)})
    assert kept is not None
    assert UNUSED_SINCE not in kept["metadata"]  # named again: its clock cleared at once
    binned_at = NOW + timedelta(days=scheduler.retention.logos_days, minutes=1)
    clock.now = binned_at
    await cleanup.run_once()
    logos = ArtifactStore(sdb, BRAND_BUCKET)
    assert await logos.read(_logo_id(second)) == second
    assert [m["logo"] async for m in sdb[LOGO_TRASH].find({})] == [_logo_id(second)]
    clock.now = binned_at + timedelta(seconds=scheduler.retention.every_s)
    removed, _ = await cleanup.run_once()
    assert removed == 1
    left = await _logos(sdb)
    assert _logo_id(second) not in left
    assert {_logo_id(first), _logo_id(third)} <= left
    assert await sdb[f"{BRAND_BUCKET}.chunks"].count_documents({"files_id": _logo_id(second)}) == 0
    assert await logos.read(_logo_id(first)) == first
    assert await logos.read(_logo_id(third)) == third
    assert await sdb[LOGO_TRASH].count_documents({}) == 0
    assert await sdb[LOGO_VERDICTS].count_documents({}) == 0


async def _in_the_bin(
    settings: Settings, db: AsyncDatabase[Document], data: bytes
) -> tuple[TenantStore, str, Any, Clock]:
    """A logo stored for a command that never named it, put in the bin by two passes; the
    clock at the pass that may purge it."""
    store = TenantStore(db)
    ref = await store.put_logo(LogoUpload.model_validate(_upload(data)))
    clock = Clock(NOW)
    cleanup = scheduler_cleanup(db, settings, clock)
    await cleanup.prepare()
    await cleanup.run_once()  # found unnamed
    clock.now = NOW + timedelta(days=settings.retention.logos_days, minutes=1)
    await cleanup.run_once()  # in the bin
    assert await db[LOGO_TRASH].count_documents({"logo": ref.asset_id}) == 1
    clock.now += timedelta(seconds=settings.retention.every_s)
    return store, ref.asset_id, cleanup, clock


async def _name(store: TenantStore, tenant: str, data: bytes) -> None:
    """What a command does: keep its logo, save the settings naming it, keep it again."""
    upload = LogoUpload.model_validate(_upload(data))
    ref = await store.put_logo(upload)
    branding = TenantBranding(
        platform_name=tenant.title(), platform_base_url=f"https://{tenant}.example", logo=ref
    )
    await store.save(None, TenantState(tenant, 1, branding=branding), "c-1", [Output("t", "{}")])
    await store.put_logo(upload)


async def test_a_logo_named_while_a_pass_would_purge_it_is_never_missing(
    settings: Settings, db: AsyncDatabase[Document], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No transactions: a command names the logo after the pass found it unnamed. The first
    clean-up removed it, then stored it again (or crashed between: gone for good)."""
    data = _png(20)
    store, asset_id, cleanup, _ = await _in_the_bin(settings, db, data)
    logos = ArtifactStore(db, BRAND_BUCKET)
    seen: list[bytes] = []

    # The pass's look at the tenants, then the command, then the rest of the pass.
    names = MongoLogos.names

    async def look_then_command(self: MongoLogos) -> dict[str, str]:
        found = await names(self)
        await _name(store, "late", data)
        seen.append(await logos.read(asset_id))
        return found

    monkeypatch.setattr(MongoLogos, "names", look_then_command)
    removed, _ = await cleanup.run_once()
    monkeypatch.undo()
    assert removed == 0
    assert seen == [data]
    assert await logos.read(asset_id) == data
    # The pass lost the verdict to the command (`keep`): it took the logo out of the bin.
    assert await db[LOGO_TRASH].count_documents({}) == 0
    assert await db[LOGO_VERDICTS].count_documents({}) == 0
    assert await logos.read(asset_id) == data


async def test_a_purge_decided_before_the_command_named_the_logo_leaves_a_fresh_copy(
    settings: Settings, db: AsyncDatabase[Document], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pass won the verdict, then crashed before removing: the command stores a fresh
    copy, and the next pass finishes the purge of the old upload only."""
    data = _png(21)
    store, asset_id, cleanup, _ = await _in_the_bin(settings, db, data)
    old = await db[f"{BRAND_BUCKET}.files"].find_one({"_id": asset_id})
    assert old is not None
    decide = MongoLogos.decide

    async def decide_then_crash(self: MongoLogos, mark_id: str, verdict: Verdict) -> Verdict:
        standing = await decide(self, mark_id, verdict)
        if verdict is Verdict.PURGE:
            raise ConnectionFailure("the scheduler died here")
        return standing

    monkeypatch.setattr(MongoLogos, "decide", decide_then_crash)
    await cleanup.run_once()  # logged and tried again at the next pass
    monkeypatch.undo()
    await _name(store, "later", data)
    fresh = await db[f"{BRAND_BUCKET}.files"].find_one({"_id": asset_id})
    assert fresh is not None
    assert fresh["metadata"]["attempt"] != old["metadata"]["attempt"]
    await cleanup.run_once()
    assert await ArtifactStore(db, BRAND_BUCKET).read(asset_id) == data
    assert await db[LOGO_TRASH].count_documents({}) == 0
    assert await db[LOGO_VERDICTS].count_documents({}) == 0
