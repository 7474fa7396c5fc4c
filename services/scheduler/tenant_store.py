"""Tenants' settings in MongoDB (`tenants`) and their logos in GridFS (`brand_assets`),
with the logos' bin (`logo_trash`, `logo_verdicts`: `logo_bin`).

Like a schedule, a tenant's document holds its settings, their version and the
outputs of its recent commands (the outbox), written in one update that the
version makes conditional: a command read again after a crash finds its
outputs there and publishes them again instead of applying itself twice.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from herald.services.scheduler.logo_bin import (
    LogoStorage,
    StoredLogo,
    TrashMark,
    Verdict,
    keep_logo,
)
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
from herald.shared.runtime.retention import utcnow

TENANTS = "tenants"
#: The field a tenant's document names its logo by (`LogoRef.asset_id`).
LOGO_ID = "branding.logo.asset_id"
#: Outputs of this many recent commands stay in the tenant's document.
OUTBOX_SIZE = 20
#: Logos' uploads put in the bin (`_id` a fresh id per mark), and each mark's verdict.
LOGO_TRASH = "logo_trash"
LOGO_VERDICTS = "logo_verdicts"
#: Where a logo's files document keeps when a pass first found no tenant naming it.
UNUSED_SINCE = "unused_since"


class TenantStore:
    """The `TenantSettingsStore` port on MongoDB."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._tenants = db[TENANTS]
        self._logos = MongoLogos(db)

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
        # The version in the filter makes read-and-write one step on MongoDB; FerretDB 1.x
        # reads, compares and writes apart, and relies on one writer: the commands'
        # partition's consumer, which hands it over between batches (`CommandTurns`).
        result = await self._tenants.update_one(
            {"_id": new.tenant_id, "version": previous.version}, {"$set": fields}
        )
        if result.matched_count != 1:
            raise ConcurrentChange(new.tenant_id)

    async def put_logo(self, upload: LogoUpload) -> LogoRef:
        """Stored once per content (the same bytes sent again are the same file), taken out
        of the bin and its clock cleared (`logo_bin.keep_logo`)."""
        return await keep_logo(self._logos, upload)


class MongoLogos(LogoStorage):
    """The logos' `LogoStorage` on GridFS and two small collections."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._files = db[f"{BRAND_BUCKET}.files"]
        self._store = ArtifactStore(db, BRAND_BUCKET)
        self._tenants = db[TENANTS]
        self._marks = db[LOGO_TRASH]
        self._verdicts = db[LOGO_VERDICTS]

    async def ensure_indexes(self) -> None:
        """A logo's marks are looked up by `logo` (pushed down, and GIN-indexed, on FerretDB)."""
        await self._marks.create_index("logo")

    async def stored(self) -> list[StoredLogo]:
        return [_logo(doc) async for doc in self._files.find({}, {"metadata": 1})]

    async def find(self, logo_id: str) -> StoredLogo | None:
        doc = await self._files.find_one({"_id": logo_id}, {"metadata": 1})
        return None if doc is None else _logo(doc)

    async def upload(self, upload: LogoUpload) -> None:
        asset_id = upload.stored_as().asset_id
        # DuplicateKeyError: stored and removed again meanwhile; the caller looks again.
        with contextlib.suppress(DuplicateKeyError):
            await self._store.put(
                asset_id, upload.filename, upload.content_type, one_chunk(upload.data), {}
            )

    async def remove(self, logo: StoredLogo) -> None:
        upload = {"_id": logo.logo_id, "metadata": {"attempt": logo.attempt}}
        await self._store.remove_upload(upload)

    async def set_unused_since(self, logo: StoredLogo, since: datetime | None) -> None:
        field = f"metadata.{UNUSED_SINCE}"
        change = {"$set": {field: since}} if since is not None else {"$unset": {field: ""}}
        await self._files.update_one({"_id": logo.logo_id}, change)

    async def names(self) -> dict[str, str]:
        return {
            doc["_id"]: logo["asset_id"]
            async for doc in self._tenants.find({}, {LOGO_ID: 1})
            if (logo := (doc.get("branding") or {}).get("logo"))
        }

    async def marks(self, logo_id: str | None = None) -> list[TrashMark]:
        query = {} if logo_id is None else {"logo": logo_id}
        return [
            TrashMark(doc["_id"], doc["logo"], doc["attempt"], doc["trashed_at"])
            async for doc in self._marks.find(query)
        ]

    async def add_mark(self, mark: TrashMark) -> None:
        await self._marks.insert_one(
            {
                "_id": mark.mark_id,
                "logo": mark.logo_id,
                "attempt": mark.attempt,
                "trashed_at": mark.trashed_at,
            }
        )

    async def drop_mark(self, mark_id: str) -> None:
        await self._marks.delete_one({"_id": mark_id})

    async def verdicts(self) -> dict[str, Verdict]:
        return {doc["_id"]: Verdict(doc["verdict"]) async for doc in self._verdicts.find({})}

    async def decide(self, mark_id: str, verdict: Verdict) -> Verdict:
        while True:
            try:
                await self._verdicts.insert_one(
                    {"_id": mark_id, "verdict": verdict.value, "at": utcnow()}
                )
                return verdict
            except DuplicateKeyError:
                standing = await self._verdicts.find_one({"_id": mark_id})
                if standing is not None:
                    return Verdict(standing["verdict"])
                # dropped between the two (its mark was gone): insert again, it is void anyway

    async def drop_verdict(self, mark_id: str) -> None:
        await self._verdicts.delete_one({"_id": mark_id})


def _logo(doc: Document) -> StoredLogo:
    metadata = doc.get("metadata") or {}
    return StoredLogo(doc["_id"], metadata.get("attempt"), metadata.get(UNUSED_SINCE))


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
