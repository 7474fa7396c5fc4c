"""Mailer benchmark: emails per second with a 50 KB attachment, naive loop against Herald.

    python bench/mailer.py [--quick] [--emails N] [--pool 32] [--server mailpit|sink]

The server is the project's Mailpit (SMTP 127.0.0.1:11025; only this run's
messages, by their sender, are deleted through its HTTP API afterwards, since
other tests may be reading it), or with `--server sink` an aiosmtpd sink in a
process of its own. Then, side by side:

- naive: one `smtplib` connection per email, the message built with
  `email.message.EmailMessage`, one after another;
- Herald: the mailer's use case, `Delivery.deliver`, on the real `sends`
  ledger in a fresh database on `HERALD_MONGO__URL` (its claims, records and
  reads are part of the figure), the artifact from GridFS through the artifact
  cache, `SmtpPool` over pooled connections; runs of 5 recipients, as many at
  once as the mailer's subscriber delivers (`MailerSettings.concurrency`);
- the server alone: Herald's email, no ledger, over as many connections as
  Herald's pool, each a bare asyncio client awaiting every reply: the most
  any client gets from the server on this machine.

Each figure comes with the load average and the server's CPU per email (its
process's, from the system), Herald's with its own CPU per email.

Ends with: BENCH mailer emails=N naive_per_s=... herald_per_s=... ratio=... server=...
"""

from __future__ import annotations

import argparse
import asyncio
import os
import smtplib
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

import psutil
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import start_smtp_sink
from herald.services.mailer import compose
from herald.services.mailer.app import claim_lease
from herald.services.mailer.cleanup import mailer_cleanup
from herald.services.mailer.delivery import Delivery
from herald.services.mailer.outbound import SameForAll
from herald.services.mailer.ports import Outbound
from herald.services.mailer.smtp import SmtpPool, wire_form
from herald.services.mailer.store import Ledger
from herald.shared.contract.messages import ReportRendered, RunStatus
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runtime.artifact_cache import CachedArtifacts
from herald.shared.runtime.artifacts import ArtifactStore
from herald.shared.runtime.metrics import REGISTRY
from herald.shared.runtime.mongo import connect
from herald.shared.runtime.settings import BrandingSettings, RetrySettings, Settings, SmtpSettings
from tests.samples import report_rendered, run_details
from tests.smtp_server import free_port

console = Console()
#: Recipients per run: a herd of small runs, each composed once.
PER_RUN = 5
ARTIFACT = "bench@2026-11-27T08:00:00+00:00/csv"
MAILPIT_SMTP_PORT = 11025
MAILPIT_API = "http://127.0.0.1:18025/api/v1"
ATTACHMENT = b"".join(
    f"Campaign {n % 7},{1000 + n},{400 + n % 90},{n % 13}.{n % 10} %\r\n".encode()
    for n in range(2400)
)[: 50 * 1024]


def naive(port: int, emails: int, sender: str) -> float:
    started = time.perf_counter()
    for n in range(emails):
        message = EmailMessage()
        message["From"] = f"Reports <{sender}>"
        message["To"] = f"r{n}@example.com"
        message["Subject"] = "Campaign Summary, 2026-11-26"
        message.set_content("The report is attached.")
        message.add_attachment(ATTACHMENT, "text", "csv", filename="campaign-summary.csv")
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(message)
    return emails / (time.perf_counter() - started)


def _rendered(n: int, recipients: list[str]) -> ReportRendered:
    """Run `n`; every run shares one render (one artifact), as a herd of like schedules does."""
    run = run_details(
        run_id=f"bench-{n}@2026-11-27T08:00:00+00:00",
        scheduled_for=datetime.now(UTC),
        recipients=recipients,
    )
    return report_rendered(
        run,
        schedule_id=f"bench-{n}",
        artifact_id=ARTIFACT,
        size=len(ATTACHMENT),
        rows=2400,
        sha256="-",
    )


async def _chunks() -> AsyncIterator[bytes]:
    yield ATTACHMENT


@dataclass(frozen=True, slots=True)
class HeraldRun:
    per_s: float
    #: Database commands and this process's CPU seconds, while the runs were delivered.
    commands: int
    cpu_s: float


async def herald(port: int, emails: int, pool_size: int, sender: str) -> HeraldRun:
    """The mailer's use case end to end but for Kafka: the real ledger on the database.

    `Delivery.deliver` for runs of `PER_RUN` recipients, `MailerSettings.concurrency`
    runs at once (as the subscriber delivers them); the one shared artifact comes
    from GridFS through the artifact cache.
    """
    settings = Settings()
    database = f"herald_bench_mailer_{uuid.uuid4().hex[:8]}"
    client = connect(settings, "herald-bench-mailer")
    db = client[database]
    smtp = SmtpSettings(host="127.0.0.1", port=port, pool_size=pool_size)
    pool = SmtpPool(smtp)
    ledger = Ledger(db, claim_lease(smtp))
    await ledger.ensure_indexes()
    await mailer_cleanup(db, settings).prepare()  # the retention's indexes, as the service has
    artifacts = CachedArtifacts(ArtifactStore(db))
    await artifacts.put(ARTIFACT, "campaign-summary.csv", "text/csv", _chunks(), {})
    delivery = Delivery(
        ledger=ledger,
        outbounds=SameForAll(Outbound(pool, f"Reports <{sender}>", BrandingSettings())),
        artifacts=artifacts,
        retry=RetrySettings(),
        policy=RecipientPolicy(),
    )
    runs = [
        _rendered(n, [f"r{n * PER_RUN + k}@example.com" for k in range(PER_RUN)])
        for n in range(emails // PER_RUN)
    ]
    gate = asyncio.Semaphore(settings.mailer.concurrency)

    async def deliver(rendered: ReportRendered) -> RunStatus:
        async with gate:
            return (await delivery.deliver(rendered)).status

    commands, cpu = _mongo_commands(), time.process_time()
    try:
        started = time.perf_counter()
        statuses = await asyncio.gather(*(deliver(rendered) for rendered in runs))
        rate = len(runs) * PER_RUN / (time.perf_counter() - started)
        done = HeraldRun(rate, round(_mongo_commands() - commands), time.process_time() - cpu)
    finally:
        await pool.close()
        await client.drop_database(database)
        await client.close()
    failed = len(statuses) - statuses.count(RunStatus.DELIVERED)
    if failed:
        raise SystemExit(f"{failed} runs were not delivered")
    return done


async def server_alone(port: int, emails: int, connections: int, sender: str) -> float:
    """Herald's email (`compose`, `wire_form`) with no ledger, over bare asyncio clients.

    Each awaits every reply, as the mailer does: Mailpit offers no PIPELINING.
    Returns emails/s.
    """
    rendered = _rendered(0, ["r0@example.com"])
    prepared = compose.prepare(
        rendered,
        branding=BrandingSettings(),
        from_address=f"Reports <{sender}>",
        contents=compose.Contents(
            attached=(compose.Attachment(rendered.filename, rendered.content_type, ATTACHMENT),)
        ),
        now=datetime.now(UTC),
    )
    rest = wire_form(prepared.rest)
    numbers = iter(range(emails))

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def reply(code: int) -> None:
            line = await reader.readline()
            while line[3:4] == b"-":
                line = await reader.readline()
            if not line.startswith(str(code).encode()):
                raise SystemExit(f"the server answered {line!r}, not {code}")

        await reply(220)
        writer.write(b"EHLO bench.localhost\r\n")
        await reply(250)
        for n in numbers:  # shared by the clients: each takes the next email
            to = f"r{n}@example.com"
            for command, code in ((f"MAIL FROM:<{sender}>", 250), (f"RCPT TO:<{to}>", 250)):
                writer.write(f"{command}\r\n".encode())
                await reply(code)
            writer.write(b"DATA\r\n")
            await reply(354)
            writer.write(compose.recipient_head(prepared, to) + rest + b".\r\n")
            await reply(250)
        writer.write(b"QUIT\r\n")
        await reply(221)
        writer.close()
        await writer.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return emails / (time.perf_counter() - started)


def _mongo_commands() -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "herald_mongo_commands"
        for sample in metric.samples
        if sample.name == "herald_mongo_commands_total"
    )


T = TypeVar("T")


def _measured(server: psutil.Process, emails: int, measure: Callable[[], T]) -> tuple[T, str]:
    """`measure()`, and the server's CPU per email and the load average while it ran."""
    before = sum(server.cpu_times()[:2])
    result = measure()
    cpu_ms = (sum(server.cpu_times()[:2]) - before) / emails * 1000
    load = ", ".join(f"{average:.1f}" for average in os.getloadavg())
    return result, f"server CPU {cpu_ms:.2f} ms per email; load average {load}"


def _mailpit_process() -> psutil.Process:
    """The Mailpit listening on `MAILPIT_SMTP_PORT`, whose CPU time is read from the system."""
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "mailpit" and any(
            arg.endswith(f":{MAILPIT_SMTP_PORT}") for arg in process.info["cmdline"] or ()
        ):
            return process
    raise SystemExit(f"no Mailpit process listens on {MAILPIT_SMTP_PORT}")


def _mailpit_delete(sender: str) -> None:
    """Only this run's messages: others' tests may be reading Mailpit right now."""
    query = urllib.parse.urlencode({"query": f"from:{sender}"})
    request = urllib.request.Request(f"{MAILPIT_API}/search?{query}", method="DELETE")
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 emails")
    parser.add_argument("--emails", type=int, default=None, help="default 5,000 (1,000 quick)")
    pool = SmtpSettings.model_fields["pool_size"].default
    parser.add_argument(
        "--pool", type=int, default=pool, help=f"pooled SMTP connections (the mailer's {pool})"
    )
    parser.add_argument(
        "--server",
        choices=("mailpit", "sink"),
        default="mailpit",
        help="the project's Mailpit (SMTP 127.0.0.1:11025), or an aiosmtpd sink of its own",
    )
    args = parser.parse_args()
    emails = args.emails or (1000 if args.quick else 5000)
    emails -= emails % PER_RUN
    # A sender of its own, so only this run's messages are deleted from Mailpit.
    sender = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    mailpit = args.server == "mailpit"
    port = MAILPIT_SMTP_PORT if mailpit else free_port()
    server = None if mailpit else start_smtp_sink(port)
    try:
        process = _mailpit_process() if server is None else psutil.Process(server.pid)
        naive_rate, conditions = _measured(process, emails, lambda: naive(port, emails, sender))
        console.print(
            f"naive, a new smtplib connection per email: {naive_rate:,.0f} emails/s ({conditions})"
        )
        if mailpit:
            _mailpit_delete(sender)
        run, conditions = _measured(
            process, emails, lambda: asyncio.run(herald(port, emails, args.pool, sender))
        )
        herald_rate, cpu_ms = run.per_s, run.cpu_s / emails * 1000
        console.print(
            f"Herald, Delivery with the ledger on the database, {args.pool} pooled "
            f"connections: {herald_rate:,.0f} emails/s, {run.commands / emails:.2f} database "
            f"commands per email ({conditions})"
        )
        console.print(
            f"Herald's own CPU: {cpu_ms:.2f} ms per email, {1000 / cpu_ms:,.0f}/s if the "
            "server and the database kept up"
        )
        if mailpit:
            _mailpit_delete(sender)
        alone, conditions = _measured(
            process, emails, lambda: asyncio.run(server_alone(port, emails, args.pool, sender))
        )
        console.print(
            f"the server alone, Herald's email over {args.pool} bare connections: "
            f"{alone:,.0f} emails/s ({conditions})"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        if mailpit:
            _mailpit_delete(sender)
    ratio = herald_rate / naive_rate
    console.print(f"{emails:,} emails with a {len(ATTACHMENT) // 1024} KB attachment; x{ratio:.2f}")
    print(
        f"BENCH mailer emails={emails} naive_per_s={naive_rate:.0f} "
        f"herald_per_s={herald_rate:.0f} ratio={ratio:.2f} server={args.server}"
    )


if __name__ == "__main__":
    main()
