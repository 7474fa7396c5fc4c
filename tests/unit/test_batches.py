"""A batch handled many at once: keys in order, outages retried in place, poison out."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from pymongo.errors import AutoReconnect

from herald.shared.runtime.batches import BatchRunner, lanes, subscribe_concurrently
from herald.shared.runtime.kafka import TRICKLE_MIN_BYTES, TRICKLE_WAIT_MS, Record


def _record(offset: int, key: str | None, value: str) -> Record:
    return ConsumerRecord(
        topic="t",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key.encode() if key is not None else None,
        value=value.encode(),
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=[],
    )


def _batch(*pairs: tuple[str | None, str]) -> list[Record]:
    return [_record(n, key, value) for n, (key, value) in enumerate(pairs)]


def test_lanes_keep_each_keys_order_and_put_keyless_records_alone() -> None:
    batch = _batch(("a", "a1"), ("b", "b1"), (None, "x"), ("a", "a2"), (None, "y"), ("b", "b2"))
    assert [[r.value for r in lane] for lane in lanes(batch)] == [
        [b"a1", b"a2"],
        [b"b1", b"b2"],
        [b"x"],
        [b"y"],
    ]


class _Recorder:
    """A handler that takes its time, noting starts, ends and how many ran at once."""

    def __init__(self) -> None:
        self.started: list[bytes] = []
        self.finished: list[bytes] = []
        self.running = 0
        self.most = 0
        self.poisoned: list[tuple[bytes, str]] = []

    async def handle(self, raw: bytes) -> None:
        self.started.append(raw)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(5 if raw.startswith(b"slow") else 0.01)
            if raw.startswith(b"bad"):
                raise ValueError(f"cannot handle {raw.decode()}")
        finally:
            self.running -= 1
        self.finished.append(raw)

    async def poison(self, record: Record, exc: Exception) -> None:
        self.poisoned.append((record.value or b"", str(exc)))


async def test_keys_run_side_by_side_up_to_the_limit_each_in_order() -> None:
    seen = _Recorder()
    batch = _batch(*((f"k{n % 6}", f"k{n % 6}-{n // 6}") for n in range(36)))
    await BatchRunner(seen.handle, seen.poison, limit=4, service="tests").run(batch)
    assert seen.most == 4
    assert sorted(seen.finished) == sorted(r.value for r in batch)
    for key in range(6):
        mine = [v for v in seen.started if v.startswith(f"k{key}-".encode())]
        assert mine == [f"k{key}-{n}".encode() for n in range(6)]


async def test_an_outage_retries_only_the_record_that_hit_it() -> None:
    seen = _Recorder()
    outages = [AutoReconnect("database away"), ConnectionError("broker away")]

    async def flaky(raw: bytes) -> None:
        if raw == b"b1" and outages:
            raise outages.pop()
        await seen.handle(raw)

    await BatchRunner(flaky, seen.poison, limit=8, service="tests", pause_s=0).run(
        _batch(("a", "a1"), ("b", "b1"), ("b", "b2"), ("c", "c1"))
    )
    assert sorted(seen.finished) == [b"a1", b"b1", b"b2", b"c1"]  # each once
    assert seen.finished.index(b"b1") < seen.finished.index(b"b2")
    assert seen.poisoned == []


async def test_a_record_that_can_never_be_handled_is_poisoned_and_the_lane_goes_on() -> None:
    seen = _Recorder()
    await BatchRunner(seen.handle, seen.poison, limit=2, service="tests").run(
        _batch(("a", "a1"), ("a", "bad-a2"), ("a", "a3"), ("b", "b1"))
    )
    assert seen.poisoned == [(b"bad-a2", "cannot handle bad-a2")]
    assert sorted(seen.finished) == [b"a1", b"a3", b"b1"]


async def test_a_failing_dead_letter_fails_the_batch_with_its_error_and_stops_the_rest() -> None:
    """The subscriber's middleware must see the outage itself to read the batch again."""
    seen = _Recorder()

    async def dlq_down(record: Record, exc: Exception) -> None:
        raise ConnectionError("broker away")

    with pytest.raises(ConnectionError, match="broker away"):
        await BatchRunner(seen.handle, dlq_down, limit=4, service="tests").run(
            _batch(("a", "bad-a1"), *((f"k{n}", f"slow-{n}") for n in range(3)))
        )
    assert seen.running == 0  # cancelled: nothing left running beside the re-read
    assert seen.finished == []


def test_the_broker_hands_over_records_that_trickle_in_a_few_at_a_time() -> None:
    """A rendered run every 60 ms is a batch of several for the mailer, not of one each."""

    async def handle(value: bytes) -> None: ...

    broker = KafkaBroker()
    subscribe_concurrently(
        broker, "t", service="s", group_id="g", dlq="dlq", limit=4, handle=handle
    )
    (subscriber,) = broker.subscribers
    options = subscriber._connection_args  # the options FastStream gives aiokafka
    assert options["fetch_min_bytes"] == TRICKLE_MIN_BYTES
    assert options["fetch_max_wait_ms"] == TRICKLE_WAIT_MS
