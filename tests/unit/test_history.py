from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from herald.shared.contract.messages import (
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
    RunStatus,
)
from herald.shared.history.fold import apply, apply_all, fold

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
