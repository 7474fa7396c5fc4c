"""The scheduler-command harness: one scheduler process per module, a client, its database.

A module that sends commands defines `scheduler` (its settings, through
`tests.helpers.running_scheduler`); `herald` and `sdb` follow from it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.client.commands import HeraldClient
from herald.shared.runtime.mongo import Document, connect, database
from herald.shared.runtime.settings import Settings
from tests.helpers import command_client


@pytest.fixture(scope="module")
async def herald(scheduler: Settings) -> AsyncIterator[HeraldClient]:
    async with command_client(scheduler, timeout_s=60) as client:
        yield client


@pytest.fixture
async def sdb(scheduler: Settings) -> AsyncIterator[AsyncDatabase[Document]]:
    client = connect(scheduler, "herald-tests")
    yield database(client, scheduler)
    await client.close()
