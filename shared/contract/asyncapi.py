"""Herald's AsyncAPI 3.0 document, the whole contract of its topics: `docs/asyncapi.yaml`.

`python -m herald.shared.contract.asyncapi` prints it (`make asyncapi` writes it) and
a unit test fails when the committed copy differs. FastStream's generator could not
say what a platform developer needs (each record's key, the correlation, request and
reply, the dead letters' headers, the topic prefix), so the document is built here as
plain data. The payload schemas are the models' own JSON Schema, their rules carried
by `json_schema_extra`; what no schema can say is written beside them as rules. The
same models give the same bytes: maps whose order means nothing are sorted.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from herald.shared.contract.asyncapi_examples import Example, examples
from herald.shared.contract.messages import (
    SCHEMA_VERSION,
    ChangeTenantSettings,
    CommandAccepted,
    CommandRejected,
    CreateSchedule,
    DeleteSchedule,
    DeliveryStatus,
    DisableSchedule,
    EnableSchedule,
    ReportDue,
    ReportRendered,
    RunNow,
    ScheduleChanged,
    SendTestEmail,
    TenantSettings,
    TenantSettingsChanged,
    UpdateSchedule,
)
from herald.shared.contract.schedule_spec import Identifier
from herald.shared.contract.tenant_settings import TENANT_SETTINGS_ID
from herald.shared.contract.topics import ERROR_HEADER, ERROR_TYPE_HEADER, ORIGIN_HEADER, Topics

Document = dict[str, Any]

#: Addresses keep the deployment's prefix as a channel parameter.
_TOPICS = Topics("{prefix}")
_SCHEMAS = "#/components/schemas/"
_KAFKA_BINDING = "0.5.0"
#: A dead letter is the original record's bytes; it has no model.
_DEAD_LETTER = "DeadLetter"

_INFO = f"""\
Herald schedules reports and emails them. Platform services talk to it over Kafka
alone: they send commands on `{_TOPICS.commands}` and read the answers on
`{_TOPICS.schedule_events}`. The other topics are Herald's own pipeline, its audit log
(`delivery.status`) and its dead letters, described so that they can be read and audited.
Operations are written from a platform service's side: it sends commands and receives
everything else.

## Messages
Every message is one JSON object in UTF-8 with the envelope `type` (the message's name,
which picks its schema on a topic that carries several), `event_id`, `occurred_at`,
`tenant_id`, `schedule_id`, `schema_version` ({SCHEMA_VERSION}) and `correlation_id`
(the `command_id` of the command that caused it, if one did).

## Keys
A record's key is its message's `schedule_id` in UTF-8 on every topic but
`tenant.settings` (the `tenant_id`) and the DLQ (the original record's key), so all
messages of one schedule share a partition and keep their order. Each message's Kafka
binding gives its key's schema; `x-herald-key-location` names the payload field it equals.

## Identities
- `tenant_id`: the tenant. A message concerns one tenant's data, and a command never
  reaches another tenant's.
- `schedule_id`: the tenant's own name for a schedule, unique within the tenant only: two
  tenants may both have `daily-sales`. `{TENANT_SETTINGS_ID}` names the tenant-level
  pseudo-schedule and is never a schedule's.
- `command_id`: a UUID the sender chooses, new for each command.
- `run_id`: opaque; compare it whole, never parse it. New ones look like
  `<tenant_id>/<schedule_id>@<ISO 8601 instant>` (a firing) and
  `<tenant_id>/<schedule_id>@manual-<command_id>` (RunNow, SendTestEmail).

## Delivery and compatibility
Producers write with acks=all and idempotence; consumers are at least once, so a message
may arrive twice. A message published again is the same message byte for byte (same
`event_id`, same `occurred_at`), or a new one with a new `event_id` (a stage that reports an
outcome again later, after a crash): never one `event_id` on two different messages, so
readers deduplicate by `event_id`. A release of Herald only
adds optional fields: a reader of Herald's messages must ignore fields it does not know
(the schemas describe this release exactly). Commands are strict: an unknown field is
rejected (`extra_forbidden`).

## Headers
Herald reads no header of a command (with tracing on, the W3C trace context). What it
writes carries `content-type: application/json`, and most records a `correlation_id`
header: the Kafka library's own random record id, not the command correlation (that is
the payload's `command_id` and `correlation_id`).
"""

_COMMAND_RULES = f"""\
Commands from platform services to the scheduler: on one schedule (CreateSchedule,
UpdateSchedule, EnableSchedule, DisableSchedule, DeleteSchedule, RunNow, SendTestEmail)
or on the tenant's settings (ChangeTenantSettings, schedule_id `{TENANT_SETTINGS_ID}`).
Each is answered on schedule.events (operation `sendCommand`).

## Rules
Beyond each message's schema; a broken rule is a `CommandRejected` whose errors name the
field and the code (`FieldError.code` lists them all):
- The record's key is the command's `schedule_id` in UTF-8 (else field `key`, code
  `key_mismatch`).
- `command_id` is required, a UUID (else `missing` or `uuid_parsing` on `command_id`, and
  the rejection's `command_id` is null).
- A command that is not JSON, not a JSON object, or without a usable `tenant_id` or
  `schedule_id` gets no reply at all: it goes to the DLQ.
- Schedule ids are the tenant's own: a CreateSchedule on an id the tenant has or had (a
  deleted schedule's id is not used again) is `exists`; `{TENANT_SETTINGS_ID}` is
  `reserved`; any other schedule command on an id the tenant has not is `not_found`.
- `expected_version`, when given, is the current version (`version_conflict`).
- The server may limit the domains a tenant mails (`recipient_not_allowed`, field
  `<path>.recipients.<index>`). Addresses are normalised and repeats dropped.
- Time zones are IANA names the server's zone database knows (the schemas list tzdata's);
  a cron expression must also not use random fields (R) and must fire at least once a year.
- When the tenant's email settings name an allowed volume, a create, update or enable whose
  forecast of the next 7 days exceeds it is accepted with a warning, or rejected when the
  settings say `enforce_volume` (`volume_over_allowed`, field `volume`).
- A `command_id` another tenant used is `duplicate`.
"""

_SEND_COMMAND = f"""\
Send a command keyed by its `schedule_id` (UTF-8) with a new `command_id`; the scheduler
answers on `{_TOPICS.schedule_events}` with one `CommandAccepted` or `CommandRejected`
carrying the same `command_id`. Start reading that topic at its end before sending, so no
reply is missed.

- Order: for an accepted command that changes a schedule, `ScheduleChanged` is published
  before `CommandAccepted` (same key, same partition). For RunNow and SendTestEmail the
  run's `ReportDue` and its `due` DeliveryStatus come before the reply; for
  ChangeTenantSettings, `TenantSettingsChanged`, then `TenantSettings` (on
  tenant.settings), then the reply. The reply is a command's last message: when it is
  seen, the command's effects are on their topics.
- A command that is not JSON, not a JSON object, or without a usable `tenant_id` or
  `schedule_id` gets no reply at all and goes to the DLQ. One invalid otherwise is
  answered with `CommandRejected` (with `command_id` null if it had no usable one).
- A repeated command (the same `command_id` from the same tenant: a retry after a timeout,
  a redelivery) is never applied twice: it gets the same reply again, with the same
  effects, byte for byte, for as long as answered command ids are kept
  (HERALD_RETENTION__COMMANDS_DAYS, 30 days). A rejected command leaves nothing behind and
  is judged anew; a CreateSchedule on an id the tenant never had is applied whatever its
  `command_id`.
"""


@dataclass(frozen=True, slots=True)
class _Message:
    model: type[BaseModel]
    summary: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class _Channel:
    id: str
    address: str
    summary: str
    description: str
    messages: tuple[_Message, ...]
    #: The payload field the record's key is.
    key_field: str
    key_description: str
    headers: str
    #: Of its operation: what to send, or who in Herald writes and reads it.
    operation: str
    config: Document | None = None


_KEYED_BY_SCHEDULE = (
    "The message's `schedule_id` as UTF-8 bytes, no framing: all of one schedule's messages "
    "share a partition and stay in order."
)
_COMMAND_KEY = (
    "The command's `schedule_id` as UTF-8 bytes, no framing (`tenant-settings` for "
    "ChangeTenantSettings). Any other key is rejected: field `key`, code `key_mismatch`."
)
_EDITS = (
    "\n\nRules: `expected_version`, when given, is the schedule's current version "
    "(`version_conflict`); the tenant has a schedule of this id (`not_found`)."
)

_COMMANDS = (
    _Message(
        CreateSchedule,
        "Create a schedule of the tenant.",
        "Creates the tenant's schedule `schedule_id` from `spec`.\n\nRules: the tenant has "
        "no schedule of this id and never had one (`exists`); `tenant-settings` is "
        "`reserved`. A spec without a timezone gets the tenant's default zone written in, if "
        "the tenant set one. Recipients and allowed volume as on the channel.",
    ),
    _Message(
        UpdateSchedule,
        "Change some fields of a schedule.",
        "A field given replaces the schedule's, null clears it, a field not given stays."
        + _EDITS
        + " The schedule that results must be a valid ScheduleSpec as a whole, its "
        "rules applied to it, errors under `changes.`: leaving `weekly` needs "
        '`"weekday": null`, leaving `custom` `"cron": null, "window": null`.',
    ),
    _Message(EnableSchedule, "Let a schedule fire again.", _EDITS.lstrip()),
    _Message(DisableSchedule, "Stop a schedule firing.", _EDITS.lstrip()),
    _Message(
        DeleteSchedule,
        "Delete a schedule.",
        "Its id is not used again (a CreateSchedule on it is `exists`)." + _EDITS,
    ),
    _Message(
        RunNow,
        "Send a schedule's report now, once.",
        "A run outside the calendar, for the data window a firing now would have; the "
        "reply's `run_id` names it, and a repeated RunNow is the same run.\n\nRules: the "
        "tenant has a schedule of this id (`not_found`).",
    ),
    _Message(
        SendTestEmail,
        "Check the tenant's SMTP settings with a small test email.",
        "A small CSV of the previous day goes through renderer and mailer like any run; "
        "`schedule_id` is any id naming the test (no schedule needed). The reply's `run_id` "
        "names the run; its DeliveryStatus (`test: true`) says per recipient where the SMTP "
        "exchange ended.",
    ),
    _Message(
        ChangeTenantSettings,
        "Set or reset sections of the tenant's settings.",
        "Sections not named stay as they are; `reset` drops a section back to the server's "
        "defaults.\n\nRules: `expected_version`, when given, is the settings' version, 0 for a "
        "tenant without settings (`version_conflict`); `keep_password` needs a stored "
        "password (`no_password`); a password needs a username (`missing` on "
        "`email.username`); a logo upload must be the image its `content_type` says "
        "(`value_error` on `branding.logo_upload`).",
    ),
)
_REPLIES = (
    _Message(
        CommandAccepted,
        "A command was applied.",
        "The reply to an applied command (or to a repeat of it: the same reply again). "
        "`version`: the schedule's or settings' version after it (null for DeleteSchedule "
        "and SendTestEmail); `next_run_at`: the next firing; `run_id`: RunNow's and "
        "SendTestEmail's run; `warnings`: accepted all the same (`volume_over_allowed`).",
    ),
    _Message(
        CommandRejected,
        "A command was refused, field by field.",
        "Nothing was applied, and nothing kept: the same command sent again is judged "
        "anew. `command_id` is null when the command had no usable one (then an error "
        "names `command_id`).",
    ),
)
_EVENTS = (
    *_REPLIES,
    _Message(
        ScheduleChanged,
        "A schedule's full new state.",
        "After an accepted CreateSchedule, UpdateSchedule, EnableSchedule, DisableSchedule "
        "or DeleteSchedule, before its CommandAccepted; `spec` null and `version` 0 once "
        "deleted.",
    ),
    _Message(
        TenantSettingsChanged,
        "The audit record of a settings change.",
        "The tenant's new settings after an accepted ChangeTenantSettings, never a secret: "
        "of the password only `password_key_id`, the key it is sealed for.",
    ),
)

_COMMANDS_CHANNEL = _Channel(
    "scheduleCommands",
    _TOPICS.commands,
    "Commands from platform services.",
    _COMMAND_RULES,
    _COMMANDS,
    "schedule_id",
    _COMMAND_KEY,
    "CommandHeaders",
    _SEND_COMMAND,
)
_EVENTS_CHANNEL = "scheduleEvents"
#: Everything Herald writes, the dead letters aside.
_HERALD_CHANNELS = (
    _Channel(
        _EVENTS_CHANNEL,
        _TOPICS.schedule_events,
        "The scheduler's replies, and the changes they made.",
        "One CommandAccepted or CommandRejected per command, after the ScheduleChanged or "
        "TenantSettingsChanged of an accepted change. Match replies by `command_id`.",
        _EVENTS,
        "schedule_id",
        _KEYED_BY_SCHEDULE,
        "HeraldHeaders",
        "Replies and changes; written by the scheduler.",
    ),
    _Channel(
        "reportDue",
        _TOPICS.report_due,
        "Runs to render.",
        "A firing, a RunNow, a test email, a retry or a stuck run fired again (the same "
        "`run_id`, the next `attempt`).",
        (_Message(ReportDue, "A run to render."),),
        "schedule_id",
        _KEYED_BY_SCHEDULE,
        "HeraldHeaders",
        "Written by the scheduler, read by the renderer.",
    ),
    _Channel(
        "reportRendered",
        _TOPICS.report_rendered,
        "Rendered runs.",
        "A run's report rendered into GridFS (bucket `artifacts`), for the mailer.",
        (_Message(ReportRendered, "A run's rendered report."),),
        "schedule_id",
        _KEYED_BY_SCHEDULE,
        "HeraldHeaders",
        "Written by the renderer, read by the mailer.",
    ),
    _Channel(
        "deliveryStatus",
        _TOPICS.delivery_status,
        "The audit log: every status of every run.",
        "Every transition of every run (due, rendered, pending_retry, delivered, failed, "
        "skipped, skipped_empty) from the stage that made it; retained for good, never "
        "compacted. A run's history is a function of the set of its events.",
        (_Message(DeliveryStatus, "One transition of a run."),),
        "schedule_id",
        _KEYED_BY_SCHEDULE,
        "HeraldHeaders",
        "Written by all three services; the scheduler projects it into the run history.",
        {"cleanup.policy": ["delete"], "retention.ms": -1, "retention.bytes": -1},
    ),
    _Channel(
        "tenantSettings",
        _TOPICS.tenant_settings,
        "Each tenant's whole settings, latest wins.",
        "Compacted and keyed by tenant, so compaction keeps each tenant's latest settings; "
        "the SMTP password in them sealed. Herald writes no tombstones.",
        (_Message(TenantSettings, "A tenant's whole settings."),),
        "tenant_id",
        "The message's `tenant_id` as UTF-8 bytes, no framing: compaction keeps each "
        "tenant's latest.",
        "HeraldHeaders",
        "Written by the scheduler; the renderer and the mailer read it whole.",
        {"cleanup.policy": ["compact"], "retention.ms": -1},
    ),
)

_DEAD_LETTERS = f"""\
Records a Herald consumer could not parse or process, from any topic it reads: the
original key and value, byte for byte, and the error in headers. The partition moves on.
Among them the commands that get no reply: not JSON, not a JSON object, or without a
usable `tenant_id` or `schedule_id`. `{ORIGIN_HEADER}` says where each record was.
"""
_DEAD_LETTER_HEADERS: Document = {
    "type": "object",
    "description": "The original record's headers (values decoded as UTF-8, bytes that are "
    "not escaped with backslashes, a null value empty), with the error's.",
    "required": [ERROR_HEADER, ERROR_TYPE_HEADER, ORIGIN_HEADER],
    "properties": {
        ERROR_HEADER: {
            "type": "string",
            "maxLength": 2000,
            "description": "The error's message, its whitespace collapsed, cut at 2000 characters.",
        },
        ERROR_TYPE_HEADER: {
            "type": "string",
            "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
            "description": "The error's class: `PoisonMessage` for bytes no handler can "
            "take (a command not JSON, not an object, or without a tenant or schedule to "
            "answer to), `ValidationError` for a message that does not match its schema, "
            "else what the handler raised.",
        },
        ORIGIN_HEADER: {
            "type": "string",
            "pattern": "^.+/[0-9]+@[0-9]+$",
            "description": "Where the record was: `<topic>/<partition>@<offset>`.",
        },
    },
    "additionalProperties": {"type": "string"},
}
_HEADER_SCHEMAS: dict[str, Document] = {
    "CommandHeaders": {
        "type": "object",
        "description": "Herald reads none of them (with tracing on, the W3C trace context).",
        "properties": {
            "content-type": {"type": "string", "examples": ["application/json"]},
            "traceparent": {"type": "string", "description": "W3C trace context, optional."},
        },
        "additionalProperties": {"type": "string"},
    },
    "HeraldHeaders": {
        "type": "object",
        "required": ["content-type"],
        "properties": {
            "content-type": {"const": "application/json"},
            "correlation_id": {
                "type": "string",
                "description": "The Kafka library's own random id of the record, on most "
                "records. Not the command correlation: that is the payload's `command_id` "
                "(replies) and `correlation_id` (effects).",
            },
            "traceparent": {"type": "string", "description": "W3C trace context (tracing on)."},
            "tracestate": {"type": "string", "description": "W3C trace context (tracing on)."},
        },
        "additionalProperties": {"type": "string"},
    },
    "DeadLetterHeaders": _DEAD_LETTER_HEADERS,
}
_CORRELATIONS: dict[str, Document] = {
    "commandId": {
        "location": "$message.payload#/command_id",
        "description": "The command's `command_id`, which its reply carries back.",
    },
    "causedBy": {
        "location": "$message.payload#/correlation_id",
        "description": "The `command_id` of the command that caused the message, if one did.",
    },
}


_CHANNELS = (_COMMANDS_CHANNEL, *_HERALD_CHANNELS)
#: Messages correlated by their own `command_id`, the others by the cause's.
_BY_COMMAND_ID = {m.model for m in (*_COMMANDS, *_REPLIES)}


def _names(messages: tuple[_Message, ...]) -> list[str]:
    return [m.model.__name__ for m in messages]


def _schemas() -> Document:
    """The models' JSON Schema, their `$defs` as the document's components."""
    _, top = models_json_schema(
        [(m.model, "validation") for channel in _CHANNELS for m in channel.messages],
        ref_template=_SCHEMAS + "{model}",
    )
    return dict(top["$defs"]) | _HEADER_SCHEMAS


def _key(channel: _Channel, shown: list[Example]) -> Document:
    schema: Document = TypeAdapter(Identifier).json_schema()
    return schema | {
        "description": channel.key_description,
        "x-herald-key-location": f"$message.payload#/{channel.key_field}",
        "examples": sorted({example["payload"][channel.key_field] for example in shown}),
    }


def _message(channel: _Channel, message: _Message, shown: list[Example]) -> Document:
    name = message.model.__name__
    correlation = "commandId" if message.model in _BY_COMMAND_ID else "causedBy"
    described = {"description": message.description} if message.description else {}
    return {
        "name": name,
        "title": name,
        "summary": message.summary,
        **described,
        "contentType": "application/json",
        "headers": {"$ref": _SCHEMAS + channel.headers},
        "payload": {"$ref": _SCHEMAS + name},
        "correlationId": {"$ref": f"#/components/correlationIds/{correlation}"},
        "bindings": {"kafka": {"key": _key(channel, shown), "bindingVersion": _KAFKA_BINDING}},
        "examples": shown,
    }


def _dead_letter(shown: list[Example]) -> Document:
    return {
        "name": _DEAD_LETTER,
        "title": _DEAD_LETTER,
        "summary": "A record no consumer could take, as it was.",
        "contentType": "application/octet-stream",
        "headers": {"$ref": _SCHEMAS + "DeadLetterHeaders"},
        "payload": {
            "type": "string",
            "format": "binary",
            "description": "The original record's value, byte for byte (empty if it had none).",
        },
        "bindings": {
            "kafka": {
                "key": {
                    "description": "The original record's key, byte for byte: absent if it "
                    "had none, and not necessarily UTF-8.",
                },
                "bindingVersion": _KAFKA_BINDING,
            }
        },
        "examples": shown,
    }


def _channel(
    address: str, summary: str, description: str, names: list[str], config: Document | None
) -> Document:
    document: Document = {
        "address": address,
        "title": address.removeprefix("{prefix}."),
        "summary": summary,
        "description": description,
        "parameters": {"prefix": {"$ref": "#/components/parameters/prefix"}},
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
    }
    if config is not None:
        document["bindings"] = {
            "kafka": {"topicConfiguration": config, "bindingVersion": _KAFKA_BINDING}
        }
    return document


def _in_channel(channel_id: str, names: list[str]) -> Document:
    return {
        "channel": {"$ref": f"#/channels/{channel_id}"},
        "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"} for name in names],
    }


def _receive(channel_id: str, names: list[str], description: str) -> Document:
    operation = {"action": "receive", "description": description}
    return {
        f"receive{channel_id[0].upper()}{channel_id[1:]}": operation
        | _in_channel(channel_id, names)
    }


def document() -> Document:
    """The AsyncAPI document as data."""
    shown = examples()
    commands = _COMMANDS_CHANNEL
    channels = {
        c.id: _channel(c.address, c.summary, c.description, _names(c.messages), c.config)
        for c in _CHANNELS
    } | {
        "deadLetters": _channel(
            _TOPICS.dlq,
            "Dead letters: what no Herald consumer could take.",
            _DEAD_LETTERS,
            [_DEAD_LETTER],
            None,
        )
    }
    operations: Document = {
        "sendCommand": {
            "action": "send",
            "title": "Send a command, await its reply",
            "description": commands.operation,
            **_in_channel(commands.id, _names(commands.messages)),
            "reply": _in_channel(_EVENTS_CHANNEL, _names(_REPLIES)),
        }
    }
    for c in _HERALD_CHANNELS:
        operations |= _receive(c.id, _names(c.messages), c.operation)
    operations |= _receive("deadLetters", [_DEAD_LETTER], "Written by every Herald consumer.")
    messages = {
        m.model.__name__: _message(c, m, shown[m.model.__name__])
        for c in _CHANNELS
        for m in c.messages
    } | {_DEAD_LETTER: _dead_letter(shown[_DEAD_LETTER])}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Herald", "version": str(SCHEMA_VERSION), "description": _INFO},
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "Herald's Kafka cluster (HERALD_KAFKA__BOOTSTRAP_SERVERS, "
                "security per HERALD_KAFKA__SECURITY_PROTOCOL). Herald creates its topics "
                "(HERALD_KAFKA__PARTITIONS partitions, 6 by default).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": dict(sorted(_schemas().items())),
            "messages": dict(sorted(messages.items())),
            "parameters": {
                "prefix": {
                    "default": "herald",
                    "description": "The deployment's topic prefix "
                    "(HERALD_KAFKA__TOPIC_PREFIX): topics are `<prefix>.<name>`.",
                    "examples": ["herald"],
                }
            },
            "correlationIds": _CORRELATIONS,
        },
    }


class _Dumper(yaml.SafeDumper):
    """Block style, but lists of plain values on one line and long text as literal blocks;
    a value shown twice is written twice, never as a YAML alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = not any(isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", data, style="|" if "\n" in data else None
    )


_Dumper.add_representer(list, _list)
_Dumper.add_representer(str, _text)


def render() -> str:
    """The document as YAML: what `docs/asyncapi.yaml` holds."""
    return yaml.dump(document(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
