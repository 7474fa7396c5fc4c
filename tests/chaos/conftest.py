"""Fixtures of the chaos suite: one cluster per session, one scenario per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.cluster import Cluster
from tests.chaos.config import ChaosConfig
from tests.chaos.scenario import TABLES, Scenario, open_scenario
from tests.infra import Endpoints

OpenScenario = Callable[..., Awaitable[Scenario]]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TABLES:
        terminalreporter.section("chaos scenarios")
        for table in TABLES:
            terminalreporter.write_line(table + "\n")


@pytest.fixture(scope="session")
def chaos_config() -> ChaosConfig:
    config = ChaosConfig.from_env()
    print(f"\n[chaos] {config} (repeat with HERALD_CHAOS_SEED={config.seed})", flush=True)
    return config


@pytest.fixture(scope="session")
async def cluster(
    infra: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cluster]:
    """A Kafka broker and a FerretDB of the suite's own (PostgreSQL is the shared one)."""
    started = await Cluster.start(tmp_path_factory.mktemp("chaos-cluster"))
    try:
        yield started
    finally:
        await started.close()


@pytest.fixture
async def open_chaos(
    chaos_config: ChaosConfig, cluster: Cluster, tmp_path: Path
) -> AsyncIterator[OpenScenario]:
    opened: list[Scenario] = []

    async def open_one(name: str, **changes: Any) -> Scenario:
        scenario = await open_scenario(name, chaos_config, cluster, tmp_path / name, **changes)
        opened.append(scenario)
        return scenario

    yield open_one
    for scenario in opened:
        await scenario.close()
        # A scenario that stopped a server and failed before starting it again.
        await cluster.kafka.start()
        await cluster.ferretdb.start()
