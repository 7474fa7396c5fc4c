"""Every command model fuzzed through the scheduler's own decision path, 1,000 or 10,000 cases.

The path is the one `CommandHandler.handle` takes, minus MongoDB and Kafka:
`commands.parse` on the raw bytes, then for a valid command `commands.decide`,
the messages the handler would publish (`CommandHandler._messages`) and the
schedule document it would store (`store._document`, BSON-encoded). The
properties: nothing raises; bytes without a usable envelope are the only
ones left unanswered (they go to the DLQ); every rejection names at least one
field, and each named field is a real place in the command or its model; a
rejection and everything an accepted command produces serialise and read
back equal.
"""

from __future__ import annotations

import json
import os
import types
import typing
from collections import Counter
from datetime import UTC, datetime
from typing import Any, get_args, get_origin
from uuid import UUID, uuid4

import bson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from herald.services.scheduler import commands
from herald.services.scheduler.command_handling import CommandHandler
from herald.services.scheduler.store import _document, _state
from herald.shared.contract.messages import (
    COMMAND_ADAPTER,
    SCHEDULE_EVENT_ADAPTER,
    CommandRejected,
    CreateSchedule,
    DeleteSchedule,
    DisableSchedule,
    EnableSchedule,
    Envelope,
    RunNow,
    SendTestEmail,
    UpdateSchedule,
)
from herald.shared.contract.schedule_spec import Frequency, ReportRef, ScheduleSpec
from tests.fakes.scheduler import parse_keyed
from tests.fuzz import REPRODUCIBLE, dump
from tests.fuzz import commands as command_documents

MODELS: dict[str, type[BaseModel]] = {
    m.__name__: m
    for m in (
        CreateSchedule,
        UpdateSchedule,
        EnableSchedule,
        DisableSchedule,
        DeleteSchedule,
        RunNow,
        SendTestEmail,
    )
}
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
CURRENT = ScheduleSpec(
    name="Morning Brief",
    report=ReportRef(id="campaign_summary"),
    frequency=Frequency.DAILY,
    recipients=["ops@example.com"],
)
#: 1,000 a model in `make test`; `make test-chaos` sets 10,000. Hypothesis's own generation
#: (some 120 choices a document) is 90% of the time: 10,000 cases take 1-5 min a model here.
CASES = int(os.environ.get("HERALD_FUZZ_MODEL_CASES", "1000"))


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation may hold (through Optional, list, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, typing.Annotated):
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    return []


def _resolves(parts: list[str], data: Any, models: list[type[BaseModel]]) -> bool:
    """Whether a dotted error location names a place in the input or a field of its model.

    A key of the input may itself contain dots (an extra field), so each split
    of the remaining parts is tried.
    """
    if not parts:
        return True
    if isinstance(data, dict):  # a reply spells a lone surrogate in a key as an escape
        data = {commands.printable(str(k)): v for k, v in data.items()}
    fields = {f: info for m in models for f, info in m.model_fields.items()}
    for taken in range(1, len(parts) + 1):
        name = ".".join(parts[:taken])
        rest = parts[taken:]
        inner = _models_in(fields[name].annotation) if name in fields else []
        if isinstance(data, dict) and name in data and _resolves(rest, data[name], inner):
            return True
        in_list = isinstance(data, list) and name.isdigit() and int(name) < len(data)
        if in_list and _resolves(rest, data[int(name)], models):
            return True
        if name in fields and _resolves(rest, None, inner):
            return True
    return False


def _check_rejection(rejected: CommandRejected, doc: Any, models: list[type[BaseModel]]) -> None:
    assert rejected.errors, "a rejection without a reason"
    for error in rejected.errors:
        assert error.message, error
        assert _resolves(error.field.split("."), doc, models), (error.field, doc)
    published = rejected.model_dump_json()
    assert SCHEDULE_EVENT_ADAPTER.validate_json(published) == rejected


def _usable_envelope(doc: Any) -> bool:
    """Whether a reply can be addressed: a command id, a tenant and a schedule id."""
    try:
        UUID(str(doc.get("command_id")))
        RunNow(
            command_id=uuid4(), tenant_id=doc.get("tenant_id"), schedule_id=doc.get("schedule_id")
        )
    except (ValueError, ValidationError):
        return False
    return True


def _check_accepted(command: Any) -> str:
    """Decide like the handler, then serialise and store what it would."""
    assert COMMAND_ADAPTER.validate_json(command.model_dump_json()) == command
    current = commands.ScheduleState(
        command.schedule_id, command.tenant_id, CURRENT, 2, datetime(2026, 11, 28, 8, tzinfo=UTC)
    )
    existing = None if isinstance(command, CreateSchedule | SendTestEmail) else current
    decision = commands.decide(command, existing, now=NOW, default_zone="Europe/Berlin")
    if isinstance(decision.reply, CommandRejected):
        _check_rejection(decision.reply, json.loads(command.model_dump_json()), [type(command)])
        assert decision.state is None
        assert decision.change is None
        return "rejected by decide"
    messages: list[Envelope] = CommandHandler._messages(command, decision)
    for message in messages:
        body = message.model_dump_json()
        assert type(message).model_validate_json(body) == message
    if decision.state is not None:
        stored = bson.decode(bson.encode(_document(decision.state)))
        assert _state(stored).spec == decision.state.spec
    return "accepted"


def _check(raw: bytes, doc: Any) -> str:
    """Check one case; says which way it went."""
    outcome = parse_keyed(raw)
    if isinstance(outcome, commands.Unanswerable):
        assert outcome.reason
        # Only bytes nobody can be answered about go to the DLQ.
        assert not isinstance(doc, dict) or not _usable_envelope(doc) or _bad_utf8(raw), doc
        return "unanswerable"
    if isinstance(outcome, CommandRejected):
        tag = doc.get("type")
        known = [MODELS[tag]] if isinstance(tag, str) and tag in MODELS else list(MODELS.values())
        _check_rejection(outcome, doc, known)
        return "rejected"
    return _check_accepted(outcome)


def _bad_utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return True
    return False


@pytest.mark.timeout(1800)  # 10,000 cases: 1-4 min of CPU per model on a loaded 2-core box
@pytest.mark.parametrize("command_type", list(MODELS))
def test_a_command_is_accepted_or_rejected_by_field_never_crashing(command_type: str) -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=CASES, **REPRODUCIBLE)
    @given(command_documents(command_type), st.booleans())
    def run(doc: dict[str, Any], ascii_only: bool) -> None:
        seen[_check(dump(doc, ascii_only), doc)] += 1

    run()
    # The generator reaches every outcome, not only the shallow ones.
    assert {"unanswerable", "rejected", "accepted"} <= set(seen), seen
    # CreateSchedule needs a dozen fields right at once: 14 in 10,000 are accepted, 7 in 1,000.
    assert seen["accepted"] >= max(1, CASES // 1000), seen


_CREATE = {
    "type": "CreateSchedule",
    "tenant_id": "acme",
    "schedule_id": "s-1",
    "command_id": "7c1b8f6e-2f0a-4c1e-9d3e-0a1b2c3d4e5f",
    "spec": {
        "name": "Brief",
        "report": {"id": "campaign_summary"},
        "frequency": "custom",
        "cron": "* * * * *",
        "window": {"kind": "previous_day"},
        "recipients": ["a@example.com"],
    },
}


@pytest.mark.parametrize(
    ("spec_changes", "field", "fragment"),
    [
        ({"cron": "0 0 31 2 *"}, "spec.cron", "never fires"),
        ({"cron": "0 0 29 2 *"}, "spec.cron", "less often than once a year"),
        ({"cron": "* * * * * *"}, "spec.cron", "5 fields"),
        ({"cron": "R * * * *"}, "spec.cron", "random"),
        ({"name": "a\x85b"}, "spec.name", "control characters"),
        ({"name": "a\u2028b"}, "spec.name", "control characters"),
        ({"timezone": "`" * 300}, "spec.timezone", "unknown IANA time zone"),
    ],
)
def test_found_by_fuzzing_rejected_with_a_field_reason(
    spec_changes: dict[str, Any], field: str, fragment: str
) -> None:
    """Each of these once raised past `parse`/`decide` (no reply) or was stored as is."""
    doc = _CREATE | {"spec": _CREATE["spec"] | spec_changes}
    rejected = parse_keyed(json.dumps(doc).encode())
    assert isinstance(rejected, CommandRejected), rejected
    assert {e.field: e.message for e in rejected.errors}[field].count(fragment) == 1


@pytest.mark.parametrize("raw", [b"[" * 100_000, b"1" * 5_000, b'{"a": ' + b"1" * 5_000 + b"}"])
def test_json_beyond_the_parser_is_unanswerable_not_an_exception(raw: bytes) -> None:
    assert isinstance(commands.parse(raw, None), commands.Unanswerable)


def test_a_lone_surrogate_in_the_type_is_escaped_in_the_reply() -> None:
    rejected = parse_keyed(json.dumps(_CREATE | {"type": "\ud800", "\udfff": 1}).encode())
    assert isinstance(rejected, CommandRejected)
    assert rejected.command_type == "\\ud800"
    assert {e.field for e in rejected.errors} == {"type"}
    rejected.model_dump_json()  # publishable


def test_a_catch_up_window_beyond_a_year_is_rejected_not_a_storage_error() -> None:
    doc = _CREATE | {"spec": _CREATE["spec"] | {"catch_up_seconds": 2**63}}
    rejected = parse_keyed(json.dumps(doc).encode())
    assert isinstance(rejected, CommandRejected)
    assert [e.field for e in rejected.errors] == ["spec.catch_up_seconds"]
