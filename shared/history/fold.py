"""The delivery history: how `DeliveryStatus` events become a run's record.

A run's record is a pure function of the *set* of its events: the events are
kept in the record, and every other field is derived from them. So applying
an event twice changes nothing, the arrival order does not matter, and
replaying the topic from its start rebuilds exactly the live records. The
scheduler applies this live; `herald replay` rebuilds with the same code. A
stored record keeps its events whole and leaves out what only repeats them
(`DERIVED_ONLY`); a read folds the record again from the events.

Precedence: a final status (delivered, failed, skipped, skipped_empty) beats
any non-final one; then the higher attempt wins; within an attempt the later
stage wins (due < rendered < pending_retry < final); remaining ties go to the
later `occurred_at`, then the larger `event_id`, so the choice never depends
on arrival order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, ConfigDict, Field, TypeAdapter

from herald.shared.contract.messages import (
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
    RunDetails,
    RunStatus,
)
from herald.shared.contract.tolerance import TOLERANT, Contract

FINAL_STATUSES = frozenset(
    {RunStatus.DELIVERED, RunStatus.FAILED, RunStatus.SKIPPED, RunStatus.SKIPPED_EMPTY}
)
_STAGE_RANK = {
    RunStatus.DUE: 0,
    RunStatus.RENDERED: 1,
    RunStatus.PENDING_RETRY: 2,
    RunStatus.DELIVERED: 3,
    RunStatus.FAILED: 3,
    RunStatus.SKIPPED: 3,
    RunStatus.SKIPPED_EMPTY: 3,
}


def precedence(event: DeliveryStatus) -> tuple[bool, int, int, datetime, str]:
    return (
        event.status in FINAL_STATUSES,
        event.attempt,
        _STAGE_RANK[event.status],
        event.occurred_at,
        str(event.event_id),
    )


def _recency(event: DeliveryStatus) -> tuple[int, datetime, str]:
    return (event.attempt, event.occurred_at, str(event.event_id))


class RunRecord(Contract):
    """One document of the `runs` collection (`_id` = `run_id`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    run_id: str = Field(alias="_id")
    tenant_id: str
    schedule_id: str
    status: RunStatus
    attempt: int
    test: bool = False
    scheduled_for: AwareDatetime | None = None
    reason: str | None = None
    artifact_id: str | None = None
    next_attempt_at: AwareDatetime | None = None
    #: What the latest attempt fired (from its `due` event), for display and retries.
    details: RunDetails | None = None
    recipients: list[RecipientResult] = Field(default_factory=list)
    first_event_at: AwareDatetime
    updated_at: AwareDatetime
    events: list[DeliveryStatus]

    def to_document(self) -> dict[str, Any]:
        """The stored form: the events, and the fields queries filter and sort on or an
        operator reads at a glance; not what only repeats the events (`DERIVED_ONLY`)."""
        return self.model_dump(mode="python", by_alias=True, exclude=set(DERIVED_ONLY))

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> RunRecord:
        """A stored record, folded again from its events (older documents' extra fields
        are not read: the events say everything). `ValueError` for a document without
        them: the projection sets its run's events aside, as for a contradiction."""
        return fold(_EVENTS.validate_python(doc.get("events"), context=TOLERANT))

    def has_event(self, event: DeliveryStatus) -> bool:
        return any(e.event_id == event.event_id for e in self.events)


#: Fields a stored record leaves out and a read folds again from its events: a quarter
#: of a record's bytes (the `due` event's `run`, the final event's `recipients`), and
#: FerretDB reads, decodes and writes a record whole on every replace.
DERIVED_ONLY = frozenset({"details", "recipients"})
_EVENTS: TypeAdapter[list[DeliveryStatus]] = TypeAdapter(list[DeliveryStatus])


@dataclass(frozen=True, slots=True)
class Projected:
    """What a batch of events did: each run's record as stored (or why its events cannot be
    projected), by run id, and the events it newly stored.

    An event already in its record (a redelivery, a re-published status) is in
    no `fresh`: it reached the history earlier, which a lag measured from its
    `occurred_at` would otherwise misreport.
    """

    outcomes: dict[str, RunRecord | Exception]
    fresh: list[DeliveryStatus]
    #: The runs whose record this batch inserted: none of their timers can exist, since a
    #: run's timer is armed only once its record is written.
    created: set[str] = field(default_factory=set)


def added(before: RunRecord | None, after: RunRecord) -> tuple[DeliveryStatus, ...]:
    """The events `after` holds that `before` did not: what a write of `after` stores."""
    known = {e.event_id for e in before.events} if before else set()
    return tuple(e for e in after.events if e.event_id not in known)


def _best_recipient_results(events: list[DeliveryStatus]) -> list[RecipientResult]:
    """Per address: an acceptance stands for good; otherwise the most recent result."""
    best: dict[str, tuple[bool, tuple[int, datetime, str], RecipientResult]] = {}
    for event in events:
        for result in event.recipients:
            key = result.address.lower()
            candidate = (result.outcome is RecipientOutcome.ACCEPTED, _recency(event), result)
            if key not in best or candidate[:2] > best[key][:2]:
                best[key] = candidate
    return [best[key][2] for key in sorted(best)]


def fold(events: Iterable[DeliveryStatus]) -> RunRecord:
    """The record for a non-empty set of one run's events."""
    unique = {e.event_id: e for e in events}
    ordered = sorted(unique.values(), key=lambda e: (e.occurred_at, str(e.event_id)))
    if not ordered:
        raise ValueError("a run record needs at least one event")
    current = max(ordered, key=precedence)
    with_artifact = [e for e in ordered if e.artifact_id]
    with_details = [e for e in ordered if e.run is not None]
    return RunRecord.model_validate(
        {
            "_id": current.run_id,
            "tenant_id": current.tenant_id,
            "schedule_id": current.schedule_id,
            "status": current.status,
            "attempt": current.attempt,
            "test": current.test,
            "scheduled_for": next((e.scheduled_for for e in ordered if e.scheduled_for), None),
            "reason": current.reason,
            "artifact_id": max(with_artifact, key=_recency).artifact_id if with_artifact else None,
            "next_attempt_at": (
                current.next_attempt_at if current.status is RunStatus.PENDING_RETRY else None
            ),
            "details": max(with_details, key=_recency).run if with_details else None,
            "recipients": _best_recipient_results(ordered),
            "first_event_at": ordered[0].occurred_at,
            "updated_at": ordered[-1].occurred_at,
            "events": ordered,
        }
    )


def apply(record: RunRecord | None, event: DeliveryStatus) -> RunRecord | None:
    """The record after `event`, or None when the event is already in it."""
    return apply_all(record, [event])


def apply_all(record: RunRecord | None, events: Iterable[DeliveryStatus]) -> RunRecord | None:
    """The record after all of one run's `events`, or None when every one is already in it.

    Of two events with one id (a stage that handled a message twice, with two
    `occurred_at`s), the first to arrive stands, in one call as across calls:
    a batch must give the record that event by event gives.
    """
    seen = {e.event_id for e in record.events} if record else set()
    new: list[DeliveryStatus] = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            new.append(event)
    if not new:
        return None
    owner = (record.tenant_id, record.run_id) if record else (new[0].tenant_id, new[0].run_id)
    for event in new:
        if (event.tenant_id, event.run_id) != owner:
            raise ValueError(
                f"event {event.event_id} of run {event.run_id!r} (tenant {event.tenant_id!r}) "
                f"does not belong to run {owner[1]!r} (tenant {owner[0]!r})"
            )
    return fold([*(record.events if record else ()), *new])
