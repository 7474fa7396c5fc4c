"""Herald on authenticated, encrypted transports, and no secret in its logs, events or errors.

`deploy/local/infra secure-up` runs a broker that only speaks SASL_SSL with
SCRAM-SHA-512 (its own throwaway CA) and a FerretDB whose PostgreSQL role
needs its password (PLAIN in the MongoDB URL); the SMTP server is a real one
(aiosmtpd) with STARTTLS and AUTH. The three services and the `herald` CLI run
as processes on those, with only the `HERALD_*` settings to go by.
"""

from __future__ import annotations

import asyncio
import base64
import re
import shlex
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from herald.cli import demo
from herald.client.commands import HeraldUnavailable
from herald.shared.contract.messages import DeliveryStatus, RecipientOutcome
from herald.shared.contract.topics import Topics
from herald.shared.runtime.mongo import Document, connect, database
from herald.shared.runtime.settings import (
    KafkaSecurity,
    KafkaSettings,
    MongoSettings,
    RetrySettings,
    Settings,
    SmtpSecurity,
    SmtpSettings,
)
from tests.helpers import Cli, ServiceProcess, command_client, read_topic, run_cli
from tests.infra import INFRA
from tests.smtp_server import CertificateAuthority, SmtpServer

pytestmark = pytest.mark.e2e

SMTP_USER = "herald-mailer"


@dataclass(frozen=True)
class Secure:
    """What `infra secure-up` started: its `HERALD_*` settings and the secrets among them."""

    env: dict[str, str]

    @property
    def sasl_password(self) -> str:
        return self.env["HERALD_KAFKA__SASL_PASSWORD"]

    @property
    def mongo_password(self) -> str:
        password = urlsplit(self.env["HERALD_MONGO__URL"]).password
        assert password, "secure-env printed a MongoDB URL without a password"
        return password

    def settings(self, smtp: SmtpSettings | None = None) -> Settings:
        """Settings on the secure servers, with a topic prefix and database of their own."""
        name = f"sec{uuid.uuid4().hex[:10]}"
        kafka = {
            key.removeprefix("HERALD_KAFKA__").lower(): value
            for key, value in self.env.items()
            if key.startswith("HERALD_KAFKA__")
        }
        return Settings(
            kafka=KafkaSettings.model_validate(kafka | {"topic_prefix": name, "partitions": 3}),
            mongo=MongoSettings(url=SecretStr(self.env["HERALD_MONGO__URL"]), database=name),
            smtp=smtp or SmtpSettings(),
            # A refused login is retried quickly here.
            retry=RetrySettings(base_s=1, cap_s=2, max_attempts=30, jitter=0),
        )


@pytest.fixture(scope="module")
def secure() -> Secure:
    up = subprocess.run([str(INFRA), "secure-up"], capture_output=True, text=True, timeout=900)
    if up.returncode != 0:
        pytest.fail(f"infra secure-up exited {up.returncode}:\n{up.stdout}\n{up.stderr}")
    printed = subprocess.run(
        [str(INFRA), "secure-env"], capture_output=True, text=True, check=True, timeout=30
    )
    env = dict(
        shlex.split(line)[1].split("=", 1)
        for line in printed.stdout.splitlines()
        if line.startswith("export ")
    )
    assert env.get("HERALD_KAFKA__SECURITY_PROTOCOL") == "SASL_SSL", printed.stdout
    return Secure(env)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
async def secure_db(secure: Secure) -> AsyncIterator[tuple[Settings, AsyncDatabase[Document]]]:
    settings = secure.settings()
    client = connect(settings, "herald-tests")
    yield settings, database(client, settings)
    await client.drop_database(settings.mongo.database)
    await client.close()


def _smtp_secrets(password: str) -> dict[str, str]:
    """The password and how AUTH PLAIN and AUTH LOGIN put it on the wire."""
    plain = base64.b64encode(f"\0{SMTP_USER}\0{password}".encode()).decode()
    return {password: password, f"AUTH PLAIN of {password}": plain,
            f"AUTH LOGIN of {password}": base64.b64encode(password.encode()).decode()}  # fmt: skip


@pytest.mark.timeout(600)
async def test_services_deliver_over_sasl_ssl_and_authenticated_stores_without_leaking_secrets(
    secure: Secure,
    secure_db: tuple[Settings, AsyncDatabase[Document]],
    ca: CertificateAuthority,
    tmp_path: Path,
) -> None:
    base, db = secure_db
    await demo.seed(db, tenant_id="acme", calls=300, days=3, anchor=date.today())
    good, wrong = f"smtp-good-{uuid.uuid4().hex}", f"smtp-wrong-{uuid.uuid4().hex}"
    server = SmtpServer(security="starttls", tls=ca, credentials=(SMTP_USER, good)).start()
    smtp = SmtpSettings(
        host="127.0.0.1",
        port=server.port,
        security=SmtpSecurity.STARTTLS,
        username=SMTP_USER,
        password=SecretStr(good),
        tls_ca_file=ca.ca_file,
        timeout_s=5,
    )
    settings = base.model_copy(update={"smtp": smtp})
    refused_login = settings.model_copy(
        update={"smtp": smtp.model_copy(update={"password": SecretStr(wrong)})}
    )
    services = [
        ServiceProcess("scheduler", settings, tmp_path),
        ServiceProcess("renderer", settings, tmp_path),
        ServiceProcess("mailer", refused_login, tmp_path),
    ]
    outputs: list[Cli] = []
    ops, recipient = (
        f"ops-{uuid.uuid4().hex[:8]}@example.com",
        f"r{uuid.uuid4().hex[:8]}@example.com",
    )
    try:
        await asyncio.gather(*(service.wait_started() for service in services))

        # A mailer with the wrong SMTP password: the server refuses the login; the run fails
        # or waits for a retry, and the CLI shows the server's reply.
        refused = await run_cli(settings, "smtp", "test", "--to", ops, "--wait", "120")
        outputs.append(refused)
        assert refused.exit_code == 1, refused.output
        assert "535 5.7.8 Authentication credentials invalid" in refused.output, refused.output
        assert re.search(r": (failed|pending_retry)\n", refused.output), refused.output

        # The right password: the test email and a schedule's run are delivered.
        services[2].stop()
        mailer = ServiceProcess("mailer", settings, tmp_path)
        services.append(mailer)
        await mailer.wait_started()
        tested = await run_cli(settings, "smtp", "test", "--to", ops, "--wait", "120")
        outputs.append(tested)
        assert tested.exit_code == 0, tested.output
        assert ": delivered" in tested.output, tested.output
        created = await run_cli(
            settings, "schedules", "create", "secure-brief", "--tenant", "acme",
            "--name", "Secure Brief", "--report", "campaign_summary", "--frequency", "daily",
            "--time", "07:30", "--to", recipient, "--format", "csv",
        )  # fmt: skip
        outputs.append(created)
        assert created.exit_code == 0, created.output
        ran = await run_cli(
            settings, "schedules", "run-now", "secure-brief", "--tenant", "acme", "--wait", "120"
        )
        outputs.append(ran)
        assert ran.exit_code == 0, ran.output
        assert ": delivered" in ran.output, ran.output
    finally:
        for service in services:
            service.stop()
        server.stop()
    assert server.received(ops) >= 1  # once, or twice if the refused run was retried
    assert server.received(recipient) == 1

    topics = Topics(settings.kafka.topic_prefix)
    records = {topic: await read_topic(settings, topic) for topic in topics.all()}
    statuses = [
        DeliveryStatus.model_validate_json(r.value) for r in records[topics.delivery_status]
    ]
    refusals = [
        result
        for status in statuses
        for result in status.recipients
        if result.outcome is not RecipientOutcome.ACCEPTED
    ]
    assert any("535" in f"{r.smtp_code} {r.smtp_message}" for r in refusals), refusals

    secrets = (
        {
            "the SASL password": secure.sasl_password,
            "the MongoDB password": secure.mongo_password,
        }
        | _smtp_secrets(good)
        | _smtp_secrets(wrong)
    )
    texts = {service.log_path.name: service.log() for service in services}
    texts |= {f"herald CLI output {n}": cli.output for n, cli in enumerate(outputs)}
    for topic, found_records in records.items():
        for record in found_records:
            headers = b" ".join(name.encode() + b"=" + value for name, value in record.headers)
            raw = b" ".join((record.key or b"", record.value or b"", headers))
            texts[f"{topic}/{record.partition}@{record.offset}"] = raw.decode(errors="replace")
    assert sum(len(found) for found in records.values()) >= 6  # commands, replies, runs, statuses
    # What is searched does hold the runs' data, and so would hold a leaked secret.
    assert any(recipient in text for text in texts.values())
    leaks = [(what, where) for what, secret in secrets.items() for where, text in texts.items()
             if secret in text]  # fmt: skip
    assert not leaks, leaks


async def _refused(settings: Settings) -> str:
    """The client's error; fails the test if Kafka let it in or kept it waiting."""
    with pytest.raises(HeraldUnavailable) as refused:
        async with asyncio.timeout(30), command_client(settings, timeout_s=10):
            pass
    return str(refused.value)


async def test_a_wrong_sasl_password_is_refused_at_once_with_the_reason(secure: Secure) -> None:
    wrong = f"sasl-wrong-{uuid.uuid4().hex}"
    settings = secure.settings()
    settings = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"sasl_password": SecretStr(wrong)})}
    )
    started = time.monotonic()
    cli = await run_cli(settings, "schedules", "run-now", "any", "--tenant", "acme", timeout_s=60)
    assert time.monotonic() - started < 45, "a refused login must not look like a slow broker"
    assert cli.exit_code == 2, cli.output
    assert f"cannot reach Kafka at {settings.kafka.bootstrap_servers}" in cli.output
    assert "SaslAuthenticationFailed" in cli.output, cli.output
    assert wrong not in cli.output
    assert secure.sasl_password not in cli.output
    assert "cannot reach Kafka" in await _refused(settings)


async def test_only_sasl_over_verified_tls_gets_through(secure: Secure) -> None:
    settings = secure.settings()
    for change in (
        {"security_protocol": KafkaSecurity.PLAINTEXT},
        {"security_protocol": KafkaSecurity.SASL_PLAINTEXT},
        {"security_protocol": KafkaSecurity.SSL},
        {"tls_ca_file": None},  # SASL_SSL, but the broker's CA is not trusted
    ):
        attempt = settings.model_copy(update={"kafka": settings.kafka.model_copy(update=change)})
        error = await _refused(attempt)
        assert "cannot reach Kafka" in error, (change, error)
        assert secure.sasl_password not in error


async def test_ferretdb_needs_the_password_and_errors_do_not_echo_it(
    secure: Secure, secure_db: tuple[Settings, AsyncDatabase[Document]]
) -> None:
    settings, db = secure_db
    await db["probe"].insert_one({"ok": True})
    url = urlsplit(settings.mongo.url.get_secret_value())
    wrong = f"mongo-wrong-{uuid.uuid4().hex}"
    for attempt in (
        url._replace(netloc=url.netloc.split("@")[-1], query="").geturl(),  # anonymous
        url._replace(netloc=f"{url.username}:{wrong}@{url.hostname}:{url.port}").geturl(),
    ):
        other = settings.model_copy(
            update={"mongo": settings.mongo.model_copy(update={"url": SecretStr(attempt)})}
        )
        client = connect(other, "herald-tests")
        try:
            with pytest.raises(OperationFailure) as refused:
                await database(client, other)["probe"].find_one({})
        finally:
            await client.close()
        assert "authentication failed" in str(refused.value) or "does not exist" in str(
            refused.value
        )
        assert wrong not in str(refused.value)
        assert secure.mongo_password not in str(refused.value)
