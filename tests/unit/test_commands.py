from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

from herald.services.scheduler.commands import (
    MAX_ECHO,
    MAX_FIELD_ERRORS,
    ScheduleState,
    Unanswerable,
    decide,
    parse,
)
from herald.shared.contract.identity import ScheduleRef, manual_run_id
from herald.shared.contract.messages import (
    CommandAccepted,
    CommandRejected,
    CreateSchedule,
    DeleteSchedule,
    DisableSchedule,
    RunNow,
    ScheduleChangeKind,
    SendTestEmail,
    UpdateSchedule,
)
from herald.shared.contract.schedule_spec import Frequency, ReportRef, ScheduleChanges, ScheduleSpec
from tests.fakes.scheduler import parse_keyed

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
SPEC = ScheduleSpec(
    name="Morning Brief",
    report=ReportRef(id="campaign_summary"),
    frequency=Frequency.DAILY,
    recipients=["ops@example.com"],
)
STATE = ScheduleState("s-1", "acme", SPEC, 3, datetime(2026, 11, 28, 8, tzinfo=UTC))


def test_unparsable_bytes_cannot_be_answered() -> None:
    assert isinstance(parse(b"\xff\xfe", None), Unanswerable)
    assert isinstance(parse(b"[1, 2]", None), Unanswerable)
    assert isinstance(parse(b'{"type": "CreateSchedule"}', None), Unanswerable)


def test_an_invalid_command_with_an_envelope_is_rejected_per_field() -> None:
    command_id = uuid4()
    raw = {
        "type": "CreateSchedule",
        "command_id": str(command_id),
        "tenant_id": "acme",
        "schedule_id": "s-9",
        "spec": {
            "name": "x",
            "report": {"id": "nope"},
            "frequency": "daily",
            "timezone": "Nowhere/Land",
            "recipients": ["bad"],
        },
    }
    rejected = parse_keyed(json.dumps(raw).encode())
    assert isinstance(rejected, CommandRejected)
    assert rejected.command_id == command_id
    assert rejected.correlation_id == command_id
    fields = {e.field for e in rejected.errors}
    assert fields == {"spec.report", "spec.timezone", "spec.recipients.0"}


def test_every_bad_recipient_is_named_at_its_place() -> None:
    """A form can mark each bad address at once, not one per round trip."""
    recipients = ["ok@example.com", "not-an-email", "a@b", "OK@example.com", "x@localhost"]
    spec = SPEC.model_dump(mode="json") | {"recipients": recipients}
    raw = {"type": "CreateSchedule", "command_id": str(uuid4()), "tenant_id": "acme"}
    rejected = parse_keyed(json.dumps(raw | {"schedule_id": "s-9", "spec": spec}).encode())
    assert isinstance(rejected, CommandRejected)
    assert [e.field for e in rejected.errors] == [f"spec.recipients.{i}" for i in (1, 2, 4)]
    assert all(e.message.startswith("invalid email address") for e in rejected.errors)


def _huge(command_type: str, fields: int) -> bytes:
    spec = SPEC.model_dump(mode="json") | {f"x{n:05d}" + "y" * 400: n for n in range(fields)}
    raw = {
        "type": command_type,
        "command_id": str(uuid4()),
        "tenant_id": "acme",
        "schedule_id": "s-9",
        "spec": spec,
    }
    return json.dumps(raw).encode()


def test_a_rejection_stays_small_whatever_the_command_holds() -> None:
    """30,000 unknown fields once made a 2.6 MB rejection that Kafka refused, and the
    command's partition retried it for good."""
    rejected = parse_keyed(_huge("CreateSchedule", 30_000))
    assert isinstance(rejected, CommandRejected)
    assert len(rejected.model_dump_json()) < 50_000
    assert len(rejected.errors) == MAX_FIELD_ERRORS
    *listed, last = rejected.errors
    assert {e.code for e in listed} == {"extra_forbidden"}
    assert (last.field, last.code) == ("command", "too_many_errors")
    assert last.message == f"{30_000 - len(listed):,} more errors left out; the first 49 are above"
    assert all(len(e.field) <= MAX_ECHO for e in rejected.errors)
    # A type of 600,000 characters is echoed (as the reply's type and in its error) cut short.
    rejected = parse_keyed(_huge("CreateSchedule" + "z" * 600_000, 0))
    assert isinstance(rejected, CommandRejected)
    assert len(rejected.model_dump_json()) < 5_000
    assert len(rejected.command_type) <= MAX_ECHO


def test_create_sets_version_one_and_the_next_firing() -> None:
    command = CreateSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="s-2", spec=SPEC)
    decision = decide(command, None, now=NOW, default_zone="UTC")
    assert isinstance(decision.reply, CommandAccepted)
    assert decision.change is ScheduleChangeKind.CREATED
    assert decision.state is not None
    assert decision.state.version == 1
    assert decision.reply.next_run_at == datetime(2026, 11, 28, 8, tzinfo=UTC)


def test_create_over_a_taken_id_is_rejected() -> None:
    command = CreateSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="s-1", spec=SPEC)
    for current, taken in ((STATE, False), (None, True)):
        decision = decide(command, current, now=NOW, default_zone="UTC", id_taken=taken)
        assert isinstance(decision.reply, CommandRejected)
        assert decision.reply.errors[0].field == "schedule_id"
        assert decision.state is None


def test_unknown_schedules_and_version_conflicts_are_rejected() -> None:
    missing = decide(
        RunNow(command_id=uuid4(), tenant_id="acme", schedule_id="s-404"),
        None,
        now=NOW,
        default_zone="UTC",
    )
    assert isinstance(missing.reply, CommandRejected)
    assert missing.reply.errors[0].code == "not_found"
    update = UpdateSchedule(
        command_id=uuid4(),
        tenant_id="acme",
        schedule_id="s-1",
        changes=ScheduleChanges(name="New"),
        expected_version=2,
    )
    conflict = decide(update, STATE, now=NOW, default_zone="UTC")
    assert isinstance(conflict.reply, CommandRejected)
    assert conflict.reply.errors[0].field == "expected_version"


def test_update_bumps_the_version_and_revalidates() -> None:
    update = UpdateSchedule(
        command_id=uuid4(),
        tenant_id="acme",
        schedule_id="s-1",
        changes=ScheduleChanges(name="New"),
        expected_version=3,
    )
    decision = decide(update, STATE, now=NOW, default_zone="UTC")
    assert decision.state is not None
    assert (decision.state.version, decision.state.spec.name) == (4, "New")
    bad = UpdateSchedule(
        command_id=uuid4(),
        tenant_id="acme",
        schedule_id="s-1",
        changes=ScheduleChanges(frequency=Frequency.WEEKLY),
        expected_version=3,
    )
    rejected = decide(bad, STATE, now=NOW, default_zone="UTC")
    assert isinstance(rejected.reply, CommandRejected)
    assert rejected.reply.errors[0].field == "changes"
    assert "weekday" in rejected.reply.errors[0].message


def test_disable_clears_the_next_firing_and_delete_removes() -> None:
    disabled = decide(
        DisableSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="s-1"),
        STATE,
        now=NOW,
        default_zone="UTC",
    )
    assert disabled.state is not None
    assert disabled.state.next_run_at is None
    assert disabled.change is ScheduleChangeKind.DISABLED
    deleted = decide(
        DeleteSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="s-1"),
        STATE,
        now=NOW,
        default_zone="UTC",
    )
    assert deleted.state is None
    assert deleted.change is ScheduleChangeKind.DELETED


def test_run_now_fires_its_own_run_without_changing_the_schedule() -> None:
    command = RunNow(command_id=uuid4(), tenant_id="acme", schedule_id="s-1")
    decision = decide(command, STATE, now=NOW, default_zone="UTC")
    assert decision.change is None
    assert decision.run is not None
    assert decision.run.run_id == manual_run_id(ScheduleRef("acme", "s-1"), command.command_id)
    assert decision.run.recipients == SPEC.recipients
    assert decision.run.window.start == datetime(2026, 11, 26, tzinfo=UTC)


def test_test_email_is_a_run_of_the_test_report() -> None:
    command = SendTestEmail(
        command_id=uuid4(), tenant_id="acme", schedule_id="smtp-test", recipients=["me@example.com"]
    )
    decision = decide(command, None, now=NOW, default_zone="UTC")
    assert decision.run is not None
    assert decision.run.test
    assert decision.run.report.kind == "test"
