"""What a schedule says: which report, for whom, how often, in which shape.

These models are the payload of `CreateSchedule`/`UpdateSchedule` and of
`ScheduleChanged`. Their validators produce the field-level reasons a
`CommandRejected` carries, so every rule a platform user can break lives here.
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from herald.shared.contract.catalog import STANDARD_REPORTS, TEST_REPORT_ID, unaccepted_filters
from herald.shared.contract.tolerance import Contract

MAX_RECIPIENTS = 1000
#: A year: no firing is worth sending later than that (and MongoDB stores 64-bit ints).
MAX_CATCH_UP_S = 366 * 24 * 3600


def _no_control_chars(value: str) -> str:
    # Cc is C0, DEL and C1 (NEL among them); Zl/Zp are line and paragraph
    # separators: all of them break a line in an email header or a log line.
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value):
        raise ValueError("must not contain control characters (CR, LF, tab, ...)")
    return value


@functools.lru_cache(maxsize=4096)
def normalise_domain(domain: str) -> str:
    """A domain's lowercase IDNA (ASCII) form, or ValueError naming it.

    Cached: a herd's recipients share few domains.
    """
    candidate = domain.strip().lower()
    try:
        checked = validate_email(f"postmaster@{candidate}", check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{domain!r} is not a mail domain: {exc}") from exc
    return checked.ascii_domain.lower()


def valid_zone(value: str) -> str:
    """An IANA zone name, or ValueError naming it (schedules and settings share it)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        # OSError: a name too long for a file name in the zone database.
        raise ValueError(f"unknown IANA time zone {value[:100]!r}") from exc
    return value


#: A leap-day-free year starts here; the next 29 February is three years away.
_CRON_PROBE = datetime(2025, 1, 1)
#: The scheduler looks this far ahead for a firing (services/scheduler/timing.py).
_CRON_MAX_GAP = timedelta(days=367)


@functools.lru_cache(maxsize=4096)
def _cron_problem(value: str) -> str | None:
    """Why a cron expression cannot be a schedule's, or None (cached: a herd shares a few)."""
    fields = value.split()
    if not croniter.is_valid(value):
        return f"invalid cron expression {value!r}"
    if len(fields) != 5 and not value.startswith("@"):
        return (
            f"cron expression {value!r} must have 5 fields "
            "(minute hour day-of-month month day-of-week): Herald fires by the minute"
        )
    if any(re.search(r"(?<![A-Z])R(?![A-Z])", f.upper()) for f in fields):
        return f"cron expression {value!r}: random fields (R) are not supported"
    try:
        first = croniter(value, _CRON_PROBE).get_next(datetime)
    except (CroniterError, ValueError, OverflowError):
        return f"cron expression {value!r} never fires"
    if first - _CRON_PROBE > _CRON_MAX_GAP:
        return f"cron expression {value!r} fires less often than once a year"
    return None


def _valid_cron(value: str) -> str:
    """Five fields (Herald fires by the minute), deterministic, firing at least once a year."""
    if problem := _cron_problem(value):
        raise ValueError(problem)
    return value


@functools.lru_cache(maxsize=65536)
def normalise_address(value: str) -> str:
    """One canonical spelling per mailbox, so the ledger keys a recipient once.

    Cached: a herd re-reads the same few thousand addresses many times over. The
    mailer does not speak SMTPUTF8: a non-ASCII mailbox name is refused here, and an
    international domain is kept in its ASCII (IDNA) form, which every server takes.
    """
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(f"invalid email address {value!r}: {exc}") from exc
    return checked.ascii_email or checked.normalized


def _valid_recipients(values: list[str]) -> list[str]:
    normalised: list[str] = []
    seen: set[str] = set()
    for value in values:
        address = normalise_address(value)
        if address.lower() not in seen:
            seen.add(address.lower())
            normalised.append(address)
    return normalised


CleanText = Annotated[str, AfterValidator(_no_control_chars)]
TimeZoneName = Annotated[str, AfterValidator(valid_zone)]
CronExpression = Annotated[str, Field(max_length=200), AfterValidator(_valid_cron)]
Recipients = Annotated[
    list[str], Field(min_length=1, max_length=MAX_RECIPIENTS), AfterValidator(_valid_recipients)
]
Identifier = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$")
]


class Frequency(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    CUSTOM = "custom"


class ReportFormat(enum.StrEnum):
    PDF = "pdf"
    CSV = "csv"
    HTML = "html"


class WindowKind(enum.StrEnum):
    """Data windows a custom schedule can ask for, relative to its firing."""

    LAST_HOURS = "last_hours"
    LAST_DAYS = "last_days"
    PREVIOUS_DAY = "previous_day"
    PREVIOUS_WEEK = "previous_week"
    PREVIOUS_MONTH = "previous_month"
    MONTH_TO_DATE = "month_to_date"


class _Strict(Contract):
    """Forbids unknown fields, except to tolerant readers (`tolerance.py`)."""


class DataWindowSpec(_Strict):
    kind: WindowKind
    #: Only for `last_hours` and `last_days`.
    n: int | None = Field(default=None, ge=1, le=366 * 24)

    @model_validator(mode="after")
    def _n_matches_kind(self) -> DataWindowSpec:
        counted = self.kind in (WindowKind.LAST_HOURS, WindowKind.LAST_DAYS)
        if counted and self.n is None:
            raise ValueError(f"window kind {self.kind.value!r} needs n")
        if not counted and self.n is not None:
            raise ValueError(f"window kind {self.kind.value!r} takes no n")
        return self


class ReportRef(_Strict):
    """A standard report by id, a saved custom report by id, or the SMTP test report."""

    kind: Literal["standard", "custom", "test"] = "standard"
    id: Identifier

    @model_validator(mode="after")
    def _known_report(self) -> ReportRef:
        if self.kind == "standard" and self.id not in STANDARD_REPORTS:
            raise ValueError(
                f"unknown report type {self.id!r}; standard reports: {', '.join(STANDARD_REPORTS)}"
            )
        if self.kind == "test" and self.id != TEST_REPORT_ID:
            raise ValueError(f"the test report's id is {TEST_REPORT_ID!r}")
        return self


class Filters(_Strict):
    campaign_ids: list[Identifier] = Field(default_factory=list, max_length=1000)
    agent_ids: list[Identifier] = Field(default_factory=list, max_length=1000)

    def summary(self) -> str:
        parts = []
        if self.campaign_ids:
            parts.append("Campaigns: " + ", ".join(self.campaign_ids))
        if self.agent_ids:
            parts.append("Agents: " + ", ".join(self.agent_ids))
        return "; ".join(parts) or "All campaigns and agents"


class ScheduleSpec(_Strict):
    """The full, valid state of a schedule as the user defined it."""

    name: CleanText = Field(min_length=1, max_length=200)
    report: ReportRef
    filters: Filters = Filters()
    frequency: Frequency
    #: 0 = Monday ... 6 = Sunday; weekly schedules only.
    weekday: int | None = Field(default=None, ge=0, le=6)
    cron: CronExpression | None = None
    window: DataWindowSpec | None = None
    time_of_day: time = time(8, 0)
    #: IANA zone; None means the server's configured default zone.
    timezone: TimeZoneName | None = None
    recipients: Recipients
    format: ReportFormat = ReportFormat.PDF
    enabled: bool = True
    skip_if_empty: bool = False
    #: How late a missed firing may still be sent; None means one period.
    catch_up_seconds: int | None = Field(default=None, ge=0, le=MAX_CATCH_UP_S)

    @model_validator(mode="after")
    def _frequency_fields(self) -> ScheduleSpec:
        if self.report.kind == "test":
            raise ValueError("the test report is only sent by SendTestEmail")
        if self.frequency is Frequency.WEEKLY and self.weekday is None:
            raise ValueError("weekly schedules need weekday (0 = Monday ... 6 = Sunday)")
        if self.frequency is not Frequency.WEEKLY and self.weekday is not None:
            raise ValueError("weekday is only for weekly schedules")
        if self.frequency is Frequency.CUSTOM and (self.cron is None or self.window is None):
            raise ValueError("custom schedules need both cron and window")
        if self.frequency is not Frequency.CUSTOM and (self.cron or self.window):
            raise ValueError("cron and window are only for custom schedules")
        if self.report.kind == "standard":
            campaigns, agents = bool(self.filters.campaign_ids), bool(self.filters.agent_ids)
            reasons = unaccepted_filters(self.report.id, campaigns, agents)
            if reasons:
                raise ValueError("; ".join(reasons))
        return self


class ScheduleChanges(_Strict):
    """A partial update: only the fields given change; the result is re-validated whole.

    A field given as null clears it (a weekday when leaving weekly, say); a
    field not given stays as it is, so only given fields are serialised.
    """

    @model_serializer(mode="wrap")
    def _only_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set}

    name: CleanText | None = Field(default=None, min_length=1, max_length=200)
    report: ReportRef | None = None
    filters: Filters | None = None
    frequency: Frequency | None = None
    weekday: int | None = Field(default=None, ge=0, le=6)
    cron: CronExpression | None = None
    window: DataWindowSpec | None = None
    time_of_day: time | None = None
    timezone: TimeZoneName | None = None
    recipients: Recipients | None = None
    format: ReportFormat | None = None
    skip_if_empty: bool | None = None
    catch_up_seconds: int | None = Field(default=None, ge=0, le=MAX_CATCH_UP_S)

    def apply_to(self, spec: ScheduleSpec) -> ScheduleSpec:
        """The new spec, validated again as a whole (raises pydantic's ValidationError)."""
        merged = spec.model_dump() | self.model_dump(exclude_unset=True)
        return ScheduleSpec.model_validate(merged)
