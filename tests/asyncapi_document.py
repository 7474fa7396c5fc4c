"""docs/asyncapi.yaml as a platform developer would use it: its schemas as validators.

A schema is named by its JSON pointer in the document (`#/components/schemas/CreateSchedule`,
`#/components/messages/DeadLetter/headers`); its `$ref`s resolve within the document.
Validation is JSON Schema 2020-12 with formats checked (email, uuid, date-time).
"""

from __future__ import annotations

import functools
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.infra import REPO

PATH = REPO / "docs" / "asyncapi.yaml"
_URI = "urn:herald:asyncapi"


@functools.cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(PATH.read_text())
    return loaded


@functools.cache
def validator(pointer: str) -> Draft202012Validator:
    resource = Resource.from_contents(document(), default_specification=DRAFT202012)
    return Draft202012Validator(
        {"$ref": f"{_URI}{pointer}"},
        registry=Registry().with_resource(_URI, resource),
        format_checker=FormatChecker(),
    )


def problems(pointer: str, instance: Any) -> list[str]:
    """Why `instance` does not match the schema at `pointer` (empty: it does)."""
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message[:300]}"
        for error in validator(pointer).iter_errors(instance)
    ]


def message_names(channel: dict[str, Any]) -> list[str]:
    return [str(ref["$ref"]).rsplit("/", 1)[1] for ref in channel["messages"].values()]


def channel_of(topic: str, prefix: str) -> dict[str, Any]:
    """The channel whose address, with the prefix given, is `topic`."""
    channels: dict[str, dict[str, Any]] = document()["channels"]
    (channel,) = [
        channel
        for channel in channels.values()
        if channel["address"].replace("{prefix}", prefix) == topic
    ]
    return channel


def key_location(message: str) -> str | None:
    """The payload field a message's key is (None: the key is not one of its fields)."""
    key = document()["components"]["messages"][message]["bindings"]["kafka"]["key"]
    location: str | None = key.get("x-herald-key-location")
    return location.removeprefix("$message.payload#/") if location else None
