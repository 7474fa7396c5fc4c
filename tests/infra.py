"""Where the tests find Kafka, MongoDB and an SMTP server whose mail they can read.

In this order: the `HERALD_*` environment variables when set (what `make test`
does, after `deploy/local/infra up`); testcontainers when a Docker engine
answers (Kafka, MongoDB 8, Mailpit); otherwise `deploy/local/infra up` here.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
INFRA = REPO / "deploy" / "local" / "infra"


@dataclass(frozen=True)
class Endpoints:
    kafka: str
    mongo_url: str
    smtp_host: str
    smtp_port: int
    #: Mailpit's HTTP API, to read what the SMTP server received.
    mailpit_url: str


def _from_env(env: dict[str, str]) -> Endpoints | None:
    try:
        return Endpoints(
            kafka=env["HERALD_KAFKA__BOOTSTRAP_SERVERS"],
            mongo_url=env["HERALD_MONGO__URL"],
            smtp_host=env["HERALD_SMTP__HOST"],
            smtp_port=int(env["HERALD_SMTP__PORT"]),
            mailpit_url=env["HERALD_MAILPIT_URL"],
        )
    except KeyError:
        return None


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        return bool(docker.from_env(timeout=3).ping())
    except Exception:
        return False


@contextlib.contextmanager
def _containers() -> Iterator[Endpoints]:
    from testcontainers.core.container import DockerContainer  # type: ignore[import-untyped]
    from testcontainers.core.waiting_utils import wait_for_logs  # type: ignore[import-untyped]
    from testcontainers.kafka import KafkaContainer  # type: ignore[import-untyped]
    from testcontainers.mongodb import MongoDbContainer  # type: ignore[import-untyped]

    kafka: Any = KafkaContainer("apache/kafka:4.1.1").with_kraft()
    mongo: Any = MongoDbContainer("mongo:8")
    mailpit: Any = DockerContainer("axllent/mailpit:v1.27").with_exposed_ports(1025, 8025)
    with kafka, mongo, mailpit:
        wait_for_logs(mailpit, "accessible via")
        host = mailpit.get_container_host_ip()
        yield Endpoints(
            kafka=kafka.get_bootstrap_server(),
            mongo_url=mongo.get_connection_url(),
            smtp_host=host,
            smtp_port=int(mailpit.get_exposed_port(1025)),
            mailpit_url=f"http://{host}:{mailpit.get_exposed_port(8025)}",
        )


@contextlib.contextmanager
def endpoints() -> Iterator[Endpoints]:
    found = _from_env(dict(os.environ))
    if found is not None:
        yield found
        return
    if _docker_answers():
        with _containers() as started:
            yield started
        return
    subprocess.run([str(INFRA), "up"], check=True)
    printed = subprocess.run([str(INFRA), "env"], check=True, capture_output=True, text=True)
    env = dict(
        line.removeprefix("export ").split("=", 1)
        for line in printed.stdout.splitlines()
        if line.startswith("export ")
    )
    local = _from_env(env)
    assert local is not None, f"`infra env` printed no endpoints: {printed.stdout!r}"
    yield local
