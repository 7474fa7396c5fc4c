"""A start-up step waits out an outage, pausing longer each time, and fails at once otherwise.

tests/integration/test_outages.py shows it on real servers through a proxy.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import InvalidReplicationFactorError, KafkaConnectionError
from pymongo.errors import AutoReconnect, OperationFailure

from herald.shared.runtime.service import StartUp, until_reachable


async def test_an_outage_is_tried_again_pausing_longer_up_to_30_s(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pauses: list[float] = []

    async def no_wait(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", no_wait)
    failures: list[Exception] = [KafkaConnectionError("Unable to bootstrap")] * 2
    failures += [AutoReconnect("mongo:27017: connection refused")] * 5
    tries = 0

    async def step() -> None:
        nonlocal tries
        tries += 1
        if failures:
            raise failures.pop(0)

    await until_reachable(step)

    assert tries == 8
    assert pauses == [1, 2, 4, 8, 16, 30, 30]
    logged = [r.getMessage() for r in caplog.records if r.name == "herald.app"]
    assert logged[0] == (
        "Kafka unreachable at start, trying again in 1 s: "
        "KafkaConnectionError('Unable to bootstrap')"
    )
    assert logged[2] == (
        "MongoDB unreachable at start, trying again in 4 s: "
        "AutoReconnect('mongo:27017: connection refused')"
    )


@pytest.mark.parametrize(
    "error",
    [
        InvalidReplicationFactorError("topic t: 3 replicas, 1 broker"),
        OperationFailure("Authentication failed.", 18),
        ValueError("a bug"),
    ],
)
async def test_what_waiting_cannot_cure_fails_the_start_at_once(error: Exception) -> None:
    tries = 0

    async def step() -> None:
        nonlocal tries
        tries += 1
        raise error

    with pytest.raises(type(error)):
        await until_reachable(step)
    assert tries == 1


async def test_stop_cancels_a_waiting_step_and_the_start_neither_ends_nor_fails() -> None:
    """FastStream's shutdown (`StartUp.stop`, its first hook) runs beside the start: the
    step must not go on to a client the shutdown closes; the start must not end (the
    consumers would start) nor fail (the shutdown would be cut short) until cancelled."""
    waiting, cancelled = asyncio.Event(), asyncio.Event()
    later: list[str] = []

    async def reaching_mongodb() -> None:
        waiting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def next_step() -> None:
        later.append("ran")

    start_up = StartUp([reaching_mongodb, next_step])
    starting = asyncio.create_task(start_up.run())
    await waiting.wait()
    await start_up.stop()
    assert cancelled.is_set()
    await asyncio.sleep(0.05)
    assert not starting.done()
    starting.cancel()  # as FastStream does once its shutdown is done
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert later == []
