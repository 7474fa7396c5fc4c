"""Pieces several benchmarks share: logging, settings, imported herds, seeded data, SMTP sinks."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import smtplib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from pymongo import AsyncMongoClient

from herald.cli import demo
from herald.services.renderer.calldata.groupings import GROUPINGS
from herald.services.scheduler.calendar import Calendar
from herald.services.scheduler.commands import ScheduleState
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.service import build_runtime
from herald.shared.runtime.settings import KafkaSettings, MongoSettings, Settings

REPO = Path(__file__).resolve().parent.parent
#: Where a seeded database records what it holds.
SEED_MARKER = "bench_seed"


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def bench_settings(label: str, database: str | None = None) -> Settings:
    """A topic prefix of its own, and a database of its own unless `database` names one."""
    name = f"bench-{label}-{uuid.uuid4().hex[:6]}"
    return Settings(
        kafka=KafkaSettings(
            bootstrap_servers=os.environ["HERALD_KAFKA__BOOTSTRAP_SERVERS"],
            topic_prefix=name,
            partitions=6,
        ),
        mongo=MongoSettings(
            url=os.environ["HERALD_MONGO__URL"], database=database or name.replace("-", "_")
        ),
    )


def herd_minute(lead_s: float) -> datetime:
    """The first whole minute at least `lead_s` from now."""
    at = datetime.now(UTC) + timedelta(seconds=lead_s)
    return (at + timedelta(minutes=1)).replace(second=0, microsecond=0)


def tenant_of_number(n: int) -> str:
    return f"tenant-{n % 50}"


async def import_schedules(
    settings: Settings,
    groups: Sequence[tuple[ScheduleSpec, int]],
    tenant_of: Callable[[int], str] = tenant_of_number,
) -> float:
    """`count` schedules per spec (ids `s-0000000` on), as CreateSchedule would leave them.

    Written spec by spec, so every slot document is written once; returns the seconds taken.
    """
    runtime = build_runtime("bench", settings)
    calendar = Calendar.for_import(runtime.db, settings)
    started = time.monotonic()
    now = datetime.now(UTC)
    first, total = 0, sum(count for _, count in groups)
    step = max(1, total // 10)
    for spec, count in groups:
        states = [
            ScheduleState(f"s-{n:07d}", tenant_of(n), spec, 1, None)
            for n in range(first, first + count)
        ]
        await calendar.import_schedules(states, now)
        if (first + count) // step > first // step or first + count == total:
            log(f"imported {first + count}/{total}")
        first += count
    await runtime.mongo.close()
    return time.monotonic() - started


# -- seeded demo data, reused while its parameters hold ----------------------------------------


def seed_parameters(calls: int, days: int, anchor: date, zone: ZoneInfo) -> Document:
    """What the stored data depends on: a change in any of them means seeding again.

    The tenant is not among them: each benchmark seeds its own database for one tenant.
    """
    generator = hashlib.sha256(Path(demo.__file__).read_bytes()).hexdigest()[:16]
    return {
        "calls": calls,
        "days": days,
        "anchor": anchor.isoformat(),
        "zone": zone.key,
        "seed": demo.DEFAULT_SEED,
        "generator": generator,
        "groupings": {g.name: g.signature for g in GROUPINGS},
    }


async def ensure_seed(
    client: AsyncMongoClient[Document],
    database: str,
    *,
    tenant_id: str,
    calls: int,
    days: int,
    anchor: date,
    zone: ZoneInfo,
    reseed: bool = False,
) -> float | None:
    """Seed unless `database` holds this very dataset; returns the seconds seeding took."""
    db = client[database]
    wanted = seed_parameters(calls, days, anchor, zone)
    marker = await db[SEED_MARKER].find_one({"_id": "seed"})
    if not reseed and marker is not None and marker.get("parameters") == wanted:
        log(f"reusing the {calls:,} calls seeded in {database} (--reseed to seed again)")
        return None
    await client.drop_database(database)
    log(f"seeding {calls:,} calls over {days} days into {database} ...")
    step = max(1, calls // 10)
    next_log = step

    def progress(done: int) -> None:
        nonlocal next_log
        if done >= next_log:
            log(f"  {done:,} calls ({done / (time.monotonic() - started):,.0f}/s)")
            next_log += step

    started = time.monotonic()
    written = await demo.seed(
        db, tenant_id=tenant_id, calls=calls, days=days, anchor=anchor, zone=zone, progress=progress
    )
    took = time.monotonic() - started
    # Written last: an interrupted seed leaves no marker, so the next run seeds again.
    await db[SEED_MARKER].replace_one(
        {"_id": "seed"}, {"parameters": wanted, "seconds": took, "written": written}, upsert=True
    )
    log(f"seeded {written:,} calls in {took:.0f} s ({written / took:,.0f} calls/s)")
    return took


# -- an SMTP server in its own process -------------------------------------------------------

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


class ArrivalLog:
    """aiosmtpd handler: accepts every message and appends `<epoch s>\\t<Message-ID>` to a file.

    The file is the benchmark's view of what reached the server and when; the
    message itself is discarded, as aiosmtpd's Sink does. With `delay_s` it
    answers each message that long after receiving it (a slow provider), and
    the time logged is the answer's: when the sender learns it was accepted.
    """

    def __init__(self, path: str, delay_s: float = 0.0) -> None:
        self._out: TextIO = Path(path).open("a", buffering=1)  # noqa: SIM115 - lives with the server
        self._delay_s = delay_s

    @classmethod
    def from_cli(cls, parser: Any, *args: str) -> ArrivalLog:
        if len(args) not in (1, 2):
            parser.error("ArrivalLog takes the file to append arrivals to, then a delay in seconds")
        return cls(args[0], float(args[1]) if len(args) == 2 else 0.0)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self._delay_s:
            await asyncio.sleep(self._delay_s)
        arrived = time.time()
        content: bytes = envelope.original_content or envelope.content or b""
        headers = content.split(b"\r\n\r\n", 1)[0]
        found = _MESSAGE_ID.search(headers)
        message_id = found.group(1).decode(errors="replace") if found else "-"
        for _ in envelope.rcpt_tos:
            self._out.write(f"{arrived:.3f}\t{message_id}\n")
        return "250 OK"


def read_arrivals(path: Path) -> list[tuple[float, str]]:
    """What an `ArrivalLog` recorded: (arrival epoch seconds, Message-ID) per accepted message."""
    if not path.exists():
        return []
    arrivals = []
    for line in path.read_text().splitlines():
        at, _, message_id = line.partition("\t")
        arrivals.append((float(at), message_id))
    return arrivals


def start_smtp_sink(port: int, *handler: str) -> subprocess.Popen[bytes]:
    """aiosmtpd on 127.0.0.1:`port` in its own process; `handler` is a class path and its args."""
    handler_args = handler or ("aiosmtpd.handlers.Sink",)
    command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"]
    command += ["-c", *handler_args]
    server = subprocess.Popen(command, cwd=REPO)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the SMTP server exited at once: {' '.join(command)}")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=1) as probe:
                probe.noop()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the SMTP server did not start")
