"""The `sends` ledger: one document per run and recipient, written when the server accepted.

Looked up by `_id` only, so its cost follows the run's recipients, not the
size of the ledger, on MongoDB and FerretDB alike.
"""

from __future__ import annotations

import contextlib

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.messages import RecipientOutcome, RecipientResult, utcnow
from shared.mongo import Document

SENDS = "sends"


def send_id(run_id: str, recipient: str) -> str:
    return f"{run_id}|{recipient.lower()}"


class Ledger:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._sends = db[SENDS]

    async def accepted(self, run_id: str, recipient: str) -> RecipientResult | None:
        doc = await self._sends.find_one({"_id": send_id(run_id, recipient)})
        if doc is None:
            return None
        return RecipientResult(
            address=doc["recipient"],
            outcome=RecipientOutcome.ACCEPTED,
            smtp_code=doc.get("smtp_code"),
            smtp_message=doc.get("smtp_message"),
        )

    async def record(self, run_id: str, tenant_id: str, result: RecipientResult) -> None:
        doc = {
            "_id": send_id(run_id, result.address),
            "run_id": run_id,
            "tenant_id": tenant_id,
            "recipient": result.address,
            "smtp_code": result.smtp_code,
            "smtp_message": result.smtp_message,
            "accepted_at": utcnow(),
        }
        # A duplicate means an earlier delivery of this run recorded it first.
        with contextlib.suppress(DuplicateKeyError):
            await self._sends.insert_one(doc)
