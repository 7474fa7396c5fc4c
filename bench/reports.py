"""Report timings: the 14 standard reports over a day, a week and a month of 1,000,000 calls.

    .venv/bin/python bench/reports.py [--quick] [--reseed] [--raw] [--mongo-url URL]

Against the server at HERALD_MONGO__URL (FerretDB on PostgreSQL from
`deploy/local/infra up`), or the one --mongo-url names (a real MongoDB):
1. Seeds the demo dataset (`shared/demo.py`) into the database
   `herald_bench_reports`: 1,000,000 calls over 60 local days (--quick: 100,000).
   A marker document records the seed's parameters; a later run with the same
   ones reuses the data instead of seeding for minutes again (--reseed forces it).
2. Times each standard report as the renderer gets it (`MongoSource.fetch`, then
   every row drained) for the day, the week and the 30 days before the anchor,
   and the same 30 days in America/New_York (a schedule in another zone than the
   data's: its first and last data days are cut, so their calls are grouped raw
   and their sessions clipped); the CDR only for the day there.
3. Streams the CDR over the whole dataset through the CSV writer into a null sink,
   in a child process, for its peak RSS and rows/s; and times a plain `find` of
   the latest 20,000 calls, the most any CDR export can get from the server.
4. With --raw, each aggregating report's month again from the raw calls (no
   roll-ups): minutes on FerretDB.
Ends with `BENCH reports calls=N worst_day_s=... worst_week_s=... worst_month_s=...
worst_month_other_zone_s=... cdr_rss_mb=...`, the worst over the 13 aggregating
reports (the CDR is measured apart).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from rich.console import Console
from rich.table import Table as RichTable

from bench import common
from bench.common import log
from herald.services.renderer.calldata.days import day_bounds
from herald.services.renderer.calldata.store import calls_collection
from herald.services.renderer.formats.csv_writer import RowCounter, csv_chunks
from herald.services.renderer.reports.model import ReportRequest, rows_of
from herald.services.renderer.reports.mongo_source import MongoSource
from herald.shared.contract.catalog import STANDARD_REPORTS
from herald.shared.contract.messages import DataWindow
from herald.shared.contract.schedule_spec import Filters, ReportRef
from herald.shared.runtime.mongo import Document, connect
from herald.shared.runtime.settings import MongoSettings, Settings
from tests.memory import peak_rss_mb

DATABASE = "herald_bench_reports"
TENANT = "bench"
ZONE = ZoneInfo("Europe/London")
#: The schedule's zone of the last window: five hours behind the data's in March.
OTHER_ZONE = ZoneInfo("America/New_York")
#: A Thursday: the one-day window is a Wednesday, a full working day.
ANCHOR = date(2026, 3, 5)
#: Each window timed: local days before the anchor, in the schedule's zone.
WINDOWS = {
    "day": (1, ZONE),
    "week": (7, ZONE),
    "month": (30, ZONE),
    "month, New York": (30, OTHER_ZONE),
}
MONTH_TARGET_S = 10.0
CDR_RSS_TARGET_MB = 150
AGGREGATING = [report_id for report_id in STANDARD_REPORTS if report_id != "cdr"]

console = Console()


def window(days: int, zone: ZoneInfo) -> DataWindow:
    """The `days` local days before the anchor, as a schedule in `zone` asks for them."""
    start = day_bounds(ANCHOR - timedelta(days=days), zone)[0]
    end = day_bounds(ANCHOR, zone)[0]
    return DataWindow(start=start, end=end, timezone=zone.key)


def request(report_id: str, days: int, zone: ZoneInfo = ZONE) -> ReportRequest:
    return ReportRequest(TENANT, ReportRef(id=report_id), window(days, zone), Filters())


def mongo_client(url: str) -> AsyncMongoClient[Document]:
    return connect(Settings(mongo=MongoSettings(url=url, database=DATABASE)), "herald-bench")


async def server_name(client: AsyncMongoClient[Document]) -> str:
    info = await client.admin.command("buildInfo")
    if "ferretdbVersion" in info:
        return f"FerretDB {info['ferretdbVersion']}"
    return f"MongoDB {info.get('version', '?')}"


# -- 1. the dataset --------------------------------------------------------------------------


async def ensure_seed(
    client: AsyncMongoClient[Document], calls: int, days: int, reseed: bool
) -> float | None:
    """Seed unless the database holds this very dataset; returns the seconds seeding took."""
    return await common.ensure_seed(
        client,
        DATABASE,
        tenant_id=TENANT,
        calls=calls,
        days=days,
        anchor=ANCHOR,
        zone=ZONE,
        reseed=reseed,
    )


# -- 2. the reports --------------------------------------------------------------------------


async def time_report(
    source: MongoSource, report_id: str, days: int, zone: ZoneInfo = ZONE
) -> tuple[float, int]:
    """Seconds to fetch the report and drain every row of it; and how many rows there were."""
    started = time.perf_counter()
    data = await source.fetch(request(report_id, days, zone))
    rows = 0
    for table in data.tables:
        async for _row in rows_of(table):
            rows += 1
    return time.perf_counter() - started, rows


@dataclass
class Timings:
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    rows: dict[tuple[str, str], int] = field(default_factory=dict)

    def worst(self, name: str) -> float:
        return max(self.seconds[report_id, name] for report_id in AGGREGATING)


async def time_reports(db: AsyncDatabase[Document], raw: bool) -> Timings:
    timings = Timings()
    rolled = MongoSource(db, ZONE)
    for report_id in STANDARD_REPORTS:
        names = ["day"] if report_id == "cdr" else list(WINDOWS)
        for name in names:
            took, rows = await time_report(rolled, report_id, *WINDOWS[name])
            timings.seconds[report_id, name], timings.rows[report_id, name] = took, rows
        spent = ", ".join(f"{n} {timings.seconds[report_id, n]:.2f} s" for n in names)
        log(f"{report_id}: {spent}")
    if raw:
        unrolled = MongoSource(db, ZONE, use_rollups=False)
        for report_id in AGGREGATING:
            took, _rows = await time_report(unrolled, report_id, *WINDOWS["month"])
            timings.seconds[report_id, "month raw"] = took
            log(f"{report_id}: month from raw calls {took:.1f} s")
    return timings


def print_timings(timings: Timings, server: str, raw: bool) -> None:
    names = [*WINDOWS, *(["month raw"] if raw else [])]

    def cell(report_id: str, name: str) -> str:
        if (report_id, name) in timings.seconds:
            return f"{timings.seconds[report_id, name]:.2f}"
        return "streamed below" if name in WINDOWS else "-"

    table = RichTable(title=f"Standard reports on {server} (seconds; rows: month, CDR: day)")
    for heading in ("report", *names, "rows"):
        table.add_column(heading, justify="left" if heading == "report" else "right")
    for report_id, title in STANDARD_REPORTS.items():
        rows = timings.rows.get((report_id, "month"), timings.rows.get((report_id, "day"), 0))
        table.add_row(title, *(cell(report_id, name) for name in names), f"{rows:,}")
    console.print(table)


# -- 3. the CDR, streamed --------------------------------------------------------------------


async def stream_cdr(url: str, days: int) -> dict[str, float]:
    client = mongo_client(url)
    try:
        data = await MongoSource(client[DATABASE], ZONE).fetch(request("cdr", days))
        counter, size = RowCounter(), 0
        started = time.perf_counter()
        async for chunk in csv_chunks(data, counter):
            size += len(chunk)  # the null sink: counted, then dropped
        took = time.perf_counter() - started
    finally:
        await client.close()
    return {"rows": counter.rows, "bytes": size, "seconds": took, "rss_mb": peak_rss_mb()}


def cdr_child(url: str, days: int, results: Connection) -> None:
    """The CDR export alone in a fresh process, so its peak RSS is the export's own."""
    results.send(asyncio.run(stream_cdr(url, days)))


def cdr_in_child(url: str, days: int) -> dict[str, float]:
    spawn = multiprocessing.get_context("spawn")
    receiver, sender = spawn.Pipe(duplex=False)
    child = spawn.Process(target=cdr_child, args=(url, days, sender))
    child.start()
    sender.close()
    figures: dict[str, float] = receiver.recv()
    child.join()
    if child.exitcode:
        raise SystemExit(f"the CDR child failed with exit code {child.exitcode}")
    return figures


async def plain_find_rate(db: AsyncDatabase[Document], days: int) -> float:
    """Documents per second a bare cursor gets from the server: the days before the anchor,
    one collection after the other, until 20,000 calls are read (or the data ends).
    """
    count, started = 0, time.perf_counter()
    for back in range(1, days + 1):
        collection = db[calls_collection(ANCHOR - timedelta(days=back))]
        async for _doc in collection.find({"tenant_id": TENANT}, batch_size=1000):
            count += 1
        if count >= 20_000:
            break
    return count / (time.perf_counter() - started)


# -- the run ---------------------------------------------------------------------------------


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 calls instead of 1,000,000")
    parser.add_argument("--calls", type=int, help="calls to seed (overrides --quick)")
    parser.add_argument("--days", type=int, default=60, help="local days of calls (default 60)")
    parser.add_argument("--reseed", action="store_true", help="seed again even if the data fits")
    parser.add_argument("--raw", action="store_true", help="also each month from raw calls")
    parser.add_argument(
        "--mongo-url",
        default=os.environ.get("HERALD_MONGO__URL"),
        help="MongoDB or FerretDB to use (default: HERALD_MONGO__URL)",
    )
    args = parser.parse_args()
    if not args.mongo_url:
        parser.error("no server: pass --mongo-url or set HERALD_MONGO__URL")
    calls = args.calls or (100_000 if args.quick else 1_000_000)
    if args.days < WINDOWS["month"][0] * 2:
        parser.error("--days must cover two months: the dashboard compares the one before")

    client = mongo_client(args.mongo_url)
    try:
        server = await server_name(client)
        log(f"server: {server}")
        await ensure_seed(client, calls, args.days, args.reseed)
        db = client[DATABASE]
        timings = await time_reports(db, args.raw)
        find_rate = await plain_find_rate(db, args.days)
    finally:
        await client.close()
    log(f"streaming the CDR over all {calls:,} calls in a child process ...")
    cdr = cdr_in_child(args.mongo_url, args.days)
    cdr_rate, rss_mb = cdr["rows"] / cdr["seconds"], cdr["rss_mb"]

    print_timings(timings, server, args.raw)
    worst = {name: timings.worst(name) for name in WINDOWS}
    months = ("month", "month, New York")
    slow = [r for r in AGGREGATING if max(timings.seconds[r, m] for m in months) > MONTH_TARGET_S]
    verdict = "all within it" if not slow else "over it: " + ", ".join(slow)
    print(f"month target {MONTH_TARGET_S:.0f} s per aggregating report: {verdict}")
    if args.raw:
        worst_raw = max(timings.seconds[r, "month raw"] for r in AGGREGATING)
        print(
            f"from raw calls the worst month takes {worst_raw:.1f} s: grouping reads every call "
            f"of the month, at the server's document rate; the roll-ups avoid exactly that"
        )
    print(
        f"CDR over {cdr['rows']:,.0f} calls: {cdr['seconds']:.0f} s, {cdr_rate:,.0f} rows/s, "
        f"{cdr['bytes'] / 2**20:,.0f} MB of CSV, peak RSS {rss_mb:.0f} MB "
        f"({'within' if rss_mb < CDR_RSS_TARGET_MB else 'over'} the {CDR_RSS_TARGET_MB} MB target)"
    )
    print(f"a plain find of the latest calls on {server}: {find_rate:,.0f} documents/s")
    if cdr_rate >= 0.7 * find_rate:
        print(
            f"the CDR runs at {cdr_rate / find_rate:.0%} of what the server's cursor delivers: "
            f"{server}, not Herald, is the limit"
        )
    print(
        f"BENCH reports calls={calls} worst_day_s={worst['day']:.2f} "
        f"worst_week_s={worst['week']:.2f} worst_month_s={worst['month']:.2f} "
        f"worst_month_other_zone_s={worst['month, New York']:.2f} cdr_rss_mb={rss_mb:.0f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
