"""Fixtures more than one integration module shares.

The scheduler-command harness: `scheduler`, a scheduler running on fresh
settings (`tests.helpers.running_scheduler`), which a module needing other
settings defines for itself; `herald` and `sdb` follow from it. The report
data: the hand-checked dataset (tests/report_dataset.py) ingested once per
module, and a `MongoSource` over it reading roll-ups or raw calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.client.commands import HeraldClient
from herald.services.renderer.calldata.store import CallStore
from herald.services.renderer.reports.mongo_source import MongoSource
from herald.shared.runtime.mongo import Document, connect, database
from herald.shared.runtime.settings import Settings
from tests.conftest import fresh_settings
from tests.helpers import command_client, running_scheduler
from tests.infra import Endpoints
from tests.report_dataset import BERLIN, dataset


@pytest.fixture(scope="module")
async def scheduler(
    infra: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    settings = fresh_settings(infra)
    async with running_scheduler(settings, tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.fixture(scope="module")
async def herald(scheduler: Settings) -> AsyncIterator[HeraldClient]:
    async with command_client(scheduler, timeout_s=60) as client:
        yield client


@pytest.fixture
async def sdb(scheduler: Settings) -> AsyncIterator[AsyncDatabase[Document]]:
    client = connect(scheduler, "herald-tests")
    yield database(client, scheduler)
    await client.close()


@pytest.fixture(scope="module")
async def data_db(infra: Endpoints) -> AsyncIterator[AsyncDatabase[Document]]:
    """A database of its own holding the dataset, ingested once for the module."""
    settings = fresh_settings(infra)
    client = connect(settings, "herald-tests")
    db = database(client, settings)
    calls, records = dataset()
    store = CallStore(db, BERLIN)
    await store.put(records)
    assert await store.ingest(calls) == len(calls)
    yield db
    await client.drop_database(settings.mongo.database)
    await client.close()


@pytest.fixture(params=[True, False], ids=["rollups", "raw"])
def source(request: pytest.FixtureRequest, data_db: AsyncDatabase[Document]) -> MongoSource:
    return MongoSource(data_db, BERLIN, use_rollups=request.param)
