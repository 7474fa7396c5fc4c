"""What every CLI command shares: the console, error handling and a database session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Collection, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from uuid import uuid4

import typer
from aiokafka.errors import KafkaConnectionError, KafkaError
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError
from rich.console import Console
from rich.markup import escape

from herald.client.commands import CommandRejectedError, HeraldClient, HeraldUnavailable
from herald.shared.contract.messages import Command, CommandAccepted, RunStatus
from herald.shared.history import store as history_store
from herald.shared.history.fold import FINAL_STATUSES, RunRecord
from herald.shared.history.replay import KafkaUnavailable
from herald.shared.runtime.kafka import client_options
from herald.shared.runtime.mongo import Document, connect, database
from herald.shared.runtime.settings import Settings

console = Console()
T = TypeVar("T")
C = TypeVar("C", bound=Command)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command; unreachable infrastructure is a message and exit 2, not a traceback."""
    try:
        return asyncio.run(coroutine)
    except (HeraldUnavailable, KafkaUnavailable) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    except PyMongoError as exc:
        hosts = mongo_hosts(Settings().mongo.url.get_secret_value())
        console.print(f"[red]error:[/red] MongoDB at {hosts}: {escape(str(exc))}")
        raise typer.Exit(2) from exc
    except KafkaError as exc:
        servers = Settings().kafka.bootstrap_servers
        # Unreachable (exit 2, as MongoDB), or reached and refused: a topic it would not create.
        unreachable = isinstance(exc, KafkaConnectionError)
        what = "cannot reach Kafka" if unreachable else "Kafka refused"
        console.print(f"[red]error:[/red] {what} at {servers}: {escape(str(exc))}")
        raise typer.Exit(2 if unreachable else 1) from exc


def mongo_hosts(url: str) -> str:
    """The servers of a MongoDB URL, nothing else: its user, password, database and options
    (an AWS session token among them) stay out of what a terminal or a CI log shows."""
    after_scheme = url.partition("://")[2] or url
    return after_scheme.rpartition("@")[2].split("/")[0].split("?")[0]


def fail(*lines: str) -> typer.Exit:
    """Each line as an error, escaped (reasons quote what the user wrote); raise the result."""
    for line in lines:
        console.print(f"[red]error:[/red] {escape(line)}", soft_wrap=True)
    return typer.Exit(1)


def print_invalid(exc: ValidationError, where: str = "") -> None:
    """Each field-level reason on its own line, so a person can fix the input."""
    for error in exc.errors(include_url=False):
        place = ".".join(map(str, error["loc"])) or "(whole record)"
        reason = escape(f"{where}{place}: {error['msg']}")
        console.print(f"[red]error:[/red] {reason}", soft_wrap=True)


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[AsyncDatabase[Document]]:
    client = connect(settings, "herald-cli")
    try:
        yield database(client, settings)
    finally:
        await client.close()


async def wait_for_run(
    settings: Settings,
    tenant: str,
    run_id: str,
    timeout_s: float,
    settled: Collection[RunStatus] = FINAL_STATUSES,
) -> RunRecord:
    """The run's history record once its status is one of `settled`; TimeoutError if not."""
    deadline = time.monotonic() + timeout_s
    async with open_database(settings) as db:
        while time.monotonic() < deadline:
            record = await history_store.get_run(db[history_store.RUNS], tenant, run_id)
            if record is not None and record.status in settled:
                return record
            await asyncio.sleep(0.5)
    raise TimeoutError(
        f"run {run_id} did not finish within {timeout_s:.0f} s: "
        "are the renderer and the mailer running?"
    )


RUN_COLUMNS = ("run", "status", "attempt", "updated", "next attempt", "reason")


def run_row(record: RunRecord) -> tuple[str, ...]:
    """A run as a history table shows it: a waiting run says when it is tried next."""
    next_attempt = ""
    if record.status is RunStatus.PENDING_RETRY and record.next_attempt_at:
        next_attempt = record.next_attempt_at.isoformat(timespec="seconds")
        if record.details and record.details.retry_until:
            next_attempt += f" (retried until {record.details.retry_until:%Y-%m-%d %H:%M})"
    return (
        escape(record.run_id),
        record.status.value,
        str(record.attempt),
        record.updated_at.isoformat(timespec="seconds"),
        next_attempt,
        escape(record.reason or ""),
    )


def client(settings: Settings, timeout_s: float = 30.0) -> HeraldClient:
    """A command client on the deployment's Kafka, with its security options."""
    return HeraldClient(
        client_options(settings.kafka),
        topic_prefix=settings.kafka.topic_prefix,
        timeout_s=timeout_s,
    )


def send_command(command: Command) -> CommandAccepted:
    """The scheduler's acceptance, or exit 1 with each field it rejected."""

    async def exchange() -> CommandAccepted:
        async with client(Settings()) as herald:
            return await herald.send(command)

    try:
        accepted = run(exchange())
    except CommandRejectedError as exc:
        raise fail(*(f"{error.field}: {error.message}" for error in exc.errors)) from exc
    except TimeoutError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from exc
    for warning in accepted.warnings:
        console.print(
            f"[yellow]warning:[/yellow] {escape(warning.field)}: {escape(warning.message)}",
            soft_wrap=True,
        )
    return accepted


def valid_command(build: type[C], **fields: Any) -> C:
    """The command under a new `command_id`, or exit 1 with every field-level reason it is
    not valid."""
    try:
        return build(command_id=uuid4(), **fields)
    except ValidationError as exc:
        print_invalid(exc)
        raise typer.Exit(1) from exc
