"""Consumer group rebalances with work in flight: renderer and mailer replicas come and go.

Replicas are added (joining their group takes partitions from the others)
and removed with SIGTERM (their partitions move on after the grace period)
while the herd is being rendered and mailed. No message is lost in a
hand-over and none is sent twice.
"""

from __future__ import annotations

import pytest

from tests.chaos.config import ChaosConfig
from tests.chaos.conftest import OpenScenario
from tests.chaos.faults import rebalance

CONFIG = ChaosConfig.from_env()
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(CONFIG.timeout_s())]


async def test_rebalances_mid_herd_lose_nothing_and_send_nothing_twice(
    open_chaos: OpenScenario,
) -> None:
    scenario = await open_chaos("rebalance")
    outcome = await scenario.run(rebalance, replicas={"scheduler": 2, "renderer": 1, "mailer": 1})
    assert not outcome.problems(), "\n".join(outcome.problems())
