"""MongoDB commands are counted by name, on every client `connect` builds."""

from __future__ import annotations

from pydantic import SecretStr
from pymongo.monitoring import CommandStartedEvent

from herald.shared.runtime.metrics import REGISTRY
from herald.shared.runtime.mongo import CommandCounter, connect
from herald.shared.runtime.settings import MongoSettings, Settings


def _sent(command: str) -> float:
    value = REGISTRY.get_sample_value("herald_mongo_commands_total", {"command": command})
    return value or 0.0


def _started(name: str, request_id: int) -> CommandStartedEvent:
    return CommandStartedEvent(
        {name: "runs", "$db": "herald"}, "herald", request_id, ("127.0.0.1", 27017), request_id
    )


def test_each_started_command_is_counted_under_its_name() -> None:
    counter = CommandCounter()
    finds, updates = _sent("find"), _sent("update")
    counter.started(_started("find", 1))
    counter.started(_started("find", 2))
    counter.started(_started("update", 3))
    assert _sent("find") == finds + 2
    assert _sent("update") == updates + 1


async def test_clients_from_connect_count_their_commands() -> None:
    # No I/O: the client only connects on its first operation.
    settings = Settings(mongo=MongoSettings(url=SecretStr("mongodb://127.0.0.1:1/")))
    client = connect(settings, "herald-test")
    try:
        listeners = client.options.event_listeners
        assert any(isinstance(listener, CommandCounter) for listener in listeners)
    finally:
        await client.close()
