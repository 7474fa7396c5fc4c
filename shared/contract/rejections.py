"""The codes a `FieldError` carries, with what each means to the sender of a command.

A platform developer reading a `CommandRejected` (or a warning of `CommandAccepted`)
needs the whole list, so it is written here, beside the contract, and the JSON
Schema of `FieldError.code` is made from it. Herald's own codes are the scheduler's
business rules (a unit test holds this list to the codes the scheduler uses); every
other code is the type of a pydantic validation error on the field.
"""

from __future__ import annotations

from typing import Any, Final, get_args

from pydantic_core.core_schema import ErrorType

#: The scheduler's own codes: rules no field's schema can check alone.
HERALD_CODES: Final[dict[str, str]] = {
    "duplicate": "the command_id was already used by another tenant, or for another of the "
    "tenant's schedules (field `command_id`); the command is not applied",
    "encoded_word": "ChangeTenantSettings: a from_name holding RFC 2047 encoded-word syntax "
    "(=?), which mail programs decode (field `email.from_name`)",
    "exists": "CreateSchedule: the tenant has, or had, a schedule with this schedule_id "
    "(a deleted schedule's id is not used again)",
    "key_mismatch": "the record's Kafka key is not the command's schedule_id in UTF-8 "
    "(field `key`)",
    "no_password": "ChangeTenantSettings: keep_password, but no password is stored to keep",
    "not_found": "the tenant has no schedule with this schedule_id",
    "password_needs_tls": "ChangeTenantSettings: an email section with a password (given or "
    "kept) and security none; a password is sent only over TLS (field `email.security`)",
    "password_required": "ChangeTenantSettings: keep_password while the host, port, security "
    "or username change; the stored password goes only to the server it was given for "
    "(field `email.password`)",
    "recipient_not_allowed": "the recipient's domain is not among those allowed for the tenant "
    "(field `<path>.recipients.<index>`)",
    "reserved": "CreateSchedule: the schedule_id `tenant-settings` is reserved for tenant commands",
    "too_many_errors": "the command has more errors than a rejection lists (field `command`): "
    "the first ones are listed, this one counts the rest",
    "version_conflict": "expected_version is not the current version (field `expected_version`)",
    "volume_over_allowed": "the tenant's enabled schedules would send more than its email "
    "provider allows (field `volume`): a warning on CommandAccepted, a rejection when the "
    "tenant's settings say enforce_volume",
}

#: The pydantic error types a command most often meets; any other is pydantic's too.
VALIDATION_CODES: Final[dict[str, str]] = {
    "bool_type": "not a boolean",
    "datetime_from_date_parsing": "not an ISO 8601 date-time",
    "enum": "not one of the allowed values",
    "extra_forbidden": "a field the model does not have (commands forbid unknown fields)",
    "greater_than_equal": "a number below the minimum",
    "int_parsing": "not an integer",
    "int_type": "not an integer",
    "less_than_equal": "a number above the maximum",
    "literal_error": "not one of the allowed values",
    "missing": "a required field is absent (also: a password without a username)",
    "model_type": "not a JSON object",
    "string_pattern_mismatch": "a string that does not match the field's pattern",
    "string_too_long": "a string longer than allowed",
    "string_too_short": "a string shorter than allowed",
    "string_type": "not a string",
    "time_parsing": "not a time of day (HH:MM or HH:MM:SS)",
    "timezone_aware": "a date-time without a UTC offset",
    "too_long": "a list longer than allowed",
    "too_short": "a list shorter than allowed (e.g. no recipients)",
    "union_tag_invalid": "`type` names no command (field `type`)",
    "union_tag_not_found": "`type` is missing (field `type`)",
    "uuid_parsing": "not a UUID",
    "value_error": "a rule of the field or its object is broken; the message says which "
    "(an unknown IANA zone, an invalid email address or cron expression, an unknown "
    "report, a field the frequency does not take, ...)",
}


def code_schema(schema: dict[str, Any]) -> None:
    """`FieldError.code`: every code there can be, and what the usual ones mean."""
    herald = "\n".join(f"- `{code}`: {meaning}" for code, meaning in HERALD_CODES.items())
    usual = "\n".join(f"- `{code}`: {meaning}" for code, meaning in VALIDATION_CODES.items())
    schema["description"] = (
        "Why the field was refused.\n\nHerald's own rules:\n"
        f"{herald}\n\nValidation of the field (pydantic's error types; the usual ones):\n"
        f"{usual}\n\nAny other value is another of pydantic's error types "
        "(https://docs.pydantic.dev/latest/errors/validation_errors/)."
    )
    schema["enum"] = sorted({*HERALD_CODES, *get_args(ErrorType)})
