"""Renderer benchmark: Herald's PDF path against a naive WeasyPrint table, charts, the email,
CSV speed, pool gain.

    python bench/render.py [--quick]

- PDF, side by side, for 30, 300, 1,000 and 2,000 rows (--quick skips 2,000):
  WeasyPrint on a naive one-<table> HTML of the same data, and Herald's path
  (`services/renderer/formats/pdf.py`: measured layout, tagged PDF/UA, as a
  pool worker prints it), without a chart and with one (a 30-day trend).
  Herald's HTML is composed here, as the service composes it, and printed in
  a new process that holds only what a pool worker holds (`pdf_process.py`:
  no models) and runs as the service runs its workers (`pool.WORKER_ENV`:
  docstrings stripped). "cold": the time to compose, plus the new process's from
  importing WeasyPrint (and matplotlib, for a chart) to the finished PDF; its
  peak RSS. "warm": the time to compose plus a later render in that process,
  set up as a pool worker is (`worker.start_worker`).
- The Executive Dashboard's PDF with its three charts and six tiles, warm.
- The email: composing an HTML run's message (tiles, one inline chart PNG,
  the table) once its render is stored, as the mailer does per run.
- CSV: rows per second from a row stream through the CSV writer into GridFS
  (on the MongoDB at HERALD_MONGO__URL), and the writer alone. FerretDB's own
  cursor delivers far fewer rows per second than this (see bench/reports.py):
  there the database, not Herald, bounds a CDR export.
- Pool: one-page PDFs per minute with the process pool (2 workers) against
  one process rendering them one after another.

Ends with: BENCH render naive1000_s=... pdf1000_s=... pdf1000_warm_s=...
pdf1000_rss_mb=... chart_pdf1000_s=... chart_pdf1000_warm_s=... chart_pdf1000_rss_mb=...
exec3_warm_s=... email_compose_ms=... csv_rows_per_s=... pool_ratio=...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from html import escape
from pathlib import Path

from rich.console import Console
from rich.table import Table as RichTable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pdf_process import BRAND, CHARTS, EXEC_CHARTS, TREND
from herald.services.renderer.formats import pdf
from herald.services.renderer.formats.cells import DisplayTable, display_row
from herald.services.renderer.formats.worker import to_pdf
from herald.services.renderer.pool import WORKER_ENV, PdfPool
from herald.services.renderer.reports.chart import Chart
from herald.services.renderer.reports.model import Row
from herald.services.renderer.reports.standard.activity import CAMPAIGN_SUMMARY
from herald.shared.contract.messages import HeadlineTile, Tone

console = Console()
#: The Campaign Summary's outbound table, 14 columns: a typical wide aggregate report.
COLUMNS = CAMPAIGN_SUMMARY.layouts[0].columns


def rows(n: int) -> list[Row]:
    return [
        (
            f"Campaign {i:04d} renewals",
            1000 + i,
            400 + i % 97,
            300 - i % 13,
            20 + i % 7,
            i % 11,
            Decimal(400 + i % 200) / 10,
            Decimal(i % 50) / 10,
            Decimal(i % 40) / 10,
            "over the ceiling" if i % 40 > 30 else "",
            33 + i % 17,
            Decimal(80 + i % 40) / 10,
            Decimal(12345 + i) / 10,
            240 + i % 120,
        )
        for i in range(n)
    ]


TILES = [
    HeadlineTile(label=label, value="2,921", previous="3,079", change="\u22125.1 %", tone=Tone.BAD)
    for label in ("Calls", "Contact rate %", "Conversions", "Revenue", "Net", "ROI %")
]


DEFINITIONS = "https://platform.example.com/docs/report-definitions"


def heading() -> pdf.Heading:
    return pdf.Heading(
        "Acme Contact Center",
        None,
        "https://platform.example.com/reports/standard/campaign_summary",
        "Campaign Summary",
        "2026-11-01 to 2026-11-30",
        "Europe/Berlin",
        "All campaigns and agents",
        "2026-12-01 08:00 UTC",
        (),
        DEFINITIONS,
    )


def table(n: int) -> DisplayTable:
    data = rows(n)
    return DisplayTable(
        None, COLUMNS, [display_row(COLUMNS, row) for row in data], display_row(COLUMNS, data[0]), n
    )


def herald_html(n: int, charts: tuple[Chart, ...] = ()) -> str:
    return pdf.compose(heading(), [table(n)], TILES[:5] if charts else (), charts)


def exec_html() -> str:
    return pdf.compose(heading(), [table(5)], TILES, EXEC_CHARTS)


def naive_html(n: int) -> str:
    head = "".join(f"<th>{escape(c.label)}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(v)}</td>" for v in display_row(COLUMNS, row)) + "</tr>"
        for row in rows(n)
    )
    return (
        "<html><head><style>@page { size: A4 landscape; margin: 12mm }"
        " table { border-collapse: collapse; font: 7pt sans-serif } td, th { padding: 1pt 3pt }"
        " thead { display: table-header-group }</style></head><body><h1>Campaign Summary</h1>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></body></html>"
    )


def email_compose_ms(runs: int) -> float:
    """Median time to compose an HTML run's email: tiles, one chart PNG, a 50-row table."""
    from herald.services.mailer.compose import Attachment, Contents, prepare
    from herald.services.renderer.formats import charts, html
    from herald.shared.runtime.settings import BrandingSettings
    from tests.samples import report_rendered, run_details

    png = charts.png(TREND, BRAND)
    fragment = html.fragment([table(50)], [TREND], definitions=DEFINITIONS)
    rendered = report_rendered(run_details(), headlines=TILES)
    contents = Contents(
        inline_html=fragment, images=((html.chart_cid(0), Attachment("c.png", "image/png", png)),)
    )
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        prepare(
            rendered,
            branding=BrandingSettings(),
            from_address="reports@example.com",
            contents=contents,
            now=datetime(2026, 12, 1, 8),
        )
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2] * 1000


def measure(kind: str, n: int) -> dict[str, float]:
    """Composed here, as the service does, and printed in a fresh worker-like process
    (`pdf_process.py`); the time to compose is added to its cold and warm times."""
    started = time.perf_counter()
    if kind == "naive":
        html = naive_html(n)
    else:
        html = exec_html() if kind == "exec" else herald_html(n, CHARTS.get(kind, ()))
    composed = time.perf_counter() - started
    with tempfile.NamedTemporaryFile("w", suffix=".html", encoding="utf-8") as file:
        file.write(html)
        file.flush()
        out = subprocess.run(
            [sys.executable, str(Path(__file__).with_name("pdf_process.py")), kind, file.name],
            check=True,
            capture_output=True,
            text=True,
        )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    if kind != "naive":
        result["cold_s"] += composed
        result["warm_s"] += composed
    return result


async def csv_rates(total: int) -> tuple[float, float, str]:
    """Rows/s through the CSV writer alone, and from a row stream into GridFS."""
    from herald.services.renderer.formats.csv_writer import RowCounter, csv_chunks
    from herald.services.renderer.reports.model import ReportData, Table
    from herald.services.renderer.reports.standard import CDR_COLUMNS
    from herald.shared.runtime.artifacts import ArtifactStore
    from herald.shared.runtime.mongo import connect
    from herald.shared.runtime.settings import Settings

    started_at = datetime(2026, 11, 2, 9, 0)
    call: Row = (
        started_at,
        "call-000001",
        "outbound",
        "acme-renewals",
        "renewals-a",
        "lead-004211",
        None,
        "agent-07",
        "+1 555 *** 0123",
        "answered",
        "Not interested",
        "Bandwidth",
        "NORMAL_CLEARING",
        4,
        12,
        184,
        0,
        22,
        Decimal("0.42"),
        False,
        Decimal("0.00"),
    )

    def report() -> ReportData:
        async def stream() -> AsyncIterator[Row]:
            for _ in range(total):
                yield call

        return ReportData("CDR Report", (Table(CDR_COLUMNS, stream()),))

    started = time.perf_counter()
    async for _chunk in csv_chunks(report(), RowCounter()):
        pass
    writer_rate = total / (time.perf_counter() - started)

    settings = Settings()
    client = connect(settings, "herald-bench")
    db = client["herald_bench_render"]
    try:
        store = ArtifactStore(db)
        started = time.perf_counter()
        stored = await store.put(
            "bench/cdr.csv", "cdr.csv", "text/csv", csv_chunks(report(), RowCounter()), {}
        )
        gridfs_rate = total / (time.perf_counter() - started)
        size = f"{stored.size / 1e6:.0f} MB"
        await store.delete("bench/cdr.csv")
    finally:
        await client.close()
    return writer_rate, gridfs_rate, size


async def pool_ratio(renders: int) -> tuple[float, float]:
    """One-page PDFs per minute: one process rendering alone, then the pool of 2 workers."""
    html = herald_html(30)
    to_pdf(html, (), BRAND)  # this process, warmed up like a worker
    started = time.perf_counter()
    for _ in range(renders):
        to_pdf(html, (), BRAND)
    alone = renders / (time.perf_counter() - started) * 60
    pool = PdfPool(workers=2, renders_per_worker=1000, timeout_s=120)
    try:
        await asyncio.gather(*(pool.render(html) for _ in range(4)))  # warm both workers
        started = time.perf_counter()
        await asyncio.gather(*(pool.render(html) for _ in range(renders)))
        pooled = renders / (time.perf_counter() - started) * 60
    finally:
        pool.close()
    return alone, pooled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 2,000-row case")
    args = parser.parse_args()
    os.environ.update(WORKER_ENV)  # for the processes started here, as the service's entry does
    sizes = (30, 300, 1000) if args.quick else (30, 300, 1000, 2000)
    shown = RichTable(
        "rows",
        "naive cold s",
        "naive warm s",
        "naive MB",
        "Herald cold s",
        "Herald warm s",
        "Herald MB",
        title="PDF: WeasyPrint naive <table> vs Herald's layout (tagged)",
    )
    results: dict[tuple[str, int], dict[str, float]] = {}
    for n in sizes:
        for kind in ("naive", "herald"):
            results[kind, n] = measure(kind, n)
        naive, herald = results["naive", n], results["herald", n]
        shown.add_row(
            f"{n:,}",
            f"{naive['cold_s']:.2f}",
            f"{naive['warm_s']:.2f}",
            f"{naive['rss_mb']:.0f}",
            f"{herald['cold_s']:.2f}",
            f"{herald['warm_s']:.2f}",
            f"{herald['rss_mb']:.0f}",
        )
        console.print(f"measured {n} rows")
    console.print(shown)
    chart = measure("chart", 1000)
    exec3 = measure("exec", 0)
    console.print(
        f"PDF with one chart, 1,000 rows: cold {chart['cold_s']:.2f} s, warm "
        f"{chart['warm_s']:.2f} s, {chart['rss_mb']:.0f} MB; Executive Dashboard, 3 charts "
        f"and 6 tiles: warm {exec3['warm_s']:.2f} s"
    )
    compose_ms = email_compose_ms(50)
    console.print(f"an HTML run's email (tiles, a chart, 50 rows) composed in {compose_ms:.1f} ms")

    total = 200_000 if args.quick else 1_000_000
    writer_rate, gridfs_rate, size = asyncio.run(csv_rates(total))
    console.print(
        f"CSV, {total:,} CDR rows ({size}): writer alone {writer_rate:,.0f} rows/s; "
        f"stream -> CSV -> GridFS {gridfs_rate:,.0f} rows/s"
    )
    single, pooled = asyncio.run(pool_ratio(12 if args.quick else 40))
    ratio = pooled / single
    console.print(
        f"one-page PDFs per minute: one process {single:.0f}, pool of 2 {pooled:.0f} (x{ratio:.2f})"
    )
    herald, naive = results["herald", 1000], results["naive", 1000]
    print(
        f"BENCH render naive1000_s={naive['cold_s']:.2f} pdf1000_s={herald['cold_s']:.2f} "
        f"pdf1000_warm_s={herald['warm_s']:.2f} pdf1000_rss_mb={herald['rss_mb']:.0f} "
        f"chart_pdf1000_s={chart['cold_s']:.2f} chart_pdf1000_warm_s={chart['warm_s']:.2f} "
        f"chart_pdf1000_rss_mb={chart['rss_mb']:.0f} exec3_warm_s={exec3['warm_s']:.2f} "
        f"email_compose_ms={compose_ms:.1f} csv_rows_per_s={gridfs_rate:.0f} pool_ratio={ratio:.2f}"
    )


if __name__ == "__main__":
    main()
