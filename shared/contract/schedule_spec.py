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
from importlib import metadata, resources
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictInt,
    ValidationInfo,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypeAliasType

from herald.shared.contract.catalog import (
    AGENT,
    CAMPAIGN,
    REPORT_FILTERS,
    STANDARD_REPORTS,
    TEST_REPORT_ID,
    unaccepted_filters,
)
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


def _distinct(addresses: list[str]) -> list[str]:
    """Each mailbox once, whatever its case (each is normalised already, at its place, so a
    rejection names every bad address by its index: `spec.recipients.2`)."""
    kept: list[str] = []
    seen: set[str] = set()
    for address in addresses:
        if address.lower() not in seen:
            seen.add(address.lower())
            kept.append(address)
    return kept


# --- the rules above as JSON Schema, for the AsyncAPI document (validation is the code's) ---


def _zone_names(schema: dict[str, Any]) -> None:
    """The zones of the pinned `tzdata` package: the same list on every machine.

    The services also know the host's zones; a name outside this list may work
    there, but the contract promises these.
    """
    schema["enum"] = sorted(resources.files("tzdata").joinpath("zones").read_text().split())
    schema["description"] = (
        "An IANA time zone name (`Europe/Berlin`, `UTC`), as listed by the IANA "
        f"database of tzdata {metadata.version('tzdata')}."
    )


def _wall_time(schema: dict[str, Any]) -> None:
    """A local time without an offset: JSON Schema's `time` format would demand one."""
    del schema["format"]
    schema["pattern"] = r"^([01][0-9]|2[0-3]):[0-5][0-9](:00(\.0{1,6})?)?$"
    schema["description"] = (
        "Local wall-clock time to the minute, HH:MM (or HH:MM:00), in the schedule's zone."
    )


def _time_as_text(value: object) -> object:
    """A time of day only as text: lax, 800 was 00:13:20 and 3.5 half past midnight."""
    if isinstance(value, str | time):
        return value
    raise PydanticCustomError("time_type", "Input should be a time of day as text, HH:MM")


def _wall_clock(value: time, info: ValidationInfo) -> time:
    """A wall-clock minute in the schedule's zone: the scheduler fires by the minute, and
    an offset ("02:30Z") made it compare an aware time with naive ones, which failed on
    every tick of a daylight-saving day. A stored one from before is read as its minute."""
    if value.tzinfo is None and not (value.second or value.microsecond):
        return value
    if info.context and info.context.get("tolerant"):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    if value.tzinfo is not None:
        raise ValueError("a time of day in the schedule's zone, without a UTC offset")
    raise ValueError("a time of day to the minute (HH:MM): the schedule fires by the minute")


#: What `normalise_address` takes: ASCII mailbox (no SMTPUTF8), a domain with a dot.
EMAIL_ADDRESS_SCHEMA: dict[str, Any] = {
    "format": "email",
    "maxLength": 254,
    "pattern": r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[^@\s]+\.[^@\s]+$",
    "description": "An email address without display name, quotes or IP literal; its part "
    "before the @ in ASCII (no SMTPUTF8), its domain with a dot and not a special-use one "
    "(.test, .invalid, .local, localhost, ...). Herald keeps the domain in lowercase ASCII "
    "(an international one in its IDNA form).",
}
_CRON_ALIASES = "yearly|annually|monthly|weekly|daily|midnight|hourly"
_CRON_FIELD = "[0-9A-Za-z*?,/#-]+"

CleanText = Annotated[
    str,
    AfterValidator(_no_control_chars),
    Field(json_schema_extra={"pattern": r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$"}),
]
TimeZoneName = TypeAliasType(
    "TimeZoneName",
    Annotated[str, AfterValidator(valid_zone), Field(json_schema_extra=_zone_names)],
)
CronExpression = Annotated[
    str,
    Field(
        max_length=200,
        json_schema_extra={
            "pattern": rf"^(@({_CRON_ALIASES})|\s*{_CRON_FIELD}(\s+{_CRON_FIELD}){{4}}\s*)$",
            "description": "Five fields, minute hour day-of-month month day-of-week (Herald "
            "fires by the minute: no seconds or year field), with names, ranges, steps, lists, "
            "L, W, # and ? as croniter reads them; or one of "
            f"@{_CRON_ALIASES.replace('|', ', @')}. No random fields (R). It must fire at "
            "least once a year.",
        },
    ),
    AfterValidator(_valid_cron),
]
Recipients = Annotated[
    list[
        Annotated[
            str, AfterValidator(normalise_address), Field(json_schema_extra=EMAIL_ADDRESS_SCHEMA)
        ]
    ],
    Field(
        min_length=1,
        max_length=MAX_RECIPIENTS,
        description="Each address is normalised (domain in lowercase ASCII) and a repeat "
        "(case-insensitive) dropped; the tenant's allowed recipient domains, if the server "
        "sets any, apply (code `recipient_not_allowed`).",
    ),
    AfterValidator(_distinct),
]
WallTime = Annotated[
    time,
    BeforeValidator(_time_as_text),
    AfterValidator(_wall_clock),
    Field(json_schema_extra=_wall_time),
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


def _when(
    condition: dict[str, Any], then: dict[str, Any], otherwise: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A JSON Schema if/then(/else) on the given properties' values."""
    rule: dict[str, Any] = {"if": {"properties": condition}, "then": then}
    if otherwise is not None:
        rule["else"] = otherwise
    return rule


_COUNTED_WINDOWS = (WindowKind.LAST_HOURS, WindowKind.LAST_DAYS)
#: The longest counted window, in days: a year.
MOST_DAYS = 366


class DataWindowSpec(_Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                _when(
                    {"kind": {"enum": [kind.value for kind in _COUNTED_WINDOWS]}},
                    {"required": ["n"], "properties": {"n": {"type": "integer"}}},
                    {"properties": {"n": {"type": "null"}}},
                )
            ]
        }
    )

    kind: WindowKind
    #: Only for `last_hours` and `last_days`: a year at most (366 days, 8,784 hours).
    n: StrictInt | None = Field(default=None, ge=1, le=MOST_DAYS * 24)

    @model_validator(mode="after")
    def _n_matches_kind(self, info: ValidationInfo) -> DataWindowSpec:
        counted = self.kind in _COUNTED_WINDOWS
        if counted and self.n is None:
            raise ValueError(f"window kind {self.kind.value!r} needs n")
        if not counted and self.n is not None:
            raise ValueError(f"window kind {self.kind.value!r} takes no n")
        tolerant = info.context and info.context.get("tolerant")
        if self.kind is WindowKind.LAST_DAYS and (self.n or 0) > MOST_DAYS and not tolerant:
            # n days cost a report about 6 database commands each, twice with the
            # previous period, at every firing: 24 years were a minute of the database's.
            raise ValueError(f"last_days takes at most {MOST_DAYS} days (a year)")
        return self


#: The catalog's filter names as `Filters` fields.
_FILTER_FIELDS = {CAMPAIGN: "campaign_ids", AGENT: "agent_ids"}


def _report_ids(schema: dict[str, Any]) -> None:
    """Which ids each kind of report takes: the catalog's, or the test report's one."""
    catalog = "\n".join(
        f"- `{id_}`: {title} (filters: {', '.join(sorted(REPORT_FILTERS[id_]))})"
        for id_, title in STANDARD_REPORTS.items()
    )
    schema["description"] = (
        "A standard report by id, a saved custom report by id (checked when it runs), or the "
        f"SMTP test report (`{TEST_REPORT_ID}`, SendTestEmail's alone). Standard reports:\n"
        f"{catalog}"
    )
    schema["allOf"] = [
        _when(
            {"kind": {"const": "standard"}}, {"properties": {"id": {"enum": [*STANDARD_REPORTS]}}}
        ),
        {
            "if": {"properties": {"kind": {"const": "test"}}, "required": ["kind"]},
            "then": {"properties": {"id": {"const": TEST_REPORT_ID}}},
        },
    ]


def _schedule_rules(schema: dict[str, Any]) -> None:
    """The fields each frequency needs or forbids, and the filters each report accepts."""
    refusing = {
        name: [id_ for id_, accepted in REPORT_FILTERS.items() if name not in accepted]
        for name in _FILTER_FIELDS
    }
    schema["allOf"] = [
        {"properties": {"report": {"properties": {"kind": {"not": {"const": "test"}}}}}},
        _when(
            {"frequency": {"const": Frequency.WEEKLY.value}},
            {"required": ["weekday"], "properties": {"weekday": {"type": "integer"}}},
            {"properties": {"weekday": {"type": "null"}}},
        ),
        _when(
            {"frequency": {"const": Frequency.CUSTOM.value}},
            {
                "required": ["cron", "window"],
                "properties": {"cron": {"type": "string"}, "window": {"type": "object"}},
            },
            {"properties": {"cron": {"type": "null"}, "window": {"type": "null"}}},
        ),
        *(
            _when(
                {"report": {"properties": {"kind": {"const": "standard"}, "id": {"enum": ids}}}},
                {
                    "properties": {
                        "filters": {"properties": {_FILTER_FIELDS[name]: {"maxItems": 0}}}
                    }
                },
            )
            for name, ids in sorted(refusing.items())
            if ids
        ),
    ]


class ReportRef(_Strict):
    """A standard report by id, a saved custom report by id, or the SMTP test report."""

    model_config = ConfigDict(json_schema_extra=_report_ids)

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


_WEEKDAY = "0 = Monday ... 6 = Sunday: weekly schedules need it, others take none."
_CRON = "Custom schedules need it (with window), others take none."
_TIMEZONE = (
    "The zone of time_of_day and of the data window. Null in a CreateSchedule: the tenant's "
    "default zone (ChangeTenantSettings.default_timezone), written into the schedule, else the "
    "server's HERALD_DEFAULT_TIMEZONE. A schedule that holds null (its tenant had no default "
    "when it was created, or an update cleared it) fires in the server's HERALD_DEFAULT_TIMEZONE."
)
_CATCH_UP = "How late (seconds) a missed firing may still be sent; null: one period."


class ScheduleSpec(_Strict):
    """The full, valid state of a schedule as the user defined it."""

    model_config = ConfigDict(json_schema_extra=_schedule_rules)

    name: CleanText = Field(min_length=1, max_length=200)
    report: ReportRef
    filters: Filters = Filters()
    frequency: Frequency
    #: 0 = Monday ... 6 = Sunday; weekly schedules only.
    weekday: StrictInt | None = Field(default=None, ge=0, le=6, description=_WEEKDAY)
    cron: CronExpression | None = Field(default=None, description=_CRON)
    window: DataWindowSpec | None = Field(default=None, description=_CRON)
    time_of_day: WallTime = time(8, 0)
    #: IANA zone; None means the server's configured default zone.
    timezone: TimeZoneName | None = Field(default=None, description=_TIMEZONE)
    recipients: Recipients
    format: ReportFormat = ReportFormat.PDF
    enabled: StrictBool = True
    skip_if_empty: StrictBool = False
    #: How late a missed firing may still be sent; None means one period.
    catch_up_seconds: StrictInt | None = Field(
        default=None, ge=0, le=MAX_CATCH_UP_S, description=_CATCH_UP
    )

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
    weekday: StrictInt | None = Field(default=None, ge=0, le=6, description=_WEEKDAY)
    cron: CronExpression | None = Field(default=None, description=_CRON)
    window: DataWindowSpec | None = Field(default=None, description=_CRON)
    time_of_day: WallTime | None = None
    timezone: TimeZoneName | None = Field(default=None, description=_TIMEZONE)
    recipients: Recipients | None = None
    format: ReportFormat | None = None
    skip_if_empty: StrictBool | None = None
    catch_up_seconds: StrictInt | None = Field(
        default=None, ge=0, le=MAX_CATCH_UP_S, description=_CATCH_UP
    )

    def apply_to(self, spec: ScheduleSpec) -> ScheduleSpec:
        """The new spec, validated again as a whole (raises pydantic's ValidationError)."""
        merged = spec.model_dump() | self.model_dump(exclude_unset=True)
        return ScheduleSpec.model_validate(merged)
