"""The Kafka broker, then FerretDB, stopped mid-herd and started again on the same data.

While a server is away every service keeps running: a handler that meets the
outage leaves its message uncommitted and reads it again; the scheduler's
ticker tries again at its next tick. After the server is back, every run
ends delivered with exactly one email per recipient, and the history still
equals the event log.
"""

from __future__ import annotations

import pytest

from tests.chaos.config import ChaosConfig
from tests.chaos.conftest import OpenScenario
from tests.chaos.faults import outage

CONFIG = ChaosConfig.from_env()
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(CONFIG.timeout_s())]

#: Long enough for every service to notice (server selection gives up after 5 s).
DOWN_S = 15.0


async def test_a_kafka_outage_mid_herd_loses_nothing(open_chaos: OpenScenario) -> None:
    scenario = await open_chaos("kafka-outage")
    fault = outage(lambda s: s.cluster.kafka, "Kafka broker", lambda _: DOWN_S)
    outcome = await scenario.run(fault)
    assert not outcome.problems(), "\n".join(outcome.problems())


async def test_a_ferretdb_outage_mid_herd_loses_nothing(open_chaos: OpenScenario) -> None:
    scenario = await open_chaos("ferretdb-outage")
    fault = outage(lambda s: s.cluster.ferretdb, "FerretDB", lambda _: DOWN_S)
    outcome = await scenario.run(fault)
    assert not outcome.problems(), "\n".join(outcome.problems())
