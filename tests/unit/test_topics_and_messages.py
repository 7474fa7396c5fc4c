from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from pydantic import ValidationError

from herald.shared.contract.messages import (
    COMMAND_ADAPTER,
    SCHEDULE_EVENT_ADAPTER,
    CommandAccepted,
    CreateSchedule,
    DataWindow,
    DeliveryStatus,
    ReportDue,
    RunDetails,
    RunNow,
    RunStatus,
)
from herald.shared.contract.schedule_spec import Frequency, ReportFormat, ReportRef, ScheduleSpec
from herald.shared.contract.topics import Topics

SPEC = ScheduleSpec(
    name="Morning Brief",
    report=ReportRef(id="campaign_summary"),
    frequency=Frequency.DAILY,
    recipients=["Ops@Example.com"],
)


def test_topic_names_carry_the_prefix() -> None:
    topics = Topics("acme-prod")
    assert topics.commands == "acme-prod.schedule.commands"
    assert topics.dlq == "acme-prod.dlq"
    assert topics.tenant_settings == "acme-prod.tenant.settings"
    assert len(set(topics.all())) == 7


def test_each_message_goes_to_its_topic() -> None:
    topics = Topics()
    command = RunNow(command_id=uuid4(), tenant_id="t", schedule_id="s")
    assert topics.for_message(command) == "herald.schedule.commands"
    reply = CommandAccepted(
        tenant_id="t", schedule_id="s", command_id=uuid4(), command_type="RunNow"
    )
    assert topics.for_message(reply) == "herald.schedule.events"
    status = DeliveryStatus(
        tenant_id="t",
        schedule_id="s",
        run_id="s@x",
        attempt=1,
        status=RunStatus.DUE,
        stage="scheduler",
    )
    assert topics.for_message(status) == "herald.delivery.status"


def test_commands_round_trip_through_json_by_their_type() -> None:
    command = CreateSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="s-1", spec=SPEC)
    parsed = COMMAND_ADAPTER.validate_json(command.model_dump_json())
    assert parsed == command
    assert isinstance(parsed, CreateSchedule)
    assert parsed.key() == b"s-1"
    assert parsed.schema_version == 1
    assert parsed.occurred_at.tzinfo is not None


def test_envelope_rejects_unknown_fields_and_naive_times() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        RunNow.model_validate({"tenant_id": "t", "schedule_id": "s", "surprise": 1})
    with pytest.raises(ValidationError, match="timezone"):
        RunNow(command_id=uuid4(), tenant_id="t", schedule_id="s", occurred_at=datetime(2026, 1, 1))


def test_report_due_round_trips() -> None:
    due = ReportDue(
        tenant_id="acme",
        schedule_id="s-1",
        run=RunDetails(
            run_id="s-1@2026-11-27T08:00:00+00:00",
            scheduled_for=datetime(2026, 11, 27, 8, tzinfo=UTC),
            schedule_name="Morning Brief",
            report=SPEC.report,
            window=DataWindow(
                start=datetime(2026, 11, 26, tzinfo=UTC),
                end=datetime(2026, 11, 27, tzinfo=UTC),
                timezone="UTC",
            ),
            format=ReportFormat.CSV,
            recipients=SPEC.recipients,
        ),
    )
    assert ReportDue.model_validate_json(due.model_dump_json()) == due
    assert due.run.window.local_dates() == (
        datetime(2026, 11, 26).date(),
        datetime(2026, 11, 26).date(),
    )


def test_schedule_events_parse_by_type() -> None:
    accepted = CommandAccepted(
        tenant_id="t", schedule_id="s", command_id=uuid4(), command_type="CreateSchedule", version=1
    )
    assert SCHEDULE_EVENT_ADAPTER.validate_json(accepted.model_dump_json()) == accepted
