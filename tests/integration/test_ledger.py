"""The `SendLedger` promises, on `store.Ledger` (FerretDB) and on the fake `MemoryLedger`.

The delivery use case is unit-tested on the fake; these hold it to the ledger
that decides, in production, whether an email may be sent again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from herald.services.mailer.ports import Claim, SendLedger
from herald.services.mailer.store import Ledger
from herald.shared.contract.messages import RecipientOutcome, RecipientResult
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


def _accepted(address: str = OPS, code: int | None = 250) -> RecipientResult:
    return RecipientResult(
        address=address, outcome=RecipientOutcome.ACCEPTED, smtp_code=code, smtp_message="OK"
    )


async def test_a_recipient_never_claimed_has_no_acceptance(ledger: SendLedger) -> None:
    assert await ledger.accepted(RUN, OPS) is None


async def test_a_claim_is_held_for_its_lease_then_taken_over_once(
    ledger: SendLedger, clock: Clock
) -> None:
    """Two mailers on one run during a rebalance: the second abandons its copy."""
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.TAKEN
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.HELD
    clock.advance(LEASE - TICK)
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.HELD
    assert await ledger.accepted(RUN, OPS) is None  # a claim is no acceptance

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
    assert await ledger.accepted(RUN, OPS.upper()) == _accepted(OPS, code=250)  # as first claimed

    await ledger.claim(RUN, TENANT, "quiet@example.com")
    await ledger.confirm(RUN, _accepted("quiet@example.com", code=None))
    assert await ledger.accepted(RUN, "quiet@example.com") == _accepted(
        "quiet@example.com", code=None
    )


async def test_an_accepted_recipient_is_never_claimed_again(
    ledger: SendLedger, clock: Clock
) -> None:
    await ledger.claim(RUN, TENANT, OPS)
    await ledger.confirm(RUN, _accepted())
    clock.advance(LEASE * 10)
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.HELD


async def test_a_confirm_without_a_claim_records_nothing(ledger: SendLedger) -> None:
    await ledger.confirm(RUN, _accepted())
    assert await ledger.accepted(RUN, OPS) is None
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.TAKEN


async def test_a_release_drops_an_open_claim_so_the_next_delivery_sends(
    ledger: SendLedger,
) -> None:
    """The server refused the message: nothing was delivered, so a retry may send it."""
    await ledger.claim(RUN, TENANT, OPS)
    await ledger.release(RUN, OPS)
    assert await ledger.accepted(RUN, OPS) is None
    assert await ledger.claim(RUN, TENANT, OPS) is Claim.TAKEN
    await ledger.release(RUN, "never-claimed@example.com")  # nothing to drop is no error


async def test_a_release_never_drops_an_accepted_entry(ledger: SendLedger, clock: Clock) -> None:
    await ledger.claim(RUN, TENANT, OPS)
    await ledger.confirm(RUN, _accepted())
    await ledger.release(RUN, OPS)
    assert await ledger.accepted(RUN, OPS) == _accepted()
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
    assert await ledger.accepted(RUN, "ops@EXAMPLE.com") == _accepted(OPS)
