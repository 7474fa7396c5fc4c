"""Mailer benchmark: emails per second with a 50 KB attachment, naive loop against Herald.

    python bench/mailer.py [--quick] [--emails N] [--pool 10]

An SMTP server runs in its own process (aiosmtpd's sink: it accepts and
discards), or `--smtp-port` names one already running (the local Mailpit).
Then, side by side:

- naive: one `smtplib` connection per email, the message built with
  `email.message.EmailMessage`, one after another;
- Herald: the mailer's path, `compose.compose` (the branded multipart email
  with the attachment) for every recipient and `SmtpPool.send` over pooled
  connections, all emails in flight at once, as a big run's recipients are.

Ends with: BENCH mailer emails=N naive_per_s=... herald_per_s=... ratio=...
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import sys
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import start_smtp_sink
from herald.services.mailer import compose
from herald.services.mailer.smtp import SmtpPool, wire_form
from herald.shared.contract.messages import ReportRendered, RunStatus
from herald.shared.runtime.settings import BrandingSettings, SmtpSettings
from tests.samples import report_rendered, run_details
from tests.smtp_server import free_port

console = Console()
FROM = "Reports <reports@example.com>"
ATTACHMENT = b"".join(
    f"Campaign {n % 7},{1000 + n},{400 + n % 90},{n % 13}.{n % 10} %\r\n".encode()
    for n in range(2400)
)[: 50 * 1024]


def naive(port: int, emails: int) -> float:
    started = time.perf_counter()
    for n in range(emails):
        message = EmailMessage()
        message["From"] = FROM
        message["To"] = f"r{n}@example.com"
        message["Subject"] = "Campaign Summary, 2026-11-26"
        message.set_content("The report is attached.")
        message.add_attachment(ATTACHMENT, "text", "csv", filename="campaign-summary.csv")
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.send_message(message)
    return emails / (time.perf_counter() - started)


def _rendered() -> ReportRendered:
    run = run_details(run_id="bench@2026-11-27T08:00:00+00:00")
    return report_rendered(run, schedule_id="bench", size=len(ATTACHMENT), rows=2400, sha256="-")


async def herald(port: int, emails: int, pool_size: int) -> float:
    rendered = _rendered()
    contents = compose.Contents(
        attached=(compose.Attachment(rendered.filename, rendered.content_type, ATTACHMENT),)
    )
    branding = BrandingSettings()
    pool = SmtpPool(SmtpSettings(host="127.0.0.1", port=port, pool_size=pool_size))

    async def claimed() -> bool:  # the mailer's ledger claim is a database round trip
        return True

    async def one(prepared: compose.Prepared, wire_rest: bytes, n: int) -> RunStatus:
        recipient = f"r{n}@example.com"
        wire = compose.recipient_head(prepared, recipient) + wire_rest
        result = await pool.send(wire, "reports@example.com", recipient, claimed)
        ok = result is not None and result.smtp_code == 250
        return RunStatus.DELIVERED if ok else RunStatus.FAILED

    try:
        started = time.perf_counter()
        # As the mailer does: the run's email once, then each recipient's copy.
        prepared = compose.prepare(
            rendered, branding=branding, from_address=FROM, contents=contents, now=datetime.now(UTC)
        )
        wire_rest = wire_form(prepared.rest)
        outcomes = await asyncio.gather(*(one(prepared, wire_rest, n) for n in range(emails)))
        rate = emails / (time.perf_counter() - started)
    finally:
        await pool.close()
    failed = outcomes.count(RunStatus.FAILED)
    if failed:
        raise SystemExit(f"{failed} emails were not accepted")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 emails")
    parser.add_argument("--emails", type=int, default=None, help="default 5,000 (1,000 quick)")
    parser.add_argument("--pool", type=int, default=10, help="pooled SMTP connections")
    parser.add_argument(
        "--smtp-port",
        type=int,
        default=None,
        help="use the SMTP server already on 127.0.0.1 at this port (Mailpit, say)",
    )
    args = parser.parse_args()
    emails = args.emails or (1000 if args.quick else 5000)
    port = args.smtp_port or free_port()
    server = None if args.smtp_port else start_smtp_sink(port)
    try:
        naive_rate = naive(port, emails)
        console.print(f"naive, a new smtplib connection per email: {naive_rate:,.0f} emails/s")
        cpu = time.process_time()
        herald_rate = asyncio.run(herald(port, emails, args.pool))
        cpu_ms = (time.process_time() - cpu) / emails * 1000
        console.print(
            f"Herald, compose + {args.pool} pooled connections: {herald_rate:,.0f} emails/s"
        )
        console.print(
            f"Herald's own CPU: {cpu_ms:.2f} ms per email, {1000 / cpu_ms:,.0f}/s if the "
            "server kept up (past that rate the server, on the same two cores, is the limit)"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    ratio = herald_rate / naive_rate
    console.print(f"{emails:,} emails with a {len(ATTACHMENT) // 1024} KB attachment; x{ratio:.2f}")
    print(
        f"BENCH mailer emails={emails} naive_per_s={naive_rate:.0f} "
        f"herald_per_s={herald_rate:.0f} ratio={ratio:.2f}"
    )


if __name__ == "__main__":
    main()
