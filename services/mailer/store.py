"""The `sends` ledger: a claim per run and recipient, then the server's acceptance beside it.

SMTP cannot be made idempotent: a server may have accepted a message whose
reply the mailer never read, and a ledger kept elsewhere cannot be written
in the same instant as the server's acceptance. Herald chooses at least
once: a recipient's email is never lost to a crash, and the rare crash in
the span between the server's acceptance and the ledger's record sends it a
second time (same Message-ID, which many mail stores fold into one).

So before the end-of-data marker a mailer *claims* the recipient (an insert
on `_id`, state `sending`, with the time), then records the reply: a
*receipt* (`accepted`, its own document, `_id` the claim's plus
`RECEIPT`), or marks the claim `released` on a refusal, for the next
delivery to take without waiting. A claim younger than the
lease belongs to a delivery still at work (two mailers on one run during a
rebalance): the other abandons its copy before the marker, so nothing is
sent twice. A claim older than the lease, with no receipt, was left by a
mailer that stopped; it is taken over and the message sent again, and that
is logged and counted ("reply unknown") as the one case that can make a
duplicate. A database outage is not such a case: the reply's record is
retried in place until the database is back, since only the mailer that
read the reply knows it.

Only inserts on the way of an email. On FerretDB an update costs about 1 ms
of database CPU per document, batched or not (it reads and rewrites the
document in a transaction of its own), an insert in a batch a twentieth of
that: a receipt beside the claim, rather than the claim updated, halved
the database's CPU per email (1.6 to 0.8 ms, `bench/mailer.py`). A receipt
is recorded even when its claim is gone (another mailer's refusal released
it): the server accepted the message, and forgetting that would mail the
recipient again. Entries written before receipts existed (the claim updated
to `accepted`) read the same.

Round trips are few. A run's earlier acceptances are one read by equality
on `run_id`: pushed down by FerretDB, it costs about one lookup by `_id`
(measured), while `$in` on `_id` is filtered in FerretDB itself after reading
the whole collection; on MongoDB it is indexed (`ensure_indexes`).
Claims, receipts and releases are group-committed: those made while one
write is in flight go out together in the next, one `insert_many` or one
`bulk_write` across every run this process delivers, so a record waits at
most for the write before it, never for the rest of its run (which could
outlast the claim's lease). Each caller still awaits its own claim before
the end-of-data marker and its own record before its run's status, so the
rule above holds unchanged; a crash between a reply and its record is the
counted "reply unknown" case, as before. Everything else is by `_id`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import TypeVar

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from herald.services.mailer.ports import Claim
from herald.shared.contract.messages import RecipientOutcome, RecipientResult, utcnow
from herald.shared.runtime.group_commit import GroupCommit
from herald.shared.runtime.mongo import UPDATES_PER_COMMAND, Document, insert_new
from herald.shared.runtime.retention import expiry_fields

SENDS = "sends"
#: One marker per claim that changed hands: lapsed (a mailer stopped mid-send) or released.
TAKEOVERS = "send_takeovers"
#: What a receipt, a claim and a takeover marker expire by (retention): a time and its day.
ACCEPTED_AT, ACCEPTED_DAY = "accepted_at", "accepted_day"
CLAIMED_AT, CLAIMED_DAY = "claimed_at", "claimed_day"
TAKEN_AT, TAKEN_DAY = "at", "day"
#: Pause between tries of a reply's record while the database is away.
OUTAGE_PAUSE_S = 1.0
#: Claims or receipts in one insert at most (FerretDB inserts them in one SQL statement).
INSERTS_PER_WRITE = 64
#: A claim's states; an acceptance is a receipt of its own (`RECEIPT`).
SENDING, RELEASED = "sending", "released"
#: Releases in one `bulk_write` at most: FerretDB's limit on update statements.
RELEASES_PER_WRITE = UPDATES_PER_COMMAND
#: A receipt's `_id` is its claim's and this: an address's domain never holds a `|`, so no
#: claim's `_id` ends so.
RECEIPT = "|accepted"

log = logging.getLogger("herald.mailer")
Written = TypeVar("Written")


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
        #: Claims and receipts, together: a run's claims and its replies interleave.
        self._inserts = GroupCommit(self._insert, INSERTS_PER_WRITE)
        self._releases = GroupCommit(self._mark_released, RELEASES_PER_WRITE)
        #: When this process claimed each recipient it is sending to: a release names its
        #: own claim, never the claim of a delivery that took a lapsed one over.
        self._held: dict[str, datetime] = {}

    async def ensure_indexes(self) -> None:
        """`run_id` for `acceptances` (MongoDB uses it; FerretDB pushes the equality down)."""
        await self._sends.create_index("run_id")

    async def acceptances(
        self, run_id: str, recipients: Iterable[str]
    ) -> dict[str, RecipientResult]:
        wanted = {send_id(run_id, recipient): recipient for recipient in recipients}
        found: dict[str, RecipientResult] = {}
        async for doc in self._sends.find({"run_id": run_id}):
            asked = wanted.get(doc["_id"].removesuffix(RECEIPT))
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
            "state": SENDING,
        } | expiry_fields(CLAIMED_AT, CLAIMED_DAY, now)
        claim = Claim.TAKEN if await self._inserts.submit(doc) else await self._take_over(key, now)
        if claim is not Claim.HELD:
            self._held[key] = now
        return claim

    async def _insert(self, docs: list[Document]) -> list[bool]:
        """Inserted or not, per document; unordered, so one taken `_id` stops no other.

        A receipt already there (submitted again after an outage) stays as it is.
        """
        return await _noting_outages(len(docs), insert_new(self._sends, docs))

    async def _take_over(self, key: str, now: datetime) -> Claim:
        """A released claim, or a lapsed one without a receipt, changes hands once.

        FerretDB 1.x has no atomic conditional update, so the taker is whoever
        inserts the marker named by the claim's time (insert-unique is atomic
        everywhere); every other mailer that saw the same claim is HELD. The
        receipt is looked for once the marker is in, so an old holder's record
        that landed meanwhile still stops the copy.
        """
        held = await self._sends.find_one({"_id": key})
        state = None if held is None else held.get("state")
        if held is None or state not in (SENDING, RELEASED):
            return Claim.HELD
        claimed_at: datetime = held[CLAIMED_AT]
        if state == SENDING and now - claimed_at < self._lease:
            return Claim.HELD
        try:
            await self._takeovers.insert_one(
                {"_id": f"{key}@{claimed_at.isoformat()}"} | expiry_fields(TAKEN_AT, TAKEN_DAY, now)
            )
        except DuplicateKeyError:
            return Claim.HELD
        if await self._sends.find_one({"_id": key + RECEIPT}, {"_id": 1}) is not None:
            return Claim.HELD
        taking = {"$set": {"state": SENDING} | expiry_fields(CLAIMED_AT, CLAIMED_DAY, now)}
        moved = await self._sends.update_one(
            {"_id": key, "state": state, CLAIMED_AT: claimed_at}, taking
        )
        if moved.modified_count == 1:
            return Claim.TAKEN if state == RELEASED else Claim.TAKEN_OVER
        if state == SENDING:
            # Its holder was refused meanwhile and released it. The marker for this claim
            # is this delivery's, so it sends the copy: left released under a used
            # marker, the claim was HELD for every later delivery until the run failed.
            moved = await self._sends.update_one(
                {"_id": key, "state": RELEASED, CLAIMED_AT: claimed_at}, taking
            )
            if moved.modified_count == 1:
                return Claim.TAKEN
        return Claim.HELD

    async def confirm(self, run_id: str, result: RecipientResult) -> None:
        self._held.pop(send_id(run_id, result.address), None)
        receipt = {
            "_id": send_id(run_id, result.address) + RECEIPT,
            "run_id": run_id,
            "recipient": result.address,
            "state": "accepted",
            "smtp_code": result.smtp_code,
            "smtp_message": result.smtp_message,
        } | expiry_fields(ACCEPTED_AT, ACCEPTED_DAY, self._clock())
        await _through_outages(lambda: self._inserts.submit(receipt))

    async def release(self, run_id: str, recipient: str) -> None:
        """The server did not take the message: the next delivery may send it.

        Marked rather than deleted, so the next claim goes through `_take_over`
        and finds a receipt another holder may have recorded (refusals are rare:
        the update's cost does not matter). Only this process's own claim: one that
        stalled past its lease and was taken over is another delivery's now, and
        released it would be sent a third time beside that one's copy.
        """
        key = send_id(run_id, recipient)
        own = self._held.pop(key, None)
        mine = {CLAIMED_AT: own} if own is not None else {}
        release = UpdateOne({"_id": key, "state": SENDING} | mine, {"$set": {"state": RELEASED}})
        await _through_outages(lambda: self._releases.submit(release))

    async def _mark_released(self, releases: list[UpdateOne]) -> list[None]:
        await _noting_outages(len(releases), self._sends.bulk_write(releases, ordered=False))
        return [None] * len(releases)


async def _through_outages(submit: Callable[[], Awaitable[object]]) -> None:
    """Submit a record of the server's reply again until the database takes it.

    Only this process knows the replies. Given up on, the claims would stay
    open and a later delivery, unable to tell, would send again ("reply
    unknown"). Every record is idempotent, so one that landed before its reply
    was lost is harmless to repeat. The records that wait together are
    submitted together again, so they share their next write too.
    """
    while True:
        try:
            await submit()
            return
        except ConnectionFailure:  # noted once per write (`_noting_outages`)
            await asyncio.sleep(OUTAGE_PAUSE_S)


async def _noting_outages(count: int, write: Awaitable[Written]) -> Written:
    """One warning per write the database missed, not one per record waiting in it."""
    try:
        return await write
    except ConnectionFailure as exc:
        log.warning("the ledger missed a write of %d entries (replies are retried): %s", count, exc)
        raise
