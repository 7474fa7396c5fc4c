"""The `sends` ledger through a database outage: a reply read from the server is never dropped.

Dropped, the claim would stay open and a later delivery would send the email
again as "reply unknown" (the chaos suite's FerretDB outage once made one).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

import pytest
from pymongo import UpdateOne
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

    async def bulk_write(self, requests: list[UpdateOne], ordered: bool) -> None:
        await self._write("bulk_write", requests, ordered)

    async def insert_many(self, docs: list[Document], ordered: bool) -> None:
        await self._write("insert_many", docs, ordered)


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
    kind, ([receipt], _) = sends.writes[-1]
    assert kind == "insert_many"
    assert receipt["_id"] == send_id(RUN, "ops@example.com") + store.RECEIPT
    assert receipt["state"] == "accepted"
    assert receipt["smtp_code"] == 250


async def test_a_refusal_releases_the_claim_once_the_database_is_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sends = FlakyCollection(_outage())
    await _ledger(sends, monkeypatch).release(RUN, "ops@example.com")
    assert len(sends.writes) == 5
    assert sends.writes[-1] == (
        "bulk_write",
        (
            [
                UpdateOne(
                    {"_id": send_id(RUN, "ops@example.com"), "state": "sending"},
                    {"$set": {"state": "released"}},
                )
            ],
            False,
        ),
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
    recipients = [f"r{n}@example.com" for n in range(2 + 2 * store.INSERTS_PER_WRITE)]
    accepted = [
        RecipientResult(address=r, outcome=RecipientOutcome.ACCEPTED, smtp_code=250)
        for r in recipients[1:]
    ]
    await asyncio.gather(
        ledger.release(RUN, recipients[0]), *(ledger.confirm(RUN, a) for a in accepted)
    )
    receipts = [docs for kind, (docs, _) in sends.writes if kind == "insert_many"]
    releases = [requests for kind, (requests, _) in sends.writes if kind == "bulk_write"]
    limit = store.INSERTS_PER_WRITE
    assert len(sends.writes) == 4 + 3 + 1  # the first write retried through the outage
    assert [len(docs) for docs in receipts[-3:]] == [limit, limit, 1]
    written = [doc["_id"] for docs in receipts[-3:] for doc in docs]
    assert written == [send_id(RUN, r) + store.RECEIPT for r in recipients[1:]]
    assert [r._filter["_id"] for r in releases[-1]] == [send_id(RUN, recipients[0])]
