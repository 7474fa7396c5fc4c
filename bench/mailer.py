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
  once as the mailer's subscriber delivers (`MailerSettings.concurrency`).

Ends with: BENCH mailer emails=N naive_per_s=... herald_per_s=... ratio=... server=...
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import start_smtp_sink
from herald.services.mailer.app import claim_lease
from herald.services.mailer.delivery import Delivery
from herald.services.mailer.outbound import SameForAll
from herald.services.mailer.ports import Outbound
from herald.services.mailer.smtp import SmtpPool
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


async def herald(port: int, emails: int, pool_size: int, sender: str) -> tuple[float, int]:
    """The mailer's use case end to end but for Kafka: the real ledger on the database.

    `Delivery.deliver` for runs of `PER_RUN` recipients, `MailerSettings.concurrency`
    runs at once (as the subscriber delivers them); the one shared artifact comes
    from GridFS through the artifact cache. Returns emails/s and database commands.
    """
    settings = Settings()
    database = f"herald_bench_mailer_{uuid.uuid4().hex[:8]}"
    client = connect(settings, "herald-bench-mailer")
    db = client[database]
    smtp = SmtpSettings(host="127.0.0.1", port=port, pool_size=pool_size)
    pool = SmtpPool(smtp)
    ledger = Ledger(db, claim_lease(smtp))
    await ledger.ensure_indexes()
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

    commands = _mongo_commands()
    try:
        started = time.perf_counter()
        statuses = await asyncio.gather(*(deliver(rendered) for rendered in runs))
        rate = len(runs) * PER_RUN / (time.perf_counter() - started)
        commands = _mongo_commands() - commands
    finally:
        await pool.close()
        await client.drop_database(database)
        await client.close()
    failed = len(statuses) - statuses.count(RunStatus.DELIVERED)
    if failed:
        raise SystemExit(f"{failed} runs were not delivered")
    return rate, round(commands)


def _mongo_commands() -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "herald_mongo_commands"
        for sample in metric.samples
        if sample.name == "herald_mongo_commands_total"
    )


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
        naive_rate = naive(port, emails, sender)
        console.print(f"naive, a new smtplib connection per email: {naive_rate:,.0f} emails/s")
        if mailpit:
            _mailpit_delete(sender)
        cpu = time.process_time()
        herald_rate, commands = asyncio.run(herald(port, emails, args.pool, sender))
        cpu_ms = (time.process_time() - cpu) / emails * 1000
        console.print(
            f"Herald, Delivery with the ledger on the database, {args.pool} pooled "
            f"connections: {herald_rate:,.0f} emails/s, {commands / emails:.2f} database "
            "commands per email"
        )
        console.print(
            f"Herald's own CPU: {cpu_ms:.2f} ms per email, {1000 / cpu_ms:,.0f}/s if the "
            "server and the database kept up"
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
