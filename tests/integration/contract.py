"""One set of a port's promises, run on its adapter (on the real database) and on its fake.

A fake that drifts from its adapter makes the unit tests built on it lie, so
each contract module parametrizes its port's fixture with `SIDES` and builds
the adapter or the fake from `database(request)`. A promise that fails on one
side only is a finding: the fake is fixed to match the adapter.
"""

from __future__ import annotations

from typing import Final

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.shared.runtime.mongo import Document

ADAPTER: Final = "adapter"
FAKE: Final = "fake"
#: The params of a port's fixture: its adapter first, then its fake.
SIDES: Final = (ADAPTER, FAKE)


def database(request: pytest.FixtureRequest) -> AsyncDatabase[Document] | None:
    """A fresh database for the adapter's run; None for the fake's, which needs no server."""
    if request.param != ADAPTER:
        return None
    db: AsyncDatabase[Document] = request.getfixturevalue("db")
    return db
