"""What a schedule command does to a schedule: pure decisions, no I/O.

`parse` turns raw bytes into a command or a field-level rejection (or says the
bytes are beyond answering, for the DLQ). `decide` takes a valid command and
the schedule's current state and returns the new state, the reply, and the
run to fire, if any. The handler persists and publishes what it returns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from herald.services.scheduler import timing
from herald.shared.contract.catalog import TEST_REPORT_ID
from herald.shared.contract.identity import ScheduleRef, manual_run_id
from herald.shared.contract.messages import (
    COMMAND_ADAPTER,
    AnyCommand,
    CommandAccepted,
    CommandRejected,
    CreateSchedule,
    DataWindow,
    DeleteSchedule,
    DisableSchedule,
    EnableSchedule,
    FieldError,
    RunDetails,
    RunNow,
    ScheduleChangeKind,
    ScheduleCommand,
    SendTestEmail,
    UpdateSchedule,
)
from herald.shared.contract.schedule_spec import ReportFormat, ReportRef, ScheduleSpec, WindowKind
from herald.shared.contract.tenant_settings import TENANT_SETTINGS_ID
from herald.shared.runs.recipients import ANY_DOMAIN, RecipientPolicy


@dataclass(frozen=True, slots=True)
class ScheduleState:
    schedule_id: str
    tenant_id: str
    spec: ScheduleSpec
    version: int
    next_run_at: datetime | None

    @property
    def ref(self) -> ScheduleRef:
        return ScheduleRef(self.tenant_id, self.schedule_id)


def _ref(command: ScheduleCommand) -> ScheduleRef:
    return ScheduleRef(command.tenant_id, command.schedule_id)


@dataclass(frozen=True, slots=True)
class Unanswerable:
    """Bytes that carry no command id or tenant to reply to: they go to the DLQ."""

    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    reply: CommandAccepted | CommandRejected
    #: The schedule after the command; None when unchanged or deleted.
    state: ScheduleState | None = None
    change: ScheduleChangeKind | None = None
    run: RunDetails | None = None


#: Errors about the discriminator itself: pydantic gives them no location.
_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})


def _field(
    loc: tuple[int | str, ...], code: str, command_type: str | None, prefix: str | None
) -> str:
    if not loc and code in _TAG_ERRORS:
        return "type"
    parts = [str(p) for p in loc]
    if parts and parts[0] == command_type:
        parts = parts[1:]  # the discriminated union's tag, not a field
    if prefix:
        parts.insert(0, prefix)
    return ".".join(parts) if parts else "command"


#: A rejection stays far below Kafka's message limit (1 MB) whatever the command: it
#: lists at most MAX_FIELD_ERRORS errors (the last one counting those left out), and a
#: text it echoes (a field's path, a message, the command's type) is cut to MAX_ECHO
#: characters. Unbounded, 30,000 unknown fields made a 2.6 MB reply that Kafka refused,
#: and the command's partition retried it for good.
MAX_FIELD_ERRORS = 50
MAX_ECHO = 300


def printable(text: str) -> str:
    """`text` cut to MAX_ECHO characters, lone surrogates escaped: JSON may carry them,
    UTF-8 (and a reply) cannot."""
    if len(text) > MAX_ECHO:
        text = text[: MAX_ECHO - 1] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _field_errors(
    exc: ValidationError, command_type: str | None, prefix: str | None = None
) -> list[FieldError]:
    errors = exc.errors(include_url=False)
    shown = [
        FieldError(
            field=printable(_field(error["loc"], error["type"], command_type, prefix)),
            message=printable(error["msg"].removeprefix("Value error, ")),
            code=error["type"],
        )
        for error in errors[: MAX_FIELD_ERRORS - 1 if len(errors) > MAX_FIELD_ERRORS else None]
    ]
    if len(errors) > len(shown):
        left_out = len(errors) - len(shown)
        message = f"{left_out:,} more errors left out; the first {len(shown)} are above"
        shown.append(FieldError(field="command", message=message, code="too_many_errors"))
    return shown


def parse(raw: bytes, key: bytes | None) -> AnyCommand | CommandRejected | Unanswerable:
    """`key` is the record's Kafka key: it must be the command's `schedule_id`, so that
    all of one schedule's commands share a partition and stay in order."""
    try:
        data: Any = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8, bad JSON and integers of over 4300 digits;
        # RecursionError, arrays or objects nested deeper than the parser goes.
        return Unanswerable(f"not JSON: {exc}")
    if not isinstance(data, dict):
        return Unanswerable("not a JSON object")
    tag = data.get("type")
    command_type = printable(tag) if isinstance(tag, str) else None
    try:
        command = COMMAND_ADAPTER.validate_python(data)
    except ValidationError as exc:
        return _rejected(data, command_type, _field_errors(exc, command_type), exc)
    if key != command.schedule_id.encode():
        return rejection(command, [_key_error(key, command.schedule_id)])
    return command


def _key_error(key: bytes | None, schedule_id: str) -> FieldError:
    given = "none" if key is None else repr(key.decode("utf-8", "backslashreplace")[:140])
    return FieldError(
        field="key",
        message=f"the Kafka key must be the schedule_id {schedule_id!r} in UTF-8, was {given}",
        code="key_mismatch",
    )


def _rejected(
    data: dict[str, Any], command_type: str | None, errors: list[FieldError], cause: Exception
) -> CommandRejected | Unanswerable:
    """The rejection of an invalid command, if it names a tenant and schedule to answer to.

    A command without a usable `command_id` is answered too, with `command_id` null:
    its sender cannot match the reply, but whoever watches the topic sees why.
    """
    try:
        command_id: UUID | None = UUID(str(data.get("command_id")))
    except ValueError:
        command_id = None
    try:
        return CommandRejected(
            tenant_id=data.get("tenant_id"),
            schedule_id=data.get("schedule_id"),
            command_id=command_id,
            correlation_id=command_id,
            command_type=command_type or "unknown",
            errors=errors,
        )
    except ValidationError:
        return Unanswerable(f"invalid command without a usable envelope: {cause}")


def answering(command: AnyCommand) -> dict[str, Any]:
    """The envelope of a command's reply: its tenant and schedule, correlated by its id."""
    return {
        "tenant_id": command.tenant_id,
        "schedule_id": command.schedule_id,
        "command_id": command.command_id,
        "correlation_id": command.command_id,
        "command_type": command.type,
    }


def rejection(command: AnyCommand, errors: list[FieldError]) -> CommandRejected:
    return CommandRejected(**answering(command), errors=errors)


def _reject(command: ScheduleCommand, field: str, message: str, code: str) -> Decision:
    return Decision(rejection(command, [FieldError(field=field, message=message, code=code)]))


def _accept(
    command: ScheduleCommand,
    state: ScheduleState | None,
    change: ScheduleChangeKind | None,
    run: RunDetails | None = None,
) -> Decision:
    reply = CommandAccepted(
        **answering(command),
        version=state.version if state else None,
        next_run_at=state.next_run_at if state else None,
        run_id=run.run_id if run else None,
    )
    return Decision(reply, state, change, run)


def _next_run(spec: ScheduleSpec, default_zone: str, now: datetime) -> datetime | None:
    return timing.next_firing(spec, default_zone, now) if spec.enabled else None


def _manual_run(
    command: RunNow, spec: ScheduleSpec, default_zone: str, now: datetime
) -> RunDetails:
    return RunDetails(
        run_id=manual_run_id(_ref(command), command.command_id),
        scheduled_for=now,
        schedule_name=spec.name,
        report=spec.report,
        filters=spec.filters,
        window=timing.data_window(spec, default_zone, now),
        format=spec.format,
        recipients=spec.recipients,
        skip_if_empty=spec.skip_if_empty,
        retry_until=_next_run(spec, default_zone, now),
    )


def _test_run(command: SendTestEmail, default_zone: str, now: datetime) -> RunDetails:
    """A small CSV of the previous day, through renderer and mailer like any run."""
    zone = ZoneInfo(default_zone)
    today = now.astimezone(zone).date()
    start, end = timing.window_bounds(WindowKind.PREVIOUS_DAY, None, today, now, zone)
    return RunDetails(
        run_id=manual_run_id(_ref(command), command.command_id),
        scheduled_for=now,
        schedule_name="SMTP test email",
        report=ReportRef(kind="test", id=TEST_REPORT_ID),
        window=DataWindow(start=start, end=end, timezone=default_zone),
        format=ReportFormat.CSV,
        recipients=command.recipients,
        test=True,
    )


def _named_recipients(command: ScheduleCommand) -> tuple[str, list[str]]:
    """The recipients a command sets, and the field they are in ('' and none if it sets none)."""
    if isinstance(command, CreateSchedule):
        return "spec.recipients", command.spec.recipients
    if isinstance(command, UpdateSchedule) and command.changes.recipients is not None:
        return "changes.recipients", command.changes.recipients
    if isinstance(command, SendTestEmail):
        return "recipients", command.recipients
    return "", []


def recipient_errors(command: ScheduleCommand, policy: RecipientPolicy) -> list[FieldError]:
    """One error per recipient the tenant may not send to, at its position (`spec.recipients.2`)."""
    field, recipients = _named_recipients(command)
    return [
        FieldError(field=f"{field}.{i}", message=reason, code="recipient_not_allowed")
        for i, reason in policy.refusals(command.tenant_id, recipients).items()
    ]


def decide(
    command: ScheduleCommand,
    current: ScheduleState | None,
    *,
    now: datetime,
    default_zone: str,
    id_taken: bool = False,
    policy: RecipientPolicy = ANY_DOMAIN,
) -> Decision:
    """Apply `command` to the schedule.

    `current` is None when this tenant has no such schedule; `id_taken` says
    the id is used all the same (another tenant's, or deleted). Recipients a
    command sets are checked against `policy` first, like any invalid field.
    """
    if errors := recipient_errors(command, policy):
        return Decision(rejection(command, errors))
    if isinstance(command, SendTestEmail):
        return _accept(command, None, None, _test_run(command, default_zone, now))
    if isinstance(command, CreateSchedule):
        if command.schedule_id == TENANT_SETTINGS_ID:
            return _reject(
                command, "schedule_id", "this id is reserved for tenant commands", "reserved"
            )
        if current is not None or id_taken:
            return _reject(
                command, "schedule_id", "a schedule with this id already exists", "exists"
            )
        spec = command.spec
        state = ScheduleState(
            command.schedule_id, command.tenant_id, spec, 1, _next_run(spec, default_zone, now)
        )
        return _accept(command, state, ScheduleChangeKind.CREATED)
    if current is None:
        return _reject(command, "schedule_id", "schedule not found", "not_found")
    expected = getattr(command, "expected_version", None)
    if expected is not None and expected != current.version:
        return _reject(
            command,
            "expected_version",
            f"version conflict: expected {expected}, the schedule is at {current.version}",
            "version_conflict",
        )
    if isinstance(command, RunNow):
        run = _manual_run(command, current.spec, default_zone, now)
        fresh = replace(current, next_run_at=_next_run(current.spec, default_zone, now))
        return _accept(command, fresh, None, run)
    if isinstance(command, DeleteSchedule):
        return _accept(command, None, ScheduleChangeKind.DELETED)
    try:
        spec, change = _changed_spec(command, current.spec)
    except ValidationError as exc:
        return Decision(rejection(command, _field_errors(exc, None, prefix="changes")))
    state = replace(
        current,
        spec=spec,
        version=current.version + 1,
        next_run_at=_next_run(spec, default_zone, now),
    )
    return _accept(command, state, change)


def _changed_spec(
    command: UpdateSchedule | EnableSchedule | DisableSchedule, spec: ScheduleSpec
) -> tuple[ScheduleSpec, ScheduleChangeKind]:
    if isinstance(command, EnableSchedule):
        return spec.model_copy(update={"enabled": True}), ScheduleChangeKind.ENABLED
    if isinstance(command, DisableSchedule):
        return spec.model_copy(update={"enabled": False}), ScheduleChangeKind.DISABLED
    return command.changes.apply_to(spec), ScheduleChangeKind.UPDATED
