"""One PDF measured in a fresh process that holds what a render worker holds (`bench/render.py`).

    python bench/pdf_process.py KIND HTML_FILE

The HTML comes composed (the service composes it, `pdf.compose`); this
process imports what a pool worker imports (`formats/worker.py`: WeasyPrint,
matplotlib, the chart data) and none of the models, and `bench/render.py` starts
it as the service starts a worker (`pool.WORKER_ENV`), so its peak RSS is a
worker's. KIND: `naive` (plain WeasyPrint), `herald` (the worker's call, no
chart), `chart` (one trend chart), `exec` (the Executive Dashboard's three).
Prints JSON: cold_s (from importing WeasyPrint to the first PDF), warm_s (the
median of three renders after the worker's start-up), rss_mb, bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from herald.services.renderer.formats.worker import (
    collected,
    own_temp_dir,
    prepare,
    settle,
    to_pdf,
    warm_up,
)
from herald.services.renderer.reports.chart import Chart, ChartKind, Series
from tests.memory import peak_rss_mb

BRAND = "#2f5d8a"
DAYS = tuple(f"{d} Nov" for d in range(1, 31))
TREND = Chart(
    "Calls per day",
    ChartKind.TREND,
    DAYS,
    (
        Series("Dialed", tuple(float(900 + 37 * d % 200) for d in range(30))),
        Series("Answered", tuple(float(300 + 23 * d % 90) for d in range(30))),
    ),
    "calls",
)
EXEC_CHARTS = (
    TREND,
    Chart("Conversions per day", ChartKind.TREND, DAYS, (Series("Sales", TREND.series[1].values),)),
    Chart(
        "Net by campaign",
        ChartKind.BARS,
        ("Solar Panel Leads", "Fibre Broadband Upgrade", "Home Insurance Renewals"),
        (Series("Net", (726.65, 429.02, 414.11)),),
    ),
)
CHARTS: dict[str, tuple[Chart, ...]] = {"chart": (TREND,), "exec": EXEC_CHARTS}


def measure(kind: str, html: str) -> dict[str, float]:
    charts = CHARTS.get(kind, ())

    def render() -> bytes:
        if kind == "naive":
            import weasyprint

            naive: bytes = weasyprint.HTML(string=html).write_pdf()
            return naive
        return collected(to_pdf, html, charts, BRAND)

    if kind == "naive":
        own_temp_dir()  # WeasyPrint as it comes, fontTools and all
    else:
        prepare()  # as a pool worker's initializer does first
    started = time.perf_counter()
    first = render()
    cold = time.perf_counter() - started
    if kind != "naive":
        settle(warm_up)  # as a pool worker is before its first job (`prepare` above)
    warm = []
    for _ in range(3):
        started = time.perf_counter()
        render()
        warm.append(time.perf_counter() - started)
    return {"cold_s": cold, "warm_s": sorted(warm)[1], "rss_mb": peak_rss_mb(), "bytes": len(first)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__ and __doc__.splitlines()[0])  # -OO
    parser.add_argument("kind", choices=("naive", "herald", "chart", "exec"))
    parser.add_argument("html_file", type=Path)
    args = parser.parse_args()
    print(json.dumps(measure(args.kind, args.html_file.read_text(encoding="utf-8"))))


if __name__ == "__main__":
    main()
