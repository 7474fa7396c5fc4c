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

Round trips are few. A run's earlier acceptances are one read by equality
on `run_id`: pushed down by FerretDB, it costs about one lookup by `_id`
(measured), while `$in` on `_id` is filtered in FerretDB itself after reading
the whole collection; on MongoDB it is indexed (`ensure_indexes`).
Claims and records are group-committed: those made while one write is in
flight go out together in the next, one `insert_many` or one `bulk_write`
across every run this process delivers, so a record waits at most for the
write before it, never for the rest of its run (which could outlast the
claim's lease). Each caller still awaits its own claim before the
end-of-data marker and its own record before its run's status, so the rule
above holds unchanged; a crash between a reply and its record is the
counted "reply unknown" case, as before. Everything else is by `_id`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from pymongo import DeleteOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from herald.services.mailer.ports import Claim
from herald.shared.contract.messages import RecipientOutcome, RecipientResult, utcnow
from herald.shared.runtime.group_commit import GroupCommit
from herald.shared.runtime.mongo import UPDATES_PER_COMMAND, Document, insert_new
from herald.shared.runtime.retention import expiry_fields

SENDS = "sends"
#: One marker per lapsed claim taken over (so only after a mailer stopped mid-send).
TAKEOVERS = "send_takeovers"
#: An accepted entry's time and day, a takeover marker's: what they expire by (retention).
#: A claim (`sending`) has neither: it never expires.
ACCEPTED_AT, ACCEPTED_DAY = "accepted_at", "accepted_day"
TAKEN_AT, TAKEN_DAY = "at", "day"
#: Pause between tries of a reply's record while the database is away.
OUTAGE_PAUSE_S = 1.0
#: Claims in one insert at most (FerretDB inserts them in one SQL statement).
CLAIMS_PER_WRITE = 64
#: Records in one `bulk_write` at most: FerretDB's limit on update statements.
RECORDS_PER_WRITE = UPDATES_PER_COMMAND

log = logging.getLogger("herald.mailer")

Record = UpdateOne | DeleteOne


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
        self._claims = GroupCommit(self._insert_claims, CLAIMS_PER_WRITE)
        self._records = GroupCommit(self._write_records, RECORDS_PER_WRITE)

    async def ensure_indexes(self) -> None:
        """`run_id` for `acceptances` (MongoDB uses it; FerretDB pushes the equality down)."""
        await self._sends.create_index("run_id")

    async def acceptances(
        self, run_id: str, recipients: Iterable[str]
    ) -> dict[str, RecipientResult]:
        wanted = {send_id(run_id, recipient): recipient for recipient in recipients}
        found: dict[str, RecipientResult] = {}
        async for doc in self._sends.find({"run_id": run_id}):
            asked = wanted.get(doc["_id"])
            if asked is None or doc.get("state", "accepted") != "accepted":
                continue
            found[asked] = RecipientResult(
                address=doc["recipient"],
                outcome=RecipientOutcome.ACCEPTED,
                smtp_code=doc.get("smtp_code"),
                smtp_message=doc.get("smtp_message"),
            )
        return found

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
        if await self._claims.submit(doc):
            return Claim.TAKEN
        return await self._take_over(key, now)

    async def _insert_claims(self, docs: list[Document]) -> list[bool]:
        """Inserted or not, per claim; unordered, so one taken claim stops no other."""
        return await insert_new(self._sends, docs)

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
            await self._takeovers.insert_one(
                {"_id": f"{key}@{claimed_at.isoformat()}"} | expiry_fields(TAKEN_AT, TAKEN_DAY, now)
            )
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
        } | expiry_fields(ACCEPTED_AT, ACCEPTED_DAY, self._clock())
        await self._records.submit(
            UpdateOne({"_id": send_id(run_id, result.address)}, {"$set": fields})
        )

    async def release(self, run_id: str, recipient: str) -> None:
        """The server did not take the message: the next delivery may send it."""
        await self._records.submit(
            DeleteOne({"_id": send_id(run_id, recipient), "state": "sending"})
        )

    async def _write_records(self, records: list[Record]) -> list[None]:
        await _through_outages(len(records), lambda: self._sends.bulk_write(records, ordered=False))
        return [None] * len(records)


async def _through_outages(count: int, write: Callable[[], Awaitable[object]]) -> None:
    """Retry records of the server's replies in place until the database takes them.

    Only this process knows the replies. Given up on, the claims would stay
    open and a later delivery, unable to tell, would send again ("reply
    unknown"). Every record is idempotent, so one that landed before its reply
    was lost is harmless to repeat.
    """
    while True:
        try:
            await write()
            return
        except ConnectionFailure as exc:
            log.warning("recording %d replies waits for the database: %s", count, exc)
            await asyncio.sleep(OUTAGE_PAUSE_S)
