"""The messages on Herald's topics: one pydantic model each, with a common envelope.

Every message is JSON, keyed by `schedule_id` on its topic. `type` names the
model, so a consumer of a topic that carries several models (commands,
schedule events) parses with the discriminated unions at the bottom.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, get_args
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    Base64Bytes,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    model_validator,
)

from herald.shared.contract import svg
from herald.shared.contract.rejections import code_schema
from herald.shared.contract.schedule_spec import (
    EMAIL_ADDRESS_SCHEMA,
    Filters,
    Identifier,
    Recipients,
    ReportFormat,
    ReportRef,
    ScheduleChanges,
    ScheduleSpec,
    TimeZoneName,
)
from herald.shared.contract.tenant_settings import (
    LOGO_TYPES,
    MAX_LOGO_BYTES,
    TENANT_SETTINGS_ID,
    LogoRef,
    TenantBranding,
    TenantCompliance,
    TenantEmail,
)
from herald.shared.contract.tolerance import Contract

SCHEMA_VERSION = 1
#: A run id holds its tenant's and schedule's ids (`identity.py`), 128 characters each.
MAX_RUN_ID = 320


def utcnow() -> datetime:
    """Now, to the millisecond: what MongoDB stores, so a record reads back equal."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


#: What the AsyncAPI document says of ids (`identity.py`).
_SCHEDULE_ID = (
    "The schedule: unique within its tenant only (two tenants may both have `daily-sales`). "
    "The Kafka key of every topic but tenant.settings."
)
_RUN_ID = (
    "The run, an opaque string: compare it whole, never parse it. New ones look like "
    "`<tenant_id>/<schedule_id>@<ISO 8601 instant>` for a firing and "
    "`<tenant_id>/<schedule_id>@manual-<command_id>` for RunNow and SendTestEmail."
)
_SETTINGS_ID: dict[str, Any] = {
    "const": TENANT_SETTINGS_ID,
    "description": "Tenant-level messages name the pseudo-schedule `tenant-settings`.",
}
_ZONE = "An IANA time zone name."


class Envelope(Contract):
    """Fields every message carries; `correlation_id` is the command id that caused it."""

    type: str
    event_id: UUID = Field(
        default_factory=uuid4,
        description="This message's id: the same id, the same message (a status event's "
        "is derived from its run, attempt, stage, status and occurred_at).",
    )
    occurred_at: AwareDatetime = Field(default_factory=utcnow, description="When it was made.")
    tenant_id: Identifier = Field(description="The tenant; a message concerns its data alone.")
    schedule_id: Identifier = Field(description=_SCHEDULE_ID)
    schema_version: int = SCHEMA_VERSION
    correlation_id: UUID | None = Field(
        default=None,
        description="The command_id of the command that caused this message; null when none "
        "did (a firing, a retry). Not the Kafka header `correlation_id`.",
    )

    def key(self) -> bytes:
        """The Kafka key: all of one schedule's messages share a partition."""
        return self.schedule_id.encode()


# --- commands (topic schedule.commands) ------------------------------------


class Command(Envelope):
    """Sent on `schedule.commands` keyed by `schedule_id`; answered by `command_id`."""

    #: Chosen by the sender, which matches the reply by it: required.
    command_id: UUID = Field(
        description="A new UUID per command, chosen by the sender: the reply carries it back. "
        "Required: a command without a usable one is rejected, with command_id null."
    )


class CreateSchedule(Command):
    type: Literal["CreateSchedule"] = "CreateSchedule"
    spec: ScheduleSpec


class UpdateSchedule(Command):
    type: Literal["UpdateSchedule"] = "UpdateSchedule"
    changes: ScheduleChanges
    expected_version: StrictInt = Field(ge=1)


class EnableSchedule(Command):
    type: Literal["EnableSchedule"] = "EnableSchedule"
    expected_version: StrictInt | None = Field(default=None, ge=1)


class DisableSchedule(Command):
    type: Literal["DisableSchedule"] = "DisableSchedule"
    expected_version: StrictInt | None = Field(default=None, ge=1)


class DeleteSchedule(Command):
    type: Literal["DeleteSchedule"] = "DeleteSchedule"
    expected_version: StrictInt | None = Field(default=None, ge=1)


class RunNow(Command):
    type: Literal["RunNow"] = "RunNow"


class SendTestEmail(Command):
    """Verifies SMTP end to end; `schedule_id` names the test run's pseudo-schedule."""

    type: Literal["SendTestEmail"] = "SendTestEmail"
    recipients: Recipients


class LogoUpload(Contract):
    """A logo's bytes (base64 in JSON), checked to be what its content type says."""

    filename: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    content_type: str = Field(json_schema_extra={"enum": [*LOGO_TYPES]})
    data: Base64Bytes = Field(
        min_length=1,
        max_length=MAX_LOGO_BYTES,
        json_schema_extra={
            "maxLength": -(-MAX_LOGO_BYTES // 3) * 4,
            "description": f"The image in base64, at most {MAX_LOGO_BYTES // 1024} KiB decoded. "
            "It must be what content_type says: a PNG or JPEG by its signature; an SVG is "
            "well-formed XML with an `<svg>` root and no DOCTYPE declaring entities, no "
            "scripts, event handler attributes (`on...`), embedded documents or media, "
            "animation or processing instructions, and no reference outside itself: every "
            "`href` (any prefix) and CSS `url()` is `#id` or a `data:image/png`, `jpeg` or "
            "`gif` URI, and no CSS `@import`.",
        },
    )

    @model_validator(mode="after")
    def _is_what_it_says(self) -> LogoUpload:
        if self.content_type not in LOGO_TYPES:
            raise ValueError(f"content_type must be one of {', '.join(LOGO_TYPES)}")
        if self.content_type == "image/svg+xml":
            try:
                found = svg.problems(self.data)
            except svg.NotSvg as exc:
                raise ValueError(f"data is not a {self.content_type} image: {exc}") from None
            if found:
                raise ValueError(svg.refusal(found))
            return self
        looks = {
            "image/png": self.data.startswith(b"\x89PNG\r\n\x1a\n"),
            "image/jpeg": self.data.startswith(b"\xff\xd8\xff"),
        }
        if not looks[self.content_type]:
            raise ValueError(f"data is not a {self.content_type} image")
        return self

    def stored_as(self) -> LogoRef:
        """The stored logo this upload becomes, known before it is stored: its id is its
        content's sha256 (the same bytes, one file), so a command is decided first."""
        return LogoRef(
            asset_id=f"logo-{hashlib.sha256(self.data).hexdigest()}",
            content_type=self.content_type,
            size=len(self.data),
            filename=self.filename,
        )


class BrandingChange(TenantBranding):
    """The branding section as a command sets it: a new logo as bytes, or the stored one kept."""

    logo: None = None
    logo_upload: LogoUpload | None = None
    #: Without an upload: drop the stored logo (else it is kept).
    remove_logo: StrictBool = False


SettingsSection = Literal["email", "branding", "default_timezone", "compliance"]


def _settings_rules(schema: dict[str, Any]) -> None:
    """A change names a section to set or reset, and never sets and resets the same one."""
    sections = get_args(SettingsSection)
    schema["anyOf"] = [
        {"required": ["reset"], "properties": {"reset": {"minItems": 1}}},
        *({"required": [s], "properties": {s: {"not": {"type": "null"}}}} for s in sections),
    ]
    schema["allOf"] = [
        {
            "if": {"required": ["reset"], "properties": {"reset": {"contains": {"const": s}}}},
            "then": {"properties": {s: {"type": "null"}}},
        }
        for s in sections
    ]


class ChangeTenantSettings(Command):
    """Sets sections of the tenant's settings; a section not named is left as it is.

    `email` replaces the email section whole; its sealed password is kept from
    before when `keep_password` is set and none is given. `reset` drops sections:
    the tenant falls back to the environment's defaults for them.
    """

    model_config = ConfigDict(json_schema_extra=_settings_rules)

    type: Literal["ChangeTenantSettings"] = "ChangeTenantSettings"
    schedule_id: Identifier = Field(default=TENANT_SETTINGS_ID, json_schema_extra=_SETTINGS_ID)
    #: The version the change applies to; 0: the tenant has no settings yet. None: any.
    expected_version: StrictInt | None = Field(default=None, ge=0)
    email: TenantEmail | None = None
    keep_password: StrictBool = False
    branding: BrandingChange | None = None
    default_timezone: TimeZoneName | None = None
    compliance: TenantCompliance | None = None
    reset: list[SettingsSection] = Field(default_factory=list, max_length=4)

    @model_validator(mode="after")
    def _changes_something(self) -> ChangeTenantSettings:
        if self.schedule_id != TENANT_SETTINGS_ID:
            raise ValueError(f"schedule_id of tenant commands is {TENANT_SETTINGS_ID!r}")
        named: dict[str, object] = {
            "email": self.email,
            "branding": self.branding,
            "default_timezone": self.default_timezone,
            "compliance": self.compliance,
        }
        if not self.reset and all(v is None for v in named.values()):
            raise ValueError("names no section to set or reset")
        both = [s for s in self.reset if named[s] is not None]
        if both:
            raise ValueError(f"sets and resets {', '.join(both)}")
        return self


#: The commands on one schedule; the tenant's own settings have `ChangeTenantSettings`.
ScheduleCommand = (
    CreateSchedule
    | UpdateSchedule
    | EnableSchedule
    | DisableSchedule
    | DeleteSchedule
    | RunNow
    | SendTestEmail
)
AnyCommand = Annotated[ScheduleCommand | ChangeTenantSettings, Field(discriminator="type")]
COMMAND_ADAPTER: TypeAdapter[AnyCommand] = TypeAdapter(AnyCommand)


# --- replies and schedule state (topic schedule.events) --------------------


class FieldError(Contract):
    field: str = Field(
        description="The field refused, as a dotted path (`spec.recipients.2`, "
        "`changes.cron`); `key` for the Kafka key, `type` for the command's type, `command` "
        "for the command as a whole, `volume` for the tenant's allowed volume."
    )
    message: str
    code: str = Field(json_schema_extra=code_schema)


class CommandAccepted(Envelope):
    type: Literal["CommandAccepted"] = "CommandAccepted"
    command_id: UUID
    command_type: str
    version: int | None = None
    next_run_at: AwareDatetime | None = None
    run_id: str | None = Field(default=None, description=_RUN_ID)
    #: Accepted all the same: e.g. the tenant's schedules would exceed its allowed volume.
    warnings: list[FieldError] = Field(default_factory=list)


class CommandRejected(Envelope):
    type: Literal["CommandRejected"] = "CommandRejected"
    #: None when the command carried no usable `command_id` (then it is the first error).
    command_id: UUID | None = Field(
        description="The command's command_id; null when it had no usable one."
    )
    command_type: str
    errors: list[FieldError] = Field(min_length=1)


class ScheduleChangeKind(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    ENABLED = "enabled"
    DISABLED = "disabled"
    DELETED = "deleted"


class ScheduleChanged(Envelope):
    type: Literal["ScheduleChanged"] = "ScheduleChanged"
    change: ScheduleChangeKind
    version: int = Field(description="The schedule's version after the change; 0 once deleted.")
    #: The full new state; None once deleted.
    spec: ScheduleSpec | None
    next_run_at: AwareDatetime | None = None


class TenantSettingsChanged(Envelope):
    """The audit record of a settings change: the new settings, never a secret.

    Of the password only the key it is sealed with shows (None: no password).
    """

    type: Literal["TenantSettingsChanged"] = "TenantSettingsChanged"
    schedule_id: Identifier = Field(default=TENANT_SETTINGS_ID, json_schema_extra=_SETTINGS_ID)
    version: int = Field(ge=1)
    sections: list[SettingsSection]
    email: TenantEmail | None = None
    password_key_id: str | None = None
    branding: TenantBranding | None = None
    default_timezone: str | None = Field(default=None, description=_ZONE)
    compliance: TenantCompliance | None = None


class TenantSettings(Envelope):
    """A tenant's whole settings, latest wins: the compacted `tenant.settings` topic.

    Keyed by tenant, so compaction keeps each tenant's latest; the mailer and the
    renderer read the whole topic into memory. The password is in it sealed.
    """

    type: Literal["TenantSettings"] = "TenantSettings"
    schedule_id: Identifier = Field(default=TENANT_SETTINGS_ID, json_schema_extra=_SETTINGS_ID)
    version: int = Field(ge=1)
    email: TenantEmail | None = None
    branding: TenantBranding | None = None
    default_timezone: str | None = Field(default=None, description=_ZONE)
    compliance: TenantCompliance | None = None

    def key(self) -> bytes:
        return self.tenant_id.encode()


AnyScheduleEvent = Annotated[
    CommandAccepted | CommandRejected | ScheduleChanged | TenantSettingsChanged,
    Field(discriminator="type"),
]
SCHEDULE_EVENT_ADAPTER: TypeAdapter[AnyScheduleEvent] = TypeAdapter(AnyScheduleEvent)


# --- the run pipeline --------------------------------------------------------


class DataWindow(Contract):
    """The report's data period, half-open [start, end), shown in `timezone`."""

    start: AwareDatetime
    end: AwareDatetime
    timezone: str = Field(description=_ZONE)

    def local_dates(self) -> tuple[date, date]:
        """First and last local day the window covers (its end is exclusive)."""
        zone = ZoneInfo(self.timezone)
        last = self.end - timedelta(microseconds=1)
        return self.start.astimezone(zone).date(), last.astimezone(zone).date()


class RunDetails(Contract):
    """What every stage of a run needs, carried along so no stage reads another's store."""

    run_id: str = Field(min_length=1, max_length=MAX_RUN_ID, description=_RUN_ID)
    attempt: int = Field(default=1, ge=1)
    scheduled_for: AwareDatetime
    schedule_name: str
    report: ReportRef
    filters: Filters = Filters()
    window: DataWindow
    format: ReportFormat
    recipients: Recipients
    skip_if_empty: bool = False
    test: bool = False
    #: Transient failures are retried until then: the schedule's next firing, at most
    #: `HERALD_RETRY__GIVE_UP_AFTER_S` after `scheduled_for` (None: that limit alone).
    retry_until: AwareDatetime | None = None


class ReportDue(Envelope):
    type: Literal["ReportDue"] = "ReportDue"
    run: RunDetails


class ArtifactRef(Contract):
    """A further file the email carries (the full data of a capped PDF or HTML report)."""

    artifact_id: str
    filename: str
    content_type: str
    size: int = Field(ge=0)
    sha256: str


class Tone(enum.StrEnum):
    """How a headline's change reads: good news, bad news, or neither."""

    GOOD = "good"
    BAD = "bad"
    NEUTRAL = "neutral"


#: A rendered run's notes at most, and the characters of one (`ReportRendered.notes`).
NOTES_MAX = 16
NOTE_MAX_CHARS = 1000


class HeadlineTile(Contract):
    """One key figure shown at the top of the email, already formatted by the renderer."""

    label: str = Field(max_length=80)
    value: str = Field(max_length=40)
    #: The previous period's figure, or None when there is none to compare with.
    previous: str | None = Field(default=None, max_length=40)
    #: "+12.5 %" or "\u22123.0 %" (a true minus sign); None when there is no previous
    #: figure to divide by.
    change: str | None = Field(default=None, max_length=20)
    tone: Tone = Tone.NEUTRAL


class InlineImage(ArtifactRef):
    """An image the inline HTML shows as `cid:<cid>` (a chart as PNG): a related part."""

    cid: str = Field(pattern=r"^[A-Za-z0-9._-]+@herald$")
    alt: str = Field(max_length=2000)


class ReportRendered(Envelope):
    type: Literal["ReportRendered"] = "ReportRendered"
    run: RunDetails
    artifact_id: str
    filename: str
    content_type: str
    size: int = Field(ge=0)
    rows: int = Field(ge=0)
    sha256: str
    title: str
    filters_summary: str
    #: For `html` runs: the artifact holding the inline table fragment.
    html_artifact_id: str | None = None
    #: Above the mail attachment limit: the mailer links instead of attaching.
    too_large_to_attach: bool = False
    #: Attached after the artifact (for a capped PDF or HTML report: the full CSV).
    companions: list[ArtifactRef] = Field(default_factory=list)
    #: Key figures shown at the top of the email body, whatever the format.
    headlines: list[HeadlineTile] = Field(default_factory=list, max_length=12)
    #: For `html` runs: the charts the inline table refers to as `cid:` images.
    images: list[InlineImage] = Field(default_factory=list, max_length=8)
    #: What the report says of its own figures (the zone its hours are in, the previous
    #: period the tiles compare with, a column a filter leaves empty), shown under the
    #: tiles in every email body: a CSV or an inline table carries no notes of its own.
    notes: list[Annotated[str, Field(max_length=NOTE_MAX_CHARS)]] = Field(
        default_factory=list, max_length=NOTES_MAX
    )


class RunStatus(enum.StrEnum):
    DUE = "due"
    RENDERED = "rendered"
    PENDING_RETRY = "pending_retry"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    SKIPPED_EMPTY = "skipped_empty"


class RecipientOutcome(enum.StrEnum):
    ACCEPTED = "accepted"
    REFUSED_PERMANENT = "refused_permanent"
    REFUSED_TRANSIENT = "refused_transient"


class SmtpStage(enum.StrEnum):
    """Where an SMTP exchange ended: what a test email's diagnosis names."""

    CONNECT = "connect"
    TLS = "tls"
    AUTH = "auth"
    SENDER = "sender"
    RECIPIENT = "recipient"
    DATA = "data"


class RecipientResult(Contract):
    address: str = Field(json_schema_extra=EMAIL_ADDRESS_SCHEMA)
    outcome: RecipientOutcome
    smtp_code: int | None = None
    smtp_message: str | None = None
    #: The step the exchange ended at (`data` for an accepted message); None: no exchange.
    stage: SmtpStage | None = None


class DeliveryStatus(Envelope):
    """One transition of a run; the `runs` history is a projection of these."""

    type: Literal["DeliveryStatus"] = "DeliveryStatus"
    run_id: str = Field(min_length=1, max_length=MAX_RUN_ID, description=_RUN_ID)
    attempt: int = Field(ge=1)
    status: RunStatus
    stage: Literal["scheduler", "renderer", "mailer"]
    scheduled_for: AwareDatetime | None = None
    reason: str | None = None
    artifact_id: str | None = None
    recipients: list[RecipientResult] = Field(default_factory=list)
    next_attempt_at: AwareDatetime | None = None
    test: bool = False
    #: On `due`: what was fired, so the history can show it and fire a retry.
    run: RunDetails | None = None
