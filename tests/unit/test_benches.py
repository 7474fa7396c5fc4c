"""The benchmarks still run against today's code.

They are run by hand, so nothing else notices when a report's columns or a
function's signature change under them (bench/render.py once failed on the
Campaign Summary's new columns). Each bench is started with --help, and the
render bench's parts that need no infrastructure are run small; no figure is
asserted, only that a result comes out.
"""

from __future__ import annotations

import importlib
import math
import runpy
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if p.name != "common.py")


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_bench_starts(
    script: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", [script, "--help"])
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(BENCH / script), run_name="__main__")
    assert exited.value.code == 0
    assert "usage:" in capsys.readouterr().out


def _bench(name: str) -> ModuleType:
    """A bench script as a module (`bench.NAME`), imported from the checkout's root."""
    sys.path.insert(0, str(BENCH.parent))
    try:
        return importlib.import_module(f"bench.{name}")
    finally:
        sys.path.remove(str(BENCH.parent))


@pytest.mark.parametrize("kind", ["naive", "herald", "chart", "exec"])
def test_the_render_bench_measures_each_pdf_kind(kind: str) -> None:
    """Composed in this process, printed in a worker-like one (`pdf_process.py`)."""
    measured = _bench("render").measure(kind, 12)
    assert measured["bytes"] > 1000
    assert min(measured["cold_s"], measured["warm_s"], measured["rss_mb"]) > 0


def test_the_render_bench_composes_an_email() -> None:
    assert _bench("render").email_compose_ms(2) > 0


def test_the_e2e_bench_reads_the_history_lag_of_final_statuses_only() -> None:
    """The bound that holds every final status, from the scheduler's real exposition."""
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    e2e = _bench("e2e")
    registry = CollectorRegistry()
    lag = Histogram(
        "herald_history_lag_seconds", "", ["status"], buckets=(1, 20, 30, 45), registry=registry
    )
    assert math.isnan(e2e.final_lag_bound(generate_latest(registry).decode())), "none counted"
    for status, seconds in [("delivered", 0.5), ("delivered", 21), ("failed", 29), ("due", 40)]:
        lag.labels(status).observe(seconds)
    assert e2e.final_lag_bound(generate_latest(registry).decode()) == 30


def test_the_e2e_bench_times_a_status_from_its_runs_last_first_arrival() -> None:
    e2e = _bench("e2e")
    sender = "herald@example.com"
    lead, ops = (e2e.message_id("t/s@1", r, sender) for r in e2e.RECIPIENTS)
    arrivals = [(10.0, lead), (12.0, ops), (30.0, ops)]  # ops's second copy: no later delivery
    last = e2e.last_emails(["t/s@1", "t/s@2"], arrivals, sender)
    assert last == {"t/s@1": 12.0}
    assert e2e.status_after_email({"t/s@1": 13.5, "t/s@2": 99.0}, last) == 1.5
    assert e2e.history_lags({}, last, until=40.0) == [28.0], "never seen final: until the limit"


def test_the_e2e_bench_counts_what_the_stuck_timer_did() -> None:
    from prometheus_client import CollectorRegistry, Counter, generate_latest

    e2e = _bench("e2e")
    registry = CollectorRegistry()
    stuck = Counter("herald_stuck_runs", "", registry=registry)
    queued = Counter("herald_stuck_runs_queued", "", ["status"], registry=registry)

    def both() -> tuple[int, int]:
        metrics = generate_latest(registry).decode()
        return e2e.counted(metrics, e2e.STUCK_RUNS), e2e.counted(metrics, e2e.STUCK_RUNS_QUEUED)

    assert both() == (0, 0)
    stuck.inc(3)
    queued.labels("due").inc(2)
    queued.labels("rendered").inc(5)
    assert both() == (3, 7)
