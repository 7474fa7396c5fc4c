"""The `SendLedger` promises, on `store.Ledger` (FerretDB) and on the fake `MemoryLedger`.

The delivery use case is unit-tested on the fake; these hold it to the ledger
that decides, in production, whether an email may be sent again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.services.mailer.ports import Claim, SendLedger
from herald.services.mailer.store import SENDS, TAKEOVERS, Ledger, send_id
from herald.shared.contract.messages import RecipientOutcome, RecipientResult
from herald.shared.runtime.mongo import Document
from tests.fakes.mailer import Clock, MemoryLedger
from tests.integration.contract import SIDES, database

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=70)
#: The smallest step both sides tell apart: the database keeps milliseconds.
TICK = timedelta(milliseconds=1)
RUN = "brief@2026-11-27T08:00:00+00:00"
TENANT = "acme"
OPS = "Ops@Example.com"


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 27, 8, tzinfo=UTC))


@pytest.fixture(params=SIDES)
def ledger(request: pytest.FixtureRequest, clock: Clock) -> SendLedger:
    db = database(request)
    return MemoryLedger(LEASE, clock) if db is None else Ledger(db, LEASE, clock=clock)


async def _acceptance(ledger: SendLedger, recipient: str) -> RecipientResult | None:
    return (await ledger.acceptances(RUN, [recipient])).get(recipient)


def _accepted(address: str = OPS, code: int | None = 250) -> RecipientResult:
    return RecipientResult(
        address=address, outcome=RecipientOutcome.ACCEPTED, smtp_code=code, smtp_message="OK"
    )


async def test_a_recipient_never_claimed_has_no_acceptance(ledger: SendLedger) -> None:
    assert await _acceptance(ledger, OPS) is None


async def test_a_claim_is_held_for_its_lease_then_taken_over_once(
    ledger: SendLedger, clock: Clock
) -> None:
    """Two mailers on one run during a rebalance: the second abandons its copy."""
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.TAKEN
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.HELD
    clock.advance(LEASE - TICK)
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.HELD
    assert await _acceptance(ledger, OPS) is None  # a claim is no acceptance

    clock.advance(TICK)  # the mailer that claimed it stopped: its reply is unknown
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.TAKEN_OVER
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.HELD  # the new holder's lease runs
    clock.advance(LEASE)
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.TAKEN_OVER


async def _claims_at_once(ledger: SendLedger) -> Counter[Claim]:
    return Counter(await asyncio.gather(*(ledger.claim(RUN, TENANT, OPS) for _ in range(4))))


async def test_of_claims_made_at_once_one_wins(ledger: SendLedger) -> None:
    """However the mailers interleave, only one of them may send."""
    assert await _claims_at_once(ledger) == {Claim.TAKEN: 1, Claim.HELD: 3}


async def test_of_take_overs_made_at_once_one_wins(ledger: SendLedger, clock: Clock) -> None:
    """A reply unknown is sent again once, not once per mailer that noticed the lapsed lease."""
    await ledger.claim(RUN, TENANT, OPS)
    clock.advance(LEASE)
    assert await _claims_at_once(ledger) == {Claim.TAKEN_OVER: 1, Claim.HELD: 3}


async def test_a_confirmed_claim_reads_back_as_the_servers_acceptance(
    ledger: SendLedger,
) -> None:
    await ledger.claim(RUN, TENANT, OPS)
    await ledger.confirm(RUN, _accepted(OPS.lower(), code=250))
    assert await _acceptance(ledger, OPS.upper()) == _accepted(OPS.lower(), code=250)

    await ledger.claim(RUN, TENANT, "quiet@example.com")
    await ledger.confirm(RUN, _accepted("quiet@example.com", code=None))
    assert await _acceptance(ledger, "quiet@example.com") == _accepted(
        "quiet@example.com", code=None
    )


async def test_an_accepted_recipient_is_never_claimed_again(
    ledger: SendLedger, clock: Clock
) -> None:
    await ledger.claim(RUN, TENANT, OPS)
    await ledger.confirm(RUN, _accepted())
    clock.advance(LEASE * 10)
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.HELD


async def test_an_acceptance_is_recorded_even_when_its_claim_was_released(
    ledger: SendLedger, clock: Clock
) -> None:
    """Two holders after a takeover: one copy refused (released), the other accepted.

    The server took the message, so the recipient is done: no later claim may send it.
    """
    await ledger.claim(RUN, TENANT, OPS)
    clock.advance(LEASE)
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.TAKEN_OVER
    await ledger.release(RUN, OPS)  # the new holder's copy was refused
    await ledger.confirm(RUN, _accepted())  # the first holder's reply, read late
    assert await _acceptance(ledger, OPS) == _accepted()
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.HELD
    clock.advance(LEASE * 2)
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.HELD


async def test_an_entry_written_before_receipts_reads_the_same(db: AsyncDatabase[Document]) -> None:
    """A claim the mailer used to update to `accepted` is an acceptance, never claimed again."""
    ledger = Ledger(db, LEASE)
    await db[SENDS].insert_one(
        {
            "_id": send_id(RUN, OPS),
            "run_id": RUN,
            "tenant_id": TENANT,
            "recipient": OPS,
            "state": "accepted",
            "claimed_at": datetime(2026, 11, 27, 8, tzinfo=UTC),
            "smtp_code": 250,
            "smtp_message": "OK",
        }
    )
    assert await _acceptance(ledger, OPS) == _accepted()
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.HELD


async def test_a_release_drops_an_open_claim_so_the_next_delivery_sends(
    ledger: SendLedger,
) -> None:
    """The server refused the message: nothing was delivered, so a retry may send it at once,
    uncounted (no reply is unknown), and only one retry at that."""
    await ledger.claim(RUN, TENANT, OPS)
    await ledger.release(RUN, OPS)
    assert await _acceptance(ledger, OPS) is None
    assert await _claims_at_once(ledger) == {Claim.TAKEN: 1, Claim.HELD: 3}
    await ledger.release(RUN, "never-claimed@example.com")  # nothing to drop is no error


async def test_a_release_never_drops_an_accepted_entry(ledger: SendLedger, clock: Clock) -> None:
    await ledger.claim(RUN, TENANT, OPS)
    await ledger.confirm(RUN, _accepted())
    await ledger.release(RUN, OPS)
    assert await _acceptance(ledger, OPS) == _accepted()
    clock.advance(LEASE * 2)
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.HELD


async def test_one_entry_per_run_and_recipient_whatever_its_case(ledger: SendLedger) -> None:
    """Keys are `send_id`'s: an address is one mailbox however a schedule spells it."""
    assert await ledger.claim(RUN, TENANT, "ops@example.com") is Claim.TAKEN
    assert await ledger.claim(RUN, TENANT, "OPS@EXAMPLE.COM") is Claim.HELD
    assert await ledger.claim(RUN, TENANT, "dev@example.com") is Claim.TAKEN
    assert await ledger.claim("brief@2026-11-28T08:00:00+00:00", TENANT, OPS) is Claim.TAKEN

    await ledger.release(RUN, "Ops@Example.COM")
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.TAKEN
    await ledger.confirm(RUN, _accepted("OPS@example.com"))
    assert await _acceptance(ledger, "ops@EXAMPLE.com") == _accepted("OPS@example.com")


async def test_one_read_answers_for_a_runs_recipients_accepted_or_not(ledger: SendLedger) -> None:
    """Keyed as asked; a claim, a release, another run's entry are no acceptance."""
    for recipient in (OPS, "cfo@example.com", "dev@example.com", "gone@example.com"):
        await ledger.claim(RUN, TENANT, recipient)
    await ledger.claim("brief@2026-11-28T08:00:00+00:00", TENANT, "late@example.com")
    await ledger.confirm("brief@2026-11-28T08:00:00+00:00", _accepted("late@example.com"))
    await asyncio.gather(
        ledger.confirm(RUN, _accepted(OPS)),
        ledger.confirm(RUN, _accepted("cfo@example.com", code=251)),
        ledger.release(RUN, "gone@example.com"),
    )

    asked = ["ops@EXAMPLE.com", "cfo@example.com", "dev@example.com", "gone@example.com"]
    found = await ledger.acceptances(RUN, [*asked, "late@example.com", "never@example.com"])

    assert found == {
        "ops@EXAMPLE.com": _accepted(OPS),
        "cfo@example.com": _accepted("cfo@example.com", code=251),
    }
    assert await ledger.acceptances(RUN, []) == {}
    assert await ledger.claim(RUN, TENANT, "gone@example.com") is Claim.TAKEN  # released
    assert await ledger.claim(RUN, TENANT, "dev@example.com") is Claim.HELD  # still sending


async def test_claims_and_records_made_at_once_for_many_runs_each_keep_their_answer(
    ledger: SendLedger, clock: Clock
) -> None:
    """Concurrent deliveries share writes; every caller still gets its own claim and record."""
    runs = [f"brief@2026-11-{day:02d}T08:00:00+00:00" for day in range(1, 21)]
    recipients = [f"r{n}@example.com" for n in range(5)]
    pairs = [(run, recipient) for run in runs for recipient in recipients]
    await ledger.claim(runs[0], TENANT, recipients[0])  # held by a live delivery
    await ledger.claim(runs[1], TENANT, recipients[0])  # left by a mailer that stopped
    clock.advance(LEASE)
    await ledger.claim(runs[0], TENANT, recipients[0])  # its holder's lease runs on

    claims = await asyncio.gather(*(ledger.claim(run, TENANT, r) for run, r in pairs))

    expected = [Claim.TAKEN] * len(pairs)
    expected[0], expected[len(recipients)] = Claim.HELD, Claim.TAKEN_OVER
    assert claims == expected
    refused = {pair for n, pair in enumerate(pairs) if n % 3 == 0}
    await asyncio.gather(
        *(
            ledger.release(run, r) if (run, r) in refused else ledger.confirm(run, _accepted(r))
            for run, r in pairs
        )
    )
    for run in runs:
        found = await ledger.acceptances(run, recipients)
        assert found == {r: _accepted(r) for r in recipients if (run, r) not in refused}


class _ReleasedMeanwhile:
    """The takeovers collection, with the old holder's release landing right after the
    taker's marker (before its update): a race no timing in a test would hit."""

    def __init__(self, takeovers: Any, release: Callable[[], Awaitable[None]]) -> None:
        self._takeovers = takeovers
        self._release = release

    async def insert_one(self, doc: Document) -> Any:
        inserted = await self._takeovers.insert_one(doc)
        await self._release()
        return inserted


async def test_a_lapsed_claim_its_holder_releases_during_the_takeover_is_sent_again(
    db: AsyncDatabase[Document], clock: Clock
) -> None:
    """The old holder, stalled past its lease, is refused and releases the claim while another
    delivery takes it over: the taker sends (its marker names this claim), and no later
    delivery is turned away for good."""
    holder = Ledger(db, LEASE, clock=clock)
    assert await holder.claim(RUN, TENANT, OPS) is Claim.TAKEN
    clock.advance(LEASE)
    taker = Ledger(db, LEASE, clock=clock)
    taker._takeovers = _ReleasedMeanwhile(  # type: ignore[assignment]
        db[TAKEOVERS], lambda: holder.release(RUN, OPS)
    )
    assert await taker.claim(RUN, TENANT, OPS) is Claim.TAKEN  # a refusal: no reply unknown
    entry = await db[SENDS].find_one({"_id": send_id(RUN, OPS)})
    assert entry is not None
    assert entry["state"] == "sending"
    assert await Ledger(db, LEASE, clock=clock).claim(RUN, TENANT, OPS) is Claim.HELD
    await taker.release(RUN, OPS)  # refused again: the next delivery may send
    assert await Ledger(db, LEASE, clock=clock).claim(RUN, TENANT, OPS) is Claim.TAKEN


async def test_a_lapsed_holder_refused_after_a_takeover_leaves_the_new_claim_alone(
    db: AsyncDatabase[Document], clock: Clock
) -> None:
    """Released by the holder it was taken from, the new holder's claim went to a third
    delivery, which sent beside it, uncounted as a reply unknown."""
    holder = Ledger(db, LEASE, clock=clock)
    assert await holder.claim(RUN, TENANT, OPS) is Claim.TAKEN
    clock.advance(LEASE)
    taker = Ledger(db, LEASE, clock=clock)
    assert await taker.claim(RUN, TENANT, OPS) is Claim.TAKEN_OVER
    await holder.release(RUN, OPS)  # the stalled holder's refusal comes in at last
    assert await Ledger(db, LEASE, clock=clock).claim(RUN, TENANT, OPS) is Claim.HELD
