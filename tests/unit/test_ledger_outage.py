"""The `sends` ledger through a database outage: a reply read from the server is never dropped.

Dropped, the claim would stay open and a later delivery would send the email
again as "reply unknown" (the chaos suite's FerretDB outage once made one).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
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

    async def update_one(self, query: Document, update: Document) -> None:
        await self._write("update_one", query, update)

    async def delete_one(self, query: Document) -> None:
        await self._write("delete_one", query)


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
    kind, (query, update) = sends.writes[-1]
    assert kind == "update_one"
    assert query == {"_id": send_id(RUN, "ops@example.com")}
    assert update["$set"]["state"] == "accepted"
    assert update["$set"]["smtp_code"] == 250


async def test_a_refusal_releases_the_claim_once_the_database_is_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sends = FlakyCollection(_outage())
    await _ledger(sends, monkeypatch).release(RUN, "ops@example.com")
    assert len(sends.writes) == 5
    assert sends.writes[-1] == (
        "delete_one",
        ({"_id": send_id(RUN, "ops@example.com"), "state": "sending"},),
    )


async def test_an_error_that_is_not_an_outage_is_raised_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sends = FlakyCollection([OperationFailure("not authorized")])
    with pytest.raises(OperationFailure):
        await _ledger(sends, monkeypatch).release(RUN, "ops@example.com")
    assert len(sends.writes) == 1
