"""Every message type as JSON, per schema version, decoded by the current code.

`tests/corpus/v<schema_version>/<type>.json` were written by the release
that introduced them and are never rewritten: a field removed or renamed, a
format changed, fails here before it reaches a rolling upgrade. A new
message type needs its file (the last test says so). Events are also read
the way their consumers read them, tolerantly: a newer release's extra
fields are left out, never a reason for the DLQ; commands from the platform
still reject unknown fields, field by field.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from herald.shared.contract import messages
from herald.shared.contract.messages import (
    COMMAND_ADAPTER,
    SCHEDULE_EVENT_ADAPTER,
    CommandRejected,
    DeliveryStatus,
    Envelope,
    ReportDue,
    ReportRendered,
    TenantSettings,
)
from herald.shared.contract.tolerance import TOLERANT
from tests.fakes.scheduler import parse_keyed

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
FILES = sorted(CORPUS.glob("v*/*.json"))
#: How each message is read where it is consumed.
READERS: dict[str, TypeAdapter[Any]] = {
    "ReportDue": TypeAdapter(ReportDue),
    "ReportRendered": TypeAdapter(ReportRendered),
    "DeliveryStatus": TypeAdapter(DeliveryStatus),
    "TenantSettings": TypeAdapter(TenantSettings),
}


def _command_types() -> set[str]:
    (union, *_) = typing.get_args(messages.AnyCommand)
    return {member.__name__ for member in typing.get_args(union)}


def _reader(type_name: str) -> TypeAdapter[Any]:
    if type_name in _command_types():
        return COMMAND_ADAPTER
    return READERS.get(type_name, SCHEDULE_EVENT_ADAPTER)


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _with_extras(value: Any) -> Any:
    """The message as a newer release might write it: an unknown field in every object."""
    if isinstance(value, dict):
        return {k: _with_extras(v) for k, v in value.items()} | {"x_added_later": {"n": 1}}
    if isinstance(value, list):
        return [_with_extras(v) for v in value]
    return value


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_each_message_of_the_corpus_decodes_whole_and_unchanged(path: Path) -> None:
    data = _load(path)
    assert data["type"] == path.stem
    assert f"v{data['schema_version']}" == path.parent.name
    # Strict: a field the code no longer knows (removed, renamed) fails here.
    decoded = _reader(path.stem).validate_python(data)
    # Optional fields added since the file was written are left at their defaults.
    assert json.loads(decoded.model_dump_json(exclude_unset=True)) == data


@pytest.mark.parametrize(
    "path",
    [p for p in FILES if p.stem not in _command_types()],
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_events_are_read_tolerantly_a_newer_releases_fields_left_out(path: Path) -> None:
    data = _load(path)
    decoded = _reader(path.stem).validate_python(_with_extras(data), context=TOLERANT)
    assert json.loads(decoded.model_dump_json(exclude_unset=True)) == data
    raw = json.dumps(_with_extras(data)).encode()
    assert _reader(path.stem).validate_json(raw, context=TOLERANT) == decoded


@pytest.mark.parametrize(
    "path",
    [p for p in FILES if p.stem in _command_types()],
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_commands_still_reject_unknown_fields_field_by_field(path: Path) -> None:
    data = _load(path)
    data["x_added_later"] = 1
    parsed = parse_keyed(json.dumps(data).encode())
    assert isinstance(parsed, CommandRejected)
    assert [(e.field, e.code) for e in parsed.errors] == [("x_added_later", "extra_forbidden")]


def test_every_message_type_has_its_corpus_file() -> None:
    latest = max(FILES, key=lambda p: int(p.parent.name[1:])).parent
    types = {
        cls.__name__
        for cls in vars(messages).values()
        if isinstance(cls, type)
        and issubclass(cls, Envelope)
        and cls not in (Envelope, messages.Command)
        and issubclass(cls, BaseModel)
    }
    assert types == {p.stem for p in latest.glob("*.json")}
