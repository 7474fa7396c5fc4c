"""The chaos suite's own Kafka broker and FerretDB, as processes it may stop and start.

Stopping the shared local infrastructure would break every other test running
beside this suite, so a chaos session starts a KRaft broker of its own (from
the jars `deploy/local/infra` cached) and a FerretDB of its own on a
PostgreSQL database of its own, each on free ports. `stop()` and `start()`
keep the port and the data, so a restarted broker still has its topics and
the consumer groups' offsets, as after a real outage.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from tests.helpers import wait_until
from tests.infra import REPO
from tests.smtp_server import free_port

CACHE = Path(os.environ.get("HERALD_CACHE", Path.home() / ".cache" / "herald"))
LOCAL = REPO / "deploy" / "local"
KAFKA_VERSION = "4.1.1"
PG_PORT = int(os.environ.get("HERALD_LOCAL_PG_PORT", "15432"))


class ClusterError(RuntimeError):
    """A server of the chaos cluster could not be started; the message says why and where."""


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def wait_port_closed(port: int) -> None:
    """Until nothing listens on `port`: the next start can bind it again."""

    async def closed() -> bool:
        return not port_open(port)

    await wait_until(closed, 30, f"port {port} to close", interval_s=0.1)


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Server(ABC):
    """A server process that can die and come back on the same port with the same data."""

    name: str

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.log_path = directory / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def command(self) -> list[str]: ...

    @abstractmethod
    async def answers(self) -> bool:
        """True once clients can use the server, not merely connect to its port."""

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _launch(self) -> subprocess.Popen[bytes]:
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    async def start(self, timeout_s: float = 90.0) -> None:
        if self.running:
            return
        self._process = self._launch()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not await self.answers():
            if self._process.poll() is not None:
                raise ClusterError(
                    f"{self.name} exited with {self._process.returncode}:\n{_tail(self.log_path)}"
                )
            if loop.time() > deadline:
                raise ClusterError(
                    f"{self.name} did not answer on 127.0.0.1:{self.port} within "
                    f"{timeout_s:.0f} s:\n{_tail(self.log_path)}"
                )
            await asyncio.sleep(0.3)

    async def stop(self, *, kill: bool = False, timeout_s: float = 30.0) -> None:
        """SIGTERM (a clean stop) or SIGKILL (a crash); returns once the port is free."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 10)
        await wait_port_closed(self.port)


class KafkaNode(Server):
    """A single-node KRaft broker, configured like `deploy/local/infra`'s."""

    name = "kafka"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, free_port())
        self.controller_port = free_port()
        self.libs = CACHE / f"kafka-{KAFKA_VERSION}" / "libs"
        self.data = directory / "data"
        self.properties = directory / "server.properties"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self) -> list[str]:
        return [
            "java",
            "-Xms256m",
            "-Xmx512m",
            "-XX:+UseG1GC",
            "-XX:TieredStopAtLevel=1",  # starts sooner; a test broker needs no peak speed
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.directory / 'logs'}",
            f"-Dlog4j2.configurationFile={LOCAL / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
        ]

    def format(self) -> None:
        """Write the configuration and format the storage, once per session."""
        if not (self.libs / ".complete").exists():
            raise ClusterError(f"no Kafka jars in {self.libs}: run `deploy/local/infra up` first")
        if shutil.which("java") is None:
            raise ClusterError("java is not installed: run `deploy/local/infra up` first")
        template = (LOCAL / "kafka.properties.in").read_text()
        self.properties.write_text(
            template.replace("@KAFKA_PORT@", str(self.port))
            .replace("@CONTROLLER_PORT@", str(self.controller_port))
            .replace("@DATA_DIR@", str(self.data))
        )
        (self.directory / "logs").mkdir(exist_ok=True)
        cluster_id = uuid.uuid4().hex[:22]
        tool = ["kafka.tools.StorageTool", "format", "-t", cluster_id]
        formatted = subprocess.run(
            [*self._java(), *tool, "-c", str(self.properties)],
            capture_output=True,
            text=True,
        )
        if formatted.returncode != 0:
            raise ClusterError(
                f"Kafka storage format failed:\n{formatted.stdout}{formatted.stderr}"
            )

    def command(self) -> list[str]:
        return [*self._java(), "kafka.Kafka", str(self.properties)]

    async def answers(self) -> bool:
        if not port_open(self.port):
            return False
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except KafkaError:
            return False
        finally:
            await admin.close()


def _psql(sql: str) -> None:
    """Run one statement as PostgreSQL's superuser, the way `deploy/local/infra` does."""
    psql = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))
    if not psql:
        raise ClusterError("PostgreSQL is not installed: run `deploy/local/infra up` first")
    as_owner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    command = [str(psql[-1]), "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres"]
    done = subprocess.run(
        [*as_owner, *command, "-v", "ON_ERROR_STOP=1", "-qc", sql],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise ClusterError(f"psql {sql!r} failed: {done.stderr.strip()}")


class FerretNode(Server):
    """FerretDB 1.x on a PostgreSQL database that belongs to this chaos session."""

    name = "ferretdb"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory, free_port())
        self.binary = CACHE / "bin" / "ferretdb"
        self.pg_database = f"chaos_{uuid.uuid4().hex[:10]}"

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def create_database(self) -> None:
        if not self.binary.exists():
            raise ClusterError(f"no FerretDB at {self.binary}: run `deploy/local/infra up` first")
        if not port_open(PG_PORT):
            raise ClusterError(f"PostgreSQL does not answer on 127.0.0.1:{PG_PORT}")
        _psql(f"CREATE DATABASE {self.pg_database}")

    def drop_database(self) -> None:
        _psql(f"DROP DATABASE IF EXISTS {self.pg_database} WITH (FORCE)")

    def command(self) -> list[str]:
        return [
            str(self.binary),
            "--handler=postgresql",
            f"--postgresql-url=postgres://postgres@127.0.0.1:{PG_PORT}/{self.pg_database}",
            f"--listen-addr=127.0.0.1:{self.port}",
            f"--state-dir={self.directory}",
            "--telemetry=disable",
            "--debug-addr=-",
            "--log-level=warn",
        ]

    async def answers(self) -> bool:
        if not port_open(self.port):
            return False
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            self.url, serverSelectionTimeoutMS=2000
        )
        try:
            await client.admin.command("ping")
            return True
        except PyMongoError:
            return False
        finally:
            await client.close()


@dataclass
class Cluster:
    """The session's broker and document store; scenarios share them, each with its own names."""

    kafka: KafkaNode
    ferretdb: FerretNode

    @classmethod
    async def start(cls, directory: Path) -> Cluster:
        cluster = cls(KafkaNode(directory / "kafka"), FerretNode(directory / "ferretdb"))
        await asyncio.to_thread(cluster.kafka.format)
        await asyncio.to_thread(cluster.ferretdb.create_database)
        await asyncio.gather(cluster.kafka.start(), cluster.ferretdb.start())
        return cluster

    async def close(self) -> None:
        await asyncio.gather(self.kafka.stop(), self.ferretdb.stop())
        await asyncio.to_thread(self.ferretdb.drop_database)
