"""Tenants' settings in MongoDB (`tenants`) and their logos in GridFS (`brand_assets`).

Like a schedule, a tenant's document holds its settings, their version and the
outputs of its recent commands (the outbox), written in one update that the
version makes conditional: a command read again after a crash finds its
outputs there and publishes them again instead of applying itself twice.
"""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from herald.services.scheduler.ports import ConcurrentChange, Output, StoredTenant
from herald.services.scheduler.tenant_commands import TenantState
from herald.shared.contract.messages import LogoUpload
from herald.shared.contract.tenant_settings import (
    LogoRef,
    TenantBranding,
    TenantCompliance,
    TenantEmail,
)
from herald.shared.contract.tolerance import TOLERANT
from herald.shared.runtime.artifacts import BRAND_BUCKET, ArtifactStore, one_chunk
from herald.shared.runtime.mongo import Document

TENANTS = "tenants"
#: The field a tenant's document names its logo by (`LogoRef.asset_id`).
LOGO_ID = "branding.logo.asset_id"
#: Outputs of this many recent commands stay in the tenant's document.
OUTBOX_SIZE = 20


class TenantStore:
    """The `TenantSettingsStore` port on MongoDB."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._tenants = db[TENANTS]
        self._logos = ArtifactStore(db, BRAND_BUCKET)

    async def read(self, tenant_id: str) -> StoredTenant | None:
        doc = await self._tenants.find_one({"_id": tenant_id})
        if doc is None:
            return None
        outbox = {
            e["command_id"]: [Output(o["topic"], o["body"], o.get("key")) for o in e["outputs"]]
            for e in doc.get("outbox", [])
        }
        return StoredTenant(_state(doc), outbox)

    async def all_states(self) -> list[TenantState]:
        """Every tenant's settings (for `herald keys rotate`)."""
        return [_state(doc) async for doc in self._tenants.find({}, {"outbox": 0})]

    async def save(
        self, previous: TenantState | None, new: TenantState, command_id: str, outputs: list[Output]
    ) -> None:
        entry = {"command_id": command_id, "outputs": [o.to_document() for o in outputs]}
        fields = _document(new)
        if previous is None:
            try:
                await self._tenants.insert_one(fields | {"outbox": [entry]})
            except DuplicateKeyError as exc:
                raise ConcurrentChange(new.tenant_id) from exc
            return
        current = await self._tenants.find_one({"_id": new.tenant_id}, {"outbox": 1})
        fields["outbox"] = [*(current or {}).get("outbox", []), entry][-OUTBOX_SIZE:]
        fields.pop("_id")
        # The version in the filter makes read-and-write one atomic step.
        result = await self._tenants.update_one(
            {"_id": new.tenant_id, "version": previous.version}, {"$set": fields}
        )
        if result.matched_count != 1:
            raise ConcurrentChange(new.tenant_id)

    async def put_logo(self, upload: LogoUpload) -> LogoRef:
        """Stored once per content: the same bytes sent again are the same file."""
        ref = upload.stored_as()
        if await self._logos.find(ref.asset_id) is None:
            await self._logos.put(
                ref.asset_id, upload.filename, upload.content_type, one_chunk(upload.data), {}
            )
        return ref


def _document(state: TenantState) -> Document:
    return {
        "_id": state.tenant_id,
        "version": state.version,
        "email": state.email.model_dump(mode="json") if state.email else None,
        "branding": state.branding.model_dump(mode="json") if state.branding else None,
        "default_timezone": state.default_timezone,
        "compliance": state.compliance.model_dump(mode="json") if state.compliance else None,
    }


def _state(doc: Document) -> TenantState:
    email, branding, compliance = doc.get("email"), doc.get("branding"), doc.get("compliance")
    return TenantState(
        tenant_id=doc["_id"],
        version=doc["version"],
        email=TenantEmail.model_validate(email, context=TOLERANT) if email else None,
        branding=TenantBranding.model_validate(branding, context=TOLERANT) if branding else None,
        default_timezone=doc.get("default_timezone"),
        compliance=(
            TenantCompliance.model_validate(compliance, context=TOLERANT) if compliance else None
        ),
    )
