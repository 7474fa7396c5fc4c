"""The `sends` ledger: one document per run and recipient, the claim on its message and the reply.

SMTP cannot be made idempotent: a server may have accepted a message whose
reply the mailer never read, and a ledger kept elsewhere cannot be written
in the same instant as the server's acceptance. Herald chooses at least
once: a recipient's email is never lost to a crash, and the rare crash in
the span between the server's acceptance and the ledger's record sends it a
second time (same Message-ID, which many mail stores fold into one).

So before the end-of-data marker a mailer *claims* the recipient (an insert
on `_id`, state `sending`, with the time), then records the reply
(`accepted`) or drops the claim on a refusal. A claim younger than the lease
belongs to a delivery still at work (two mailers on one run during a
rebalance): the other abandons its copy before the marker, so nothing is
sent twice. A claim older than the lease was left by a mailer that stopped;
it is taken over and the message sent again, and that is logged and counted
("reply unknown") as the one case that can make a duplicate. A database
outage is not such a case: the reply's record is retried in place until the
database is back, since only the mailer that read the reply knows it.

Looked up by `_id` only, so its cost follows the run's recipients, not the
size of the ledger, on MongoDB and FerretDB alike.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from herald.services.mailer.ports import Claim
from herald.shared.contract.messages import RecipientOutcome, RecipientResult, utcnow
from herald.shared.runtime.mongo import Document

SENDS = "sends"
#: One marker per lapsed claim taken over (so only after a mailer stopped mid-send).
TAKEOVERS = "send_takeovers"
#: Pause between tries of a reply's record while the database is away.
OUTAGE_PAUSE_S = 1.0

log = logging.getLogger("herald.mailer")


def send_id(run_id: str, recipient: str) -> str:
    return f"{run_id}|{recipient.lower()}"


class Ledger:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        lease: timedelta,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sends = db[SENDS]
        self._takeovers = db[TAKEOVERS]
        self._lease = lease
        #: Injectable so a test can move past a lease instead of sleeping through it.
        self._clock = clock

    async def accepted(self, run_id: str, recipient: str) -> RecipientResult | None:
        doc = await self._sends.find_one({"_id": send_id(run_id, recipient)})
        if doc is None or doc.get("state", "accepted") != "accepted":
            return None
        return RecipientResult(
            address=doc["recipient"],
            outcome=RecipientOutcome.ACCEPTED,
            smtp_code=doc.get("smtp_code"),
            smtp_message=doc.get("smtp_message"),
        )

    async def claim(self, run_id: str, tenant_id: str, recipient: str) -> Claim:
        now = self._clock()
        key = send_id(run_id, recipient)
        doc = {
            "_id": key,
            "run_id": run_id,
            "tenant_id": tenant_id,
            "recipient": recipient,
            "state": "sending",
            "claimed_at": now,
        }
        try:
            await self._sends.insert_one(doc)
        except DuplicateKeyError:
            return await self._take_over(key, now)
        return Claim.TAKEN

    async def _take_over(self, key: str, now: datetime) -> Claim:
        """An expired claim changes hands once, whatever the database.

        FerretDB 1.x has no atomic conditional update, so the taker is whoever
        inserts the marker named by the lapsed claim's time (insert-unique is
        atomic everywhere); every other mailer that saw the same lapse is HELD.
        """
        held = await self._sends.find_one({"_id": key})
        if held is None or held.get("state") != "sending":
            return Claim.HELD
        claimed_at: datetime = held["claimed_at"]
        if now - claimed_at < self._lease:
            return Claim.HELD
        try:
            await self._takeovers.insert_one({"_id": f"{key}@{claimed_at.isoformat()}", "at": now})
        except DuplicateKeyError:
            return Claim.HELD
        moved = await self._sends.update_one(
            {"_id": key, "state": "sending", "claimed_at": claimed_at},
            {"$set": {"claimed_at": now}},
        )
        # Unmoved: the old holder recorded its reply (or released) after all.
        return Claim.TAKEN_OVER if moved.modified_count == 1 else Claim.HELD

    async def confirm(self, run_id: str, result: RecipientResult) -> None:
        fields = {
            "state": "accepted",
            "smtp_code": result.smtp_code,
            "smtp_message": result.smtp_message,
            "accepted_at": self._clock(),
        }
        key = send_id(run_id, result.address)
        await _through_outages(key, lambda: self._sends.update_one({"_id": key}, {"$set": fields}))

    async def release(self, run_id: str, recipient: str) -> None:
        """The server did not take the message: the next delivery may send it."""
        key = send_id(run_id, recipient)
        await _through_outages(
            key, lambda: self._sends.delete_one({"_id": key, "state": "sending"})
        )


async def _through_outages(key: str, write: Callable[[], Awaitable[object]]) -> None:
    """Retry a record of the server's reply in place until the database takes it.

    Only this process knows the reply. Given up on, the claim would stay open
    and a later delivery, unable to tell, would send again ("reply unknown").
    Both writes are idempotent, so one that landed before its reply was lost
    is harmless to repeat.
    """
    while True:
        try:
            await write()
            return
        except ConnectionFailure as exc:
            log.warning("recording the reply for %s waits for the database: %s", key, exc)
            await asyncio.sleep(OUTAGE_PAUSE_S)
