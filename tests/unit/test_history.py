from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymongo import InsertOne, ReplaceOne
from pymongo.errors import BulkWriteError, DocumentTooLarge, WriteError

from herald.shared.contract.messages import (
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
    RunStatus,
)
from herald.shared.history.fold import DERIVED_ONLY, RunRecord, apply, apply_all, fold
from herald.shared.history.store import REPLACES_PER_COMMAND, Change, Write, folded, write
from tests.samples import run_details

T0 = datetime(2026, 11, 27, 8, tzinfo=UTC)


def _event(status: RunStatus, attempt: int, seconds: int, **fields: object) -> DeliveryStatus:
    return DeliveryStatus.model_validate(
        {
            "tenant_id": "acme",
            "schedule_id": "s1",
            "run_id": "s1@r",
            "attempt": attempt,
            "status": status,
            "stage": "mailer",
            "occurred_at": T0 + timedelta(seconds=seconds),
            **fields,
        }
    )


LIFE = [
    _event(RunStatus.DUE, 1, 0, stage="scheduler", scheduled_for=T0),
    _event(RunStatus.RENDERED, 1, 1, artifact_id="a1"),
    _event(
        RunStatus.PENDING_RETRY,
        1,
        2,
        next_attempt_at=T0 + timedelta(minutes=1),
        recipients=[
            RecipientResult(address="a@x.org", outcome=RecipientOutcome.ACCEPTED),
            RecipientResult(
                address="b@x.org", outcome=RecipientOutcome.REFUSED_TRANSIENT, smtp_code=451
            ),
        ],
    ),
    _event(RunStatus.DUE, 2, 60, stage="scheduler"),
    _event(
        RunStatus.FAILED,
        2,
        61,
        reason="b@x.org: 550 no such user",
        recipients=[
            RecipientResult(
                address="b@x.org", outcome=RecipientOutcome.REFUSED_PERMANENT, smtp_code=550
            )
        ],
    ),
]


def test_the_record_follows_precedence() -> None:
    record = fold(LIFE)
    assert record.status is RunStatus.FAILED
    assert record.attempt == 2
    assert record.scheduled_for == T0
    assert record.artifact_id == "a1"
    assert record.next_attempt_at is None
    assert [(r.address, r.outcome) for r in record.recipients] == [
        ("a@x.org", RecipientOutcome.ACCEPTED),
        ("b@x.org", RecipientOutcome.REFUSED_PERMANENT),
    ]


def test_pending_retry_keeps_its_next_attempt() -> None:
    record = fold(LIFE[:3])
    assert record.status is RunStatus.PENDING_RETRY
    assert record.next_attempt_at == T0 + timedelta(minutes=1)


def test_an_older_event_changes_nothing_but_the_log() -> None:
    record = fold(LIFE)
    late = _event(RunStatus.RENDERED, 1, 500)
    updated = apply(record, late)
    assert updated is not None
    assert updated.status is RunStatus.FAILED
    assert apply(updated, late) is None


@given(st.permutations(LIFE + LIFE[:2]))
def test_any_arrival_order_and_repeats_give_the_same_record(events: list[DeliveryStatus]) -> None:
    record = None
    for event in events:
        record = apply(record, event) or record
    assert record == fold(LIFE)


@given(st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=4))
def test_a_batch_gives_the_record_that_one_event_at_a_time_gives(cuts: list[int]) -> None:
    """A stage that handled a message twice sends one event id with two `occurred_at`s
    (a rebalance): the first to arrive stands, however the log is cut into batches."""
    again = LIFE[1].model_copy(update={"occurred_at": LIFE[1].occurred_at + timedelta(seconds=9)})
    log = [LIFE[0], LIFE[1], again, *LIFE[2:], again]
    one_by_one = None
    for event in log:
        one_by_one = apply(one_by_one, event) or one_by_one
    batched = None
    start = 0
    for cut in [*cuts, len(log)]:
        batched = apply_all(batched, log[start : start + cut]) or batched
        start += cut
    assert batched == one_by_one
    assert batched is not None
    assert batched.events[1].occurred_at == LIFE[1].occurred_at


#: LIFE with what each attempt fired on its `due` event: the record's `details` come from them.
DETAILED = [
    e.model_copy(update={"run": run_details(run_id="s1@r", attempt=e.attempt)})
    if e.status is RunStatus.DUE
    else e
    for e in LIFE
]


@given(st.permutations(DETAILED), st.integers(min_value=1, max_value=len(DETAILED)))
def test_a_stored_record_reads_back_as_folded_and_folds_on_as_if_never_stored(
    events: list[DeliveryStatus], stored_count: int
) -> None:
    """The document leaves out `details` and `recipients`: a read folds them again."""
    stored, rest = events[:stored_count], events[stored_count:]
    document = fold(stored).to_document() | {"rev": 1}
    assert DERIVED_ONLY.isdisjoint(document)
    assert RunRecord.from_document(document) == fold(stored)
    record = fold(DETAILED)
    if rest:
        after = folded(document, rest)
        assert isinstance(after, Change)
        assert after.record == record
        assert RunRecord.from_document(after.document) == record
    assert record.details == DETAILED[3].run
    assert [r.address for r in record.recipients] == ["a@x.org", "b@x.org"]


@pytest.mark.parametrize(
    "stored",
    [{}, {"events": None}, {"events": []}, {"events": "not events"}],
    ids=["absent", "null", "empty", "a string"],
)
def test_a_stored_document_without_events_is_refused_as_a_value_error(
    stored: dict[str, object],
) -> None:
    """Caught by the projection like a contradiction (its run's events to the DLQ), not a
    crash that would stop the partition."""
    with pytest.raises(ValueError, match=r"valid list|at least one event"):
        folded({"_id": "s1@r", "rev": 1} | stored, LIFE[:1])


def test_a_new_run_is_inserted_and_a_stored_one_replaced_on_the_rev_it_was_read_at() -> None:
    insert = folded(None, LIFE[:2])
    assert isinstance(insert, Change)
    assert insert.write == InsertOne(insert.record.to_document() | {"rev": 1})
    assert insert.document == insert.record.to_document() | {"rev": 1}

    stored = insert.record.to_document() | {"rev": 3}
    replace = folded(stored, LIFE[2:])
    assert isinstance(replace, Change)
    # Final now: with the fields retention expires it by, derived from its events.
    finished = {"finished_at": LIFE[-1].occurred_at, "finished_day": "2026-11-27"}
    assert replace.write == ReplaceOne(
        {"_id": "s1@r", "rev": 3}, replace.record.to_document() | {"rev": 4} | finished
    )
    assert replace.record == fold(LIFE)


def test_events_already_stored_need_no_write() -> None:
    stored = fold(LIFE).to_document() | {"rev": 2}
    assert folded(stored, LIFE[1:3]) == fold(LIFE)


class _Bulk:
    """A collection whose `bulk_write` answers as told, then as if all were written."""

    def __init__(self, *answers: dict[str, Any] | Exception) -> None:
        self.answers = list(answers)
        self.sent: list[list[Write]] = []

    async def bulk_write(self, writes: list[Write], ordered: bool) -> Any:
        assert not ordered, "one write's failure must not stop the others"
        self.sent.append(writes)
        replaces = sum(isinstance(w, ReplaceOne) for w in writes)
        written = {"writeErrors": [], "nMatched": replaces, "nInserted": len(writes) - replaces}
        answer = self.answers.pop(0) if self.answers else written
        if isinstance(answer, Exception):
            raise answer

        class Result:
            bulk_api_result = answer

        return Result()


def _replace(run_id: str) -> Write:
    return ReplaceOne({"_id": run_id, "rev": 1}, fold(LIFE).to_document() | {"rev": 2})


def _writes() -> list[Write]:
    """An insert between two replaces: the insert is sent first, then the replaces."""
    return [_replace("r1"), InsertOne(fold(LIFE).to_document() | {"rev": 1}), _replace("r3")]


async def test_every_write_of_a_bulk_that_all_matched_is_written() -> None:
    bulk = _Bulk()
    assert await write(cast(Any, bulk), _writes()) == [True, True, True]
    assert [len(sent) for sent in bulk.sent] == [1, 2]


async def test_replaces_go_in_commands_small_enough_for_ferretdb() -> None:
    bulk = _Bulk()
    many = [_replace(f"r{n}") for n in range(2 * REPLACES_PER_COMMAND + 1)]
    assert await write(cast(Any, bulk), many) == [True] * len(many)
    assert [len(sent) for sent in bulk.sent] == [REPLACES_PER_COMMAND, REPLACES_PER_COMMAND, 1]


async def test_a_taken_id_and_a_missed_replace_are_lost_to_be_read_again() -> None:
    """The reply does not say which replace missed: both are read again."""
    duplicate = {"index": 0, "code": 11000, "errmsg": "E11000 duplicate key"}
    taken = BulkWriteError({"writeErrors": [duplicate], "nMatched": 0, "nInserted": 0})
    bulk = _Bulk(taken, {"writeErrors": [], "nMatched": 1, "nInserted": 0})
    assert await write(cast(Any, bulk), _writes()) == [False, False, False]


async def test_a_write_that_fails_for_good_fails_alone() -> None:
    refused = {"index": 1, "code": 2, "errmsg": "bad value"}
    details = {"writeErrors": [refused], "nMatched": 1, "nInserted": 0}
    fates = await write(
        cast(
            Any, _Bulk({"writeErrors": [], "nMatched": 0, "nInserted": 1}, BulkWriteError(details))
        ),
        _writes(),
    )
    assert fates[:2] == [True, True]
    assert isinstance(fates[2], WriteError)
    assert fates[2].code == 2


async def test_a_record_too_large_for_a_document_fails_alone() -> None:
    too_large = DocumentTooLarge("BSON document too large")
    inserted = {"writeErrors": [], "nMatched": 0, "nInserted": 1}
    written = {"writeErrors": [], "nMatched": 1, "nInserted": 0}
    bulk = _Bulk(inserted, too_large, written, too_large)
    assert await write(cast(Any, bulk), _writes()) == [True, True, too_large]
    assert [len(sent) for sent in bulk.sent] == [1, 2, 1, 1]
