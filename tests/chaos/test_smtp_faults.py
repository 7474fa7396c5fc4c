"""The SMTP server answers 421/451 to a tenth of the messages, and is down for two minutes.

Refused messages and the outage send runs to `pending_retry`; retries send
only to the recipients not yet accepted. When the server is back, every run
ends delivered, each recipient with exactly one email.
"""

from __future__ import annotations

import math

import pytest

from herald.shared.runtime.settings import RetrySettings
from tests.chaos.config import ChaosConfig
from tests.chaos.conftest import OpenScenario
from tests.chaos.faults import outage

CONFIG = ChaosConfig.from_env()
#: Fraction of delivery attempts answered 421 or 451.
FLAKY = 0.1


def rounds_of_refusals(recipients: int, flaky: float) -> int:
    """Retry rounds after which no recipient is refused any more, but for a 1 % chance."""
    return math.ceil(math.log(recipients / 0.01) / math.log(1 / flaky))


pytestmark = [
    pytest.mark.chaos,
    pytest.mark.timeout(CONFIG.timeout_s(CONFIG.smtp_down_s * CONFIG.faults)),
]


async def test_an_smtp_outage_and_transient_refusals_end_in_one_email_each(
    open_chaos: OpenScenario,
) -> None:
    # 2 s doubling to 20 s: about eight attempts span each outage (twelve are allowed), eight
    # more are for the refusals after it; the wait after the server is back stays short.
    attempts = 8 + 12 * CONFIG.faults
    scenario = await open_chaos(
        "smtp-faults", retry=RetrySettings(base_s=2, cap_s=20, max_attempts=attempts)
    )
    scenario.sink.flaky = FLAKY
    fault = outage(lambda s: s.sink, "SMTP server", lambda s: s.config.smtp_down_s)
    # After the last outage each run is tried once more, then refused ones again.
    recipients = 2 * scenario.config.runs
    outcome = await scenario.run(fault, retry_rounds=1 + rounds_of_refusals(recipients, FLAKY))
    assert not outcome.problems(), "\n".join(outcome.problems())
    assert scenario.sink.record().refused > 0, "the server refused nothing: no 4xx was tested"
