"""Which worker a PDF goes to (`PdfPool.render`): a print worker when it has no more jobs
waiting per process than the full workers, its charts drawn by a full worker first;
otherwise a full worker, in one job. On recording pools: no process is started."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

from herald.services.renderer.formats import worker
from herald.services.renderer.pool import PdfPool
from herald.services.renderer.reports.chart import Chart, ChartKind, Series

CHART = Chart("Calls per day", ChartKind.TREND, ("1", "2"), (Series("calls", (3.0, 4.0)),))


class Recording:
    """A worker pool that runs nothing: it notes each job and answers at once."""

    def __init__(self) -> None:
        self.jobs: list[Any] = []

    def schedule(self, function: Any, args: tuple[Any, ...], timeout: float) -> Future[Any]:
        job = args[0]  # `collected(job, *args)`
        self.jobs.append(job)
        answer: Future[Any] = Future()
        answer.set_result(("<img>",) if job is worker.figures else b"%PDF")
        return answer


def pools(print_workers: int) -> tuple[PdfPool, Recording, Recording]:
    pool = PdfPool(workers=1, renders_per_worker=10, timeout_s=60, print_workers=print_workers)
    full, printers = Recording(), Recording()
    pool._full.pool = full  # type: ignore[assignment]
    if pool._printers is not None:
        pool._printers.pool = printers  # type: ignore[assignment]
    return pool, full, printers


async def test_without_print_workers_a_pdf_is_one_job_of_a_full_worker() -> None:
    pool, full, _ = pools(print_workers=0)
    assert await pool.render("<!--chart 0-->", [CHART]) == b"%PDF"
    assert full.jobs == [worker.to_pdf]


async def test_with_both_kinds_idle_the_print_worker_prints_what_a_full_worker_drew() -> None:
    pool, full, printers = pools(print_workers=1)
    assert await pool.render("<!--chart 0-->", [CHART]) == b"%PDF"
    assert full.jobs == [worker.figures]
    assert printers.jobs == [worker.print_pdf]
    await pool.render("<h1>no chart</h1>")
    assert full.jobs == [worker.figures]  # nothing to draw: nothing asked of a full worker
    assert printers.jobs == [worker.print_pdf, worker.print_pdf]


async def test_a_busier_print_worker_leaves_the_pdf_to_a_full_worker() -> None:
    pool, full, printers = pools(print_workers=1)
    assert pool._printers is not None
    pool._printers.pending = 1  # a PDF of its own still printing
    await pool.render("<!--chart 0-->", [CHART])
    assert full.jobs == [worker.to_pdf]
    assert printers.jobs == []
