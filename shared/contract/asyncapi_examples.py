"""One worked example of every message in the AsyncAPI document, a schedule's life in brief.

Built from the models themselves with fixed ids and times, so each example is
valid as the services see it and the document is the same on every run; a unit
test also validates each against its schema in the document.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from herald.shared.contract.messages import (
    ArtifactRef,
    ChangeTenantSettings,
    CommandAccepted,
    CommandRejected,
    CreateSchedule,
    DataWindow,
    DeleteSchedule,
    DeliveryStatus,
    DisableSchedule,
    EnableSchedule,
    FieldError,
    HeadlineTile,
    RecipientOutcome,
    RecipientResult,
    ReportDue,
    ReportRendered,
    RunDetails,
    RunNow,
    RunStatus,
    ScheduleChanged,
    ScheduleChangeKind,
    SendTestEmail,
    SmtpStage,
    TenantSettings,
    TenantSettingsChanged,
    Tone,
    UpdateSchedule,
)
from herald.shared.contract.schedule_spec import (
    Filters,
    Frequency,
    ReportFormat,
    ReportRef,
    ScheduleChanges,
    ScheduleSpec,
)
from herald.shared.contract.tenant_settings import SealedSecret, TenantEmail
from herald.shared.contract.topics import ERROR_HEADER, ERROR_TYPE_HEADER, ORIGIN_HEADER

Example = dict[str, Any]

_AT = datetime(2026, 11, 27, 9, 15, tzinfo=UTC)
_FIRES_AT = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
_OURS = {"tenant_id": "acme", "schedule_id": "weekly-brief", "occurred_at": _AT}
_CREATE = UUID("6f0c6a51-8a2e-4f57-9c1e-3b2f9d4e7a10")
_UPDATE = UUID("0d9b1f52-7c3a-4e1b-8f6d-2a4c5e7b9d31")
_RUN_NOW = UUID("9a7e3c21-5b4d-4f6a-8e2c-1d3f5a7b9c42")
_SETTINGS = UUID("3c5e7a91-2b4d-4c6e-9f1a-7b9d1f3a5c53")
_RUN_ID = f"acme/weekly-brief@{_FIRES_AT.isoformat()}"

_SPEC = ScheduleSpec(
    name="Weekly campaign brief",
    report=ReportRef(kind="standard", id="campaign_summary"),
    filters=Filters(campaign_ids=["spring-sale"]),
    frequency=Frequency.WEEKLY,
    weekday=0,
    time_of_day=time(8, 0),
    timezone="Europe/Berlin",
    recipients=["ops@acme.example.com", "lead@acme.example.com"],
    format=ReportFormat.PDF,
)
_EMAIL = TenantEmail(
    host="smtp.acme.example.com",
    port=587,
    username="reports",
    password=SealedSecret(key_id="k2026", ciphertext="c2VhbGVkIGZvciB0aGUgbWFpbGVy"),
    from_address="reports@acme.example.com",
    from_name="Acme Reports",
)
_RUN = RunDetails(
    run_id=_RUN_ID,
    scheduled_for=_FIRES_AT,
    schedule_name=_SPEC.name,
    report=_SPEC.report,
    filters=_SPEC.filters,
    window=DataWindow(
        start=datetime(2026, 11, 22, 23, 0, tzinfo=UTC),
        end=datetime(2026, 11, 29, 23, 0, tzinfo=UTC),
        timezone="Europe/Berlin",
    ),
    format=ReportFormat.PDF,
    recipients=_SPEC.recipients,
    retry_until=datetime(2026, 12, 7, 7, 0, tzinfo=UTC),
)
_ARTIFACT = f"{_RUN_ID}/pdf"


def _example(name: str, summary: str, message: BaseModel) -> Example:
    return {
        "name": name,
        "summary": summary,
        "headers": {"content-type": "application/json"},
        "payload": message.model_dump(mode="json"),
    }


def _event_id(n: int) -> UUID:
    return UUID(int=0x5EED_0000_0000_4000_8000_0000_0000_0000 + n)


def examples() -> dict[str, list[Example]]:
    """The examples of each message, by message name."""
    return {
        "CreateSchedule": [
            _example(
                "weekly",
                "A weekly Campaign Summary PDF for one campaign, Mondays 08:00 Berlin time.",
                CreateSchedule(event_id=_event_id(1), command_id=_CREATE, spec=_SPEC, **_OURS),
            )
        ],
        "UpdateSchedule": [
            _example(
                "earlier",
                "Half an hour earlier, to one recipient; given fields replace the schedule's.",
                UpdateSchedule(
                    event_id=_event_id(2),
                    command_id=_UPDATE,
                    changes=ScheduleChanges(
                        time_of_day=time(7, 30), recipients=["ops@acme.example.com"]
                    ),
                    expected_version=1,
                    **_OURS,
                ),
            )
        ],
        "EnableSchedule": [
            _example(
                "enable",
                "Enable the schedule if it is still at version 3.",
                EnableSchedule(
                    event_id=_event_id(3),
                    command_id=UUID("7e1c3a5b-9d2f-4b6e-8a1c-5e7f9b1d3a64"),
                    expected_version=3,
                    **_OURS,
                ),
            )
        ],
        "DisableSchedule": [
            _example(
                "disable",
                "Stop firing it, whatever its version.",
                DisableSchedule(
                    event_id=_event_id(4),
                    command_id=UUID("2a4c6e8f-1b3d-4f5a-9c7e-0f2b4d6a8c75"),
                    **_OURS,
                ),
            )
        ],
        "DeleteSchedule": [
            _example(
                "delete",
                "Delete the schedule at version 4; its id is not used again.",
                DeleteSchedule(
                    event_id=_event_id(5),
                    command_id=UUID("5b7d9f1a-3c5e-4a7b-8d9f-2e4a6c8b0d86"),
                    expected_version=4,
                    **_OURS,
                ),
            )
        ],
        "RunNow": [
            _example(
                "run-now",
                "Send the report now, for the period a firing now would cover.",
                RunNow(event_id=_event_id(6), command_id=_RUN_NOW, **_OURS),
            )
        ],
        "SendTestEmail": [
            _example(
                "smtp-check",
                "A small test email through the tenant's SMTP settings.",
                SendTestEmail(
                    event_id=_event_id(7),
                    command_id=UUID("8c0e2a4b-6d8f-4b1c-9e3a-5f7b9d1c3e97"),
                    tenant_id="acme",
                    schedule_id="smtp-test",
                    occurred_at=_AT,
                    recipients=["it@acme.example.com"],
                ),
            )
        ],
        "ChangeTenantSettings": [
            _example(
                "own-smtp",
                "The tenant's first settings: its own SMTP server (the password sealed for "
                "the mailer's key k2026) and a default time zone.",
                ChangeTenantSettings(
                    event_id=_event_id(8),
                    command_id=_SETTINGS,
                    tenant_id="acme",
                    occurred_at=_AT,
                    expected_version=0,
                    email=_EMAIL,
                    default_timezone="Europe/Berlin",
                ),
            )
        ],
        "CommandAccepted": [
            _example(
                "created",
                "The CreateSchedule above, accepted: version 1, first firing Monday.",
                CommandAccepted(
                    event_id=_event_id(9),
                    command_id=_CREATE,
                    correlation_id=_CREATE,
                    command_type="CreateSchedule",
                    version=1,
                    next_run_at=_FIRES_AT,
                    **_OURS,
                ),
            ),
            _example(
                "run-now",
                "The RunNow above, accepted: its run is already on report.due.",
                CommandAccepted(
                    event_id=_event_id(10),
                    command_id=_RUN_NOW,
                    correlation_id=_RUN_NOW,
                    command_type="RunNow",
                    version=1,
                    next_run_at=_FIRES_AT,
                    run_id=f"acme/weekly-brief@manual-{_RUN_NOW}",
                    **_OURS,
                ),
            ),
        ],
        "CommandRejected": [
            _example(
                "version-conflict",
                "The UpdateSchedule above, sent when the schedule was at version 2.",
                CommandRejected(
                    event_id=_event_id(11),
                    command_id=_UPDATE,
                    correlation_id=_UPDATE,
                    command_type="UpdateSchedule",
                    errors=[
                        FieldError(
                            field="expected_version",
                            message="version conflict: expected 1, the schedule is at 2",
                            code="version_conflict",
                        )
                    ],
                    **_OURS,
                ),
            ),
            _example(
                "no-command-id",
                "A RunNow sent without command_id: rejected, with command_id null.",
                CommandRejected(
                    event_id=_event_id(12),
                    command_id=None,
                    command_type="RunNow",
                    errors=[
                        FieldError(field="command_id", message="Field required", code="missing")
                    ],
                    **_OURS,
                ),
            ),
        ],
        "ScheduleChanged": [
            _example(
                "created",
                "The CreateSchedule above, applied: published before its CommandAccepted.",
                ScheduleChanged(
                    event_id=_event_id(13),
                    correlation_id=_CREATE,
                    change=ScheduleChangeKind.CREATED,
                    version=1,
                    spec=_SPEC,
                    next_run_at=_FIRES_AT,
                    **_OURS,
                ),
            )
        ],
        "TenantSettingsChanged": [
            _example(
                "own-smtp",
                "The ChangeTenantSettings above, applied: the settings without the password.",
                TenantSettingsChanged(
                    event_id=_event_id(14),
                    correlation_id=_SETTINGS,
                    tenant_id="acme",
                    occurred_at=_AT,
                    version=1,
                    sections=["email", "default_timezone"],
                    email=_EMAIL.without_secret(),
                    password_key_id="k2026",
                    default_timezone="Europe/Berlin",
                ),
            )
        ],
        "TenantSettings": [
            _example(
                "own-smtp",
                "The tenant's whole settings after that change (key: `acme`).",
                TenantSettings(
                    event_id=_event_id(15),
                    correlation_id=_SETTINGS,
                    tenant_id="acme",
                    occurred_at=_AT,
                    version=1,
                    email=_EMAIL,
                    default_timezone="Europe/Berlin",
                ),
            )
        ],
        "ReportDue": [
            _example(
                "fired",
                "Monday's firing: last week's data, in the schedule's zone.",
                ReportDue(event_id=_event_id(16), run=_RUN, **(_OURS | {"occurred_at": _FIRES_AT})),
            )
        ],
        "ReportRendered": [
            _example(
                "pdf",
                "The PDF rendered into GridFS, with the headline figures and notes for the email.",
                ReportRendered(
                    event_id=_event_id(17),
                    run=_RUN,
                    artifact_id=_ARTIFACT,
                    filename="campaign-summary-2026-11-23.pdf",
                    content_type="application/pdf",
                    size=48213,
                    rows=12,
                    sha256="9f2c" * 16,
                    title="Campaign Summary",
                    filters_summary="Campaigns: spring-sale",
                    companions=[
                        ArtifactRef(
                            artifact_id=f"{_RUN_ID}/full.csv",
                            filename="campaign-summary-2026-11-23.csv",
                            content_type="text/csv",
                            size=2210,
                            sha256="41d7" * 16,
                        )
                    ],
                    headlines=[
                        HeadlineTile(
                            label="Calls",
                            value="4210",
                            previous="3980",
                            change="+5.8 %",
                            tone=Tone.GOOD,
                        )
                    ],
                    notes=["Previous period: 16\u201322 Nov 2026 (the week before)"],
                    **(_OURS | {"occurred_at": datetime(2026, 11, 30, 7, 0, 4, tzinfo=UTC)}),
                ),
            )
        ],
        "DeliveryStatus": [
            _example(
                "delivered",
                "The mailer's last word on the run: every recipient accepted.",
                DeliveryStatus(
                    event_id=_event_id(18),
                    run_id=_RUN_ID,
                    attempt=1,
                    status=RunStatus.DELIVERED,
                    stage="mailer",
                    scheduled_for=_FIRES_AT,
                    artifact_id=_ARTIFACT,
                    recipients=[
                        RecipientResult(
                            address=address,
                            outcome=RecipientOutcome.ACCEPTED,
                            smtp_code=250,
                            smtp_message="2.0.0 Ok: queued",
                            stage=SmtpStage.DATA,
                        )
                        for address in _SPEC.recipients
                    ],
                    **(_OURS | {"occurred_at": datetime(2026, 11, 30, 7, 0, 9, tzinfo=UTC)}),
                ),
            )
        ],
        "DeadLetter": [
            {
                "name": "not-json",
                "summary": "A command that is not JSON: no reply, only this (key: the original's).",
                "headers": {
                    "content-type": "",
                    ERROR_HEADER: "not JSON: Expecting value: line 1 column 1 (char 0)",
                    ERROR_TYPE_HEADER: "PoisonMessage",
                    ORIGIN_HEADER: "herald.schedule.commands/4@1842",
                },
                "payload": "run the weekly brief now, please",
            }
        ],
    }
