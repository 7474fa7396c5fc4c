"""SIGKILL of random scheduler, renderer and mailer replicas while a herd is in flight.

Each victim is replaced by a fresh replica. The dead one's uncommitted
messages go to the survivors, its leases expire, its half-done work is done
again; still every run ends delivered and every recipient gets one email.
"""

from __future__ import annotations

import pytest

from tests.chaos.config import ChaosConfig
from tests.chaos.conftest import OpenScenario
from tests.chaos.faults import kill_replicas

CONFIG = ChaosConfig.from_env()
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(CONFIG.timeout_s())]


async def test_killed_replicas_lose_nothing_and_send_nothing_twice(
    open_chaos: OpenScenario,
) -> None:
    scenario = await open_chaos("replica-kills")
    outcome = await scenario.run(kill_replicas)
    assert not outcome.problems(), "\n".join(outcome.problems())
