"""MongoDB commands are counted by name and collection, on every client `connect` builds."""

from __future__ import annotations

from pydantic import SecretStr
from pymongo.monitoring import CommandStartedEvent

from herald.shared.runtime.mongo import CommandCounter, connect
from herald.shared.runtime.settings import MongoSettings, Settings
from tests.helpers import mongo_commands_sent as _sent


def _started(command: dict[str, object], request_id: int) -> CommandStartedEvent:
    return CommandStartedEvent(
        command | {"$db": "herald"}, "herald", request_id, ("127.0.0.1", 27017), request_id
    )


def test_each_started_command_is_counted_under_its_name_and_collection() -> None:
    counter = CommandCounter()
    finds, run_finds, updates = _sent("find"), _sent("find", "runs"), _sent("update", "runs")
    getmores, pings = _sent("getMore", "artifacts.chunks"), _sent("ping", "")
    counter.started(_started({"find": "runs"}, 1))
    counter.started(_started({"find": "schedules"}, 2))
    counter.started(_started({"update": "runs"}, 3))
    counter.started(_started({"getMore": 123, "collection": "artifacts.chunks"}, 4))
    counter.started(_started({"ping": 1}, 5))
    assert _sent("find") == finds + 2
    assert _sent("find", "runs") == run_finds + 1
    assert _sent("update", "runs") == updates + 1
    assert _sent("getMore", "artifacts.chunks") == getmores + 1, "a cursor's collection"
    assert _sent("ping", "") == pings + 1, "a command of no collection"


async def test_clients_from_connect_count_their_commands() -> None:
    # No I/O: the client only connects on its first operation.
    settings = Settings(mongo=MongoSettings(url=SecretStr("mongodb://127.0.0.1:1/")))
    client = connect(settings, "herald-test")
    try:
        listeners = client.options.event_listeners
        assert any(isinstance(listener, CommandCounter) for listener in listeners)
    finally:
        await client.close()
