"""Fixtures for tests on real infrastructure; unit tests request none of them.

Each test that asks for `settings` gets its own topic prefix and database, so
tests (and concurrent test runs) never see each other's data.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

# Imported at start-up: otherwise Hypothesis's pytest plugin imports it at the end of a run
# without Hypothesis tests, deep in pytest's stack, where CPython 3.11.7 fails to compile
# the assertion-rewritten module ("AST constructor recursion depth mismatch").
import hypothesis  # noqa: F401
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from herald.shared.runtime.kafka import ensure_topics
from herald.shared.runtime.mongo import Document, connect, database
from herald.shared.runtime.settings import (
    KafkaSettings,
    MailerSettings,
    MongoSettings,
    Settings,
    SmtpSettings,
)
from tests.helpers import Mailpit, drop_topics
from tests.infra import Endpoints, endpoints

RUN = uuid.uuid4().hex[:8]
_serial = itertools.count(1)
#: The tests' SMTP servers (aiosmtpd, Mailpit) listen on loopback, tenants' own ones too:
#: the mailer refuses such a tenant's host unless allowed, as a production mailer would.
LOOPBACK = ["127.0.0.0/8", "::1"]


@pytest.fixture(scope="session")
def infra() -> Iterator[Endpoints]:
    with endpoints() as found:
        yield found


def fresh_settings(infra: Endpoints) -> Settings:
    """Settings with a topic prefix and database of their own."""
    name = f"t{RUN}-{next(_serial)}"
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=infra.kafka, topic_prefix=name, partitions=3),
        mongo=MongoSettings(url=infra.mongo_url, database=name.replace("-", "_")),
        smtp=SmtpSettings(host=infra.smtp_host, port=infra.smtp_port),
        mailer=MailerSettings(smtp_allowed_private=LOOPBACK),
    )


@pytest.fixture
async def settings(infra: Endpoints) -> AsyncIterator[Settings]:
    made = fresh_settings(infra)
    yield made
    await drop_topics(made)


@pytest.fixture
async def topics_ready(settings: Settings) -> Settings:
    await ensure_topics(settings)
    return settings


@pytest.fixture
async def mongo(settings: Settings) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = connect(settings, "herald-tests")
    yield client
    await client.drop_database(settings.mongo.database)
    await client.close()


@pytest.fixture
def db(mongo: AsyncMongoClient[Document], settings: Settings) -> AsyncDatabase[Document]:
    return database(mongo, settings)


@pytest.fixture(scope="session")
def mailpit(infra: Endpoints) -> Mailpit:
    return Mailpit(infra.mailpit_url)


@pytest.fixture
def recipient() -> str:
    """An address no other test or run uses, so its mail is this test's alone."""
    return f"r{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path
