"""The `sends` ledger through a database outage: a reply read from the server is never dropped.

Dropped, the claim would stay open and a later delivery would send the email
again as "reply unknown" (the chaos suite's FerretDB outage once made one).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

import pytest
from pymongo import DeleteOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect, OperationFailure, ServerSelectionTimeoutError

from herald.services.mailer import store
from herald.services.mailer.store import Ledger, send_id
from herald.shared.contract.messages import RecipientOutcome, RecipientResult
from herald.shared.runtime.mongo import Document

RUN = "brief@2026-11-27T08:00:00+00:00"


class FlakyCollection:
    """Fails its first writes as a database going away does, then takes them."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.writes: list[tuple[str, Any]] = []

    async def _write(self, kind: str, *args: Any) -> None:
        self.writes.append((kind, args))
        if self.failures:
            raise self.failures.pop(0)

    async def bulk_write(self, requests: list[UpdateOne | DeleteOne], ordered: bool) -> None:
        await self._write("bulk_write", requests, ordered)


def _ledger(sends: FlakyCollection, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    monkeypatch.setattr(store, "OUTAGE_PAUSE_S", 0.0)
    db = cast(AsyncDatabase[Document], {store.SENDS: sends, store.TAKEOVERS: FlakyCollection([])})
    return Ledger(db, timedelta(seconds=20))


def _outage() -> list[Exception]:
    return [AutoReconnect("connection closed"), ServerSelectionTimeoutError("refused")] * 2


async def test_an_accepted_reply_is_recorded_once_the_database_is_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sends = FlakyCollection(_outage())
    result = RecipientResult(
        address="ops@example.com", outcome=RecipientOutcome.ACCEPTED, smtp_code=250
    )
    await _ledger(sends, monkeypatch).confirm(RUN, result)
    assert len(sends.writes) == 5
    kind, ([record], _) = sends.writes[-1]
    assert kind == "bulk_write"
    assert isinstance(record, UpdateOne)
    assert record._filter == {"_id": send_id(RUN, "ops@example.com")}
    update = cast(Document, record._doc)
    assert update["$set"]["state"] == "accepted"
    assert update["$set"]["smtp_code"] == 250


async def test_a_refusal_releases_the_claim_once_the_database_is_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sends = FlakyCollection(_outage())
    await _ledger(sends, monkeypatch).release(RUN, "ops@example.com")
    assert len(sends.writes) == 5
    assert sends.writes[-1] == (
        "bulk_write",
        ([DeleteOne({"_id": send_id(RUN, "ops@example.com"), "state": "sending"})], False),
    )


async def test_an_error_that_is_not_an_outage_is_raised_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sends = FlakyCollection([OperationFailure("not authorized")])
    with pytest.raises(OperationFailure):
        await _ledger(sends, monkeypatch).release(RUN, "ops@example.com")
    assert len(sends.writes) == 1


async def test_replies_read_at_once_share_a_write_and_its_retries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Records made while one is being written go out together, outage or not, none dropped."""
    sends = FlakyCollection(_outage())
    ledger = _ledger(sends, monkeypatch)
    recipients = [f"r{n}@example.com" for n in range(1 + 2 * store.RECORDS_PER_WRITE)]
    accepted = [
        RecipientResult(address=r, outcome=RecipientOutcome.ACCEPTED, smtp_code=250)
        for r in recipients[1:]
    ]
    await asyncio.gather(
        ledger.release(RUN, recipients[0]), *(ledger.confirm(RUN, a) for a in accepted)
    )
    landed = [requests for kind, (requests, _) in sends.writes[-3:]]
    limit = store.RECORDS_PER_WRITE
    assert len(sends.writes) == 4 + 3  # the first write retried through the outage
    assert [len(requests) for requests in landed] == [limit, limit, 1]
    written = [r._filter["_id"] for requests in landed for r in requests]
    assert written == [send_id(RUN, r) for r in recipients]
