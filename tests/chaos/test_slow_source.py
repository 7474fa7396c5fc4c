"""A platform report endpoint too slow for some reports (Herald's HTTP report source).

One report in fifteen answers in time only from its fourth request on: the first
attempt's two fetches time out, the run goes `pending_retry`, and the second
attempt delivers it. One in fifty never answers in time: those runs end
`failed`, their reason naming the timeout, after their three attempts. No
email goes out for them; every other run is delivered once per recipient.
"""

from __future__ import annotations

import pytest

from herald.shared.contract.messages import RunStatus
from herald.shared.runtime.settings import (
    HttpSourceSettings,
    ReportSettings,
    ReportSourceKind,
    RetrySettings,
)
from tests.chaos.config import ChaosConfig
from tests.chaos.conftest import OpenScenario
from tests.chaos.herd import Expected
from tests.chaos.report_service import SlowReports, serving
from tests.chaos.scenario import Scenario

CONFIG = ChaosConfig.from_env()
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(CONFIG.timeout_s())]

TIMEOUT_S = 0.5


def _slow_first(n: int) -> bool:
    return n % 15 == 3


def _always_slow(n: int) -> bool:
    return n % 50 == 7


def expect(n: int) -> Expected:
    if _always_slow(n):
        return Expected(RunStatus.FAILED, f"no complete answer within {TIMEOUT_S:g} s")
    return Expected()


async def nothing_more(scenario: Scenario) -> None:
    """The slowness is the fault."""


async def test_slow_reports_are_retried_and_hopeless_ones_fail_with_their_reason(
    open_chaos: OpenScenario,
) -> None:
    reports = SlowReports(delay_s=TIMEOUT_S * 3)
    with serving(reports) as url:
        scenario = await open_chaos(
            "slow-source",
            reports=ReportSettings(
                source=ReportSourceKind.HTTP,
                http=HttpSourceSettings(url=url, timeout_s=TIMEOUT_S, retries=1, retry_base_s=0.2),
            ),
            retry=RetrySettings(base_s=1, cap_s=4, max_attempts=3),
        )
        for n in range(scenario.config.runs):
            if _slow_first(n):
                reports.slow_first[f"c{n:05d}"] = 3
            if _always_slow(n):
                reports.always_slow.add(f"c{n:05d}")
        outcome = await scenario.run(nothing_more, expect=expect, campaign_filters=True)
    assert not outcome.problems(), "\n".join(outcome.problems())
    assert outcome.by_status[RunStatus.FAILED.value] == len(reports.always_slow)
    retried = [c for c in reports.slow_first if reports.requests[c] >= 4]
    assert len(retried) == len(reports.slow_first), "some slow reports were never asked again"
