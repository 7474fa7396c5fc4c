"""docs/asyncapi.yaml: current, complete, and as strict as the services where it can be.

The document is generated (`make asyncapi`); these tests hold it to the models and
the scheduler. tests/integration/test_asyncapi_parser.py runs the official parser on
it, tests/e2e/test_contract_traffic.py holds real traffic to it.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable
from typing import Any, get_args

import pytest
from pydantic import ValidationError
from pydantic_core.core_schema import ErrorType

from herald.shared.contract import asyncapi
from herald.shared.contract.messages import COMMAND_ADAPTER
from herald.shared.contract.rejections import HERALD_CODES, VALIDATION_CODES
from herald.shared.contract.topics import ERROR_HEADER, ERROR_TYPE_HEADER, ORIGIN_HEADER, Topics
from tests import asyncapi_document as doc
from tests.infra import REPO

Payload = dict[str, Any]


def test_the_committed_document_is_up_to_date() -> None:
    assert asyncapi.render() == doc.PATH.read_text(), (
        "docs/asyncapi.yaml is stale: run `make asyncapi` and commit the result"
    )


def test_every_topic_is_a_channel_with_the_prefix_as_its_parameter() -> None:
    channels = doc.document()["channels"].values()
    assert {c["address"].replace("{prefix}", "herald") for c in channels} == set(
        Topics("herald").all()
    )
    for channel in channels:
        assert channel["address"].startswith("{prefix}.")
        assert channel["parameters"] == {"prefix": {"$ref": "#/components/parameters/prefix"}}
    assert doc.document()["components"]["parameters"]["prefix"]["default"] == "herald"


def test_every_message_names_its_key() -> None:
    for channel in doc.document()["channels"].values():
        for name in doc.message_names(channel):
            expected = {"tenant.settings": "tenant_id", "dlq": None}.get(
                channel["title"], "schedule_id"
            )
            assert doc.key_location(name) == expected, name


def test_commands_are_requests_whose_replies_carry_their_command_id() -> None:
    document = doc.document()
    send = document["operations"]["sendCommand"]
    assert send["action"] == "send"
    assert send["channel"] == {"$ref": "#/channels/scheduleCommands"}
    assert send["reply"] == {
        "channel": {"$ref": "#/channels/scheduleEvents"},
        "messages": [
            {"$ref": "#/channels/scheduleEvents/messages/CommandAccepted"},
            {"$ref": "#/channels/scheduleEvents/messages/CommandRejected"},
        ],
    }
    messages = document["components"]["messages"]
    commands = doc.message_names(document["channels"]["scheduleCommands"])
    for name in [*commands, "CommandAccepted", "CommandRejected"]:
        correlation = messages[name]["correlationId"]["$ref"].rsplit("/", 1)[1]
        location = document["components"]["correlationIds"][correlation]["location"]
        assert location == "$message.payload#/command_id", name
    assert "command_id" in document["components"]["schemas"]["CreateSchedule"]["required"]


def test_the_dead_letters_headers_are_documented() -> None:
    headers = doc.document()["components"]["schemas"]["DeadLetterHeaders"]
    assert headers["required"] == [ERROR_HEADER, ERROR_TYPE_HEADER, ORIGIN_HEADER]
    assert all(headers["properties"][h]["description"] for h in headers["required"])


def _examples() -> list[Any]:
    messages = doc.document()["components"]["messages"]
    return [
        pytest.param(name, example, id=f"{name}-{example['name']}")
        for name, message in messages.items()
        for example in message["examples"]
    ]


@pytest.mark.parametrize(("message", "example"), _examples())
def test_every_example_matches_its_message(message: str, example: dict[str, Any]) -> None:
    pointer = f"#/components/messages/{message}"
    assert doc.problems(f"{pointer}/payload", example["payload"]) == []
    assert doc.problems(f"{pointer}/headers", example["headers"]) == []
    key = doc.document()["components"]["messages"][message]["bindings"]["kafka"]["key"]
    for shown in key.get("examples", []):
        assert doc.problems(f"{pointer}/bindings/kafka/key", shown) == []


def _create() -> Payload:
    example = doc.document()["components"]["messages"]["CreateSchedule"]["examples"][0]
    payload: Payload = copy.deepcopy(example["payload"])
    return payload


def _spec(**changes: Any) -> Callable[[Payload], None]:
    """A change to the example's spec: a value, or a field removed when given None."""

    def change(command: Payload) -> None:
        for field, value in changes.items():
            if value is None:
                del command["spec"][field]
            else:
                command["spec"][field] = value

    return change


def _no_command_id(command: Payload) -> None:
    del command["command_id"]


_CUSTOM = {"frequency": "custom", "weekday": None, "window": {"kind": "previous_day"}}
#: Commands the scheduler refuses that the document's schema refuses too.
MALFORMED = {
    "unknown time zone": _spec(timezone="Europe/Atlantis"),
    "not an email address": _spec(recipients=["ops@acme.example.com", "not-an-address"]),
    "a mail domain without a dot": _spec(recipients=["ops@localhost"]),
    "unknown standard report": _spec(report={"kind": "standard", "id": "campaign_sumary"}),
    "the test report in a schedule": _spec(report={"kind": "test", "id": "delivery_test"}),
    "weekly without weekday": _spec(weekday=None),
    "daily with a weekday": _spec(frequency="daily"),
    "custom without cron": _spec(**_CUSTOM),
    "custom without window": _spec(**_CUSTOM | {"window": None, "cron": "0 8 * * 1-5"}),
    "cron with seconds": _spec(**_CUSTOM | {"cron": "0 0 8 * * *"}),
    "a count window without n": _spec(
        **_CUSTOM | {"cron": "0 8 * * *", "window": {"kind": "last_days"}}
    ),
    "a filter the report refuses": _spec(
        report={"kind": "standard", "id": "list_penetration"}, filters={"agent_ids": ["a-7"]}
    ),
    "a line break in the name": _spec(name="Weekly\nbrief"),
    "a time of day past midnight": _spec(time_of_day="24:30"),
    # Lax, 800 was 00:13:20, an offset broke every tick of a daylight-saving day, and
    # seconds fired up to 59 s early: a time of day is HH:MM text in the schedule's zone.
    "a time of day as a number": _spec(time_of_day=800),
    "a time of day with an offset": _spec(time_of_day="02:30Z"),
    "a time of day with seconds": _spec(time_of_day="08:00:45"),
    "a weekday as text": _spec(weekday="2"),
    "a boolean as text": _spec(skip_if_empty="yes"),
    "seconds as text": _spec(catch_up_seconds="3600"),
    "no command_id": _no_command_id,
}


def test_the_example_passes_both_the_schema_and_the_scheduler() -> None:
    command = _create()
    assert doc.problems("#/components/schemas/CreateSchedule", command) == []
    COMMAND_ADAPTER.validate_python(command)


@pytest.mark.parametrize("broken", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_command_is_refused_by_the_schema_as_by_the_scheduler(
    broken: Callable[[Payload], None],
) -> None:
    command = _create()
    broken(command)
    assert doc.problems("#/components/schemas/CreateSchedule", command) != []
    with pytest.raises(ValidationError):
        COMMAND_ADAPTER.validate_python(command)


def _scheduler_codes() -> set[str]:
    """Every code literal in the scheduler: `code="..."`, and `_reject(..., "code")`."""
    codes: set[str] = set()
    for path in sorted((REPO / "services" / "scheduler").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            arguments = [k.value for k in node.keywords if k.arg == "code"]
            called = getattr(node.func, "id", getattr(node.func, "attr", None))
            if called == "_reject" and node.args:
                arguments.append(node.args[-1])
            codes |= {
                a.value
                for a in arguments
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            }
    return codes


def test_every_rejection_code_is_documented_and_every_documented_one_used() -> None:
    code = doc.document()["components"]["schemas"]["FieldError"]["properties"]["code"]
    used = _scheduler_codes()
    assert used - set(code["enum"]) == set(), "a code of the scheduler's is not documented"
    assert set(HERALD_CODES) - used == set(), "a documented code is no longer used"
    assert set(get_args(ErrorType)) <= set(code["enum"])
    assert set(VALIDATION_CODES) <= set(get_args(ErrorType))
    for meaning in (*HERALD_CODES, *VALIDATION_CODES):
        assert f"`{meaning}`" in code["description"]
