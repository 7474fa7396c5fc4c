"""PDF renders and chart drawings in a pool of worker processes, off the event loop.

Pebble's process pool gives what WeasyPrint and matplotlib need: a job that
runs past its time limit is killed (its worker replaced), and each worker is
recycled after a number of jobs, so a slow leak or a fragmented heap cannot
grow without bound. The consumer keeps its heartbeats and group membership
meanwhile.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TypeVar

from pebble import ProcessExpired, ProcessPool

from herald.services.renderer.formats import charts as drawing
from herald.services.renderer.formats.pdf import DEFAULT_ACCENT
from herald.services.renderer.formats.worker import (
    collected,
    figures,
    print_pdf,
    remove_dead_workers_files,
    start_printer,
    start_worker,
    to_pdf,
)
from herald.services.renderer.reports.chart import Chart
from herald.services.renderer.reports.model import SourceUnavailable

#: The environment the service starts its workers with (`__main__` sets it, and a spawned
#: worker inherits it): docstrings and asserts stripped, as `python -OO` does. The
#: docstrings of WeasyPrint, matplotlib and numpy were 7 MB of each worker's memory. The
#: stripped bytecode is compiled ahead (`make venv`, the image); the service process keeps
#: its own flags.
WORKER_ENV = {"PYTHONOPTIMIZE": "2"}


T = TypeVar("T")


class RenderTimeout(SourceUnavailable):
    """A render that overran its limit: transient, a later attempt may have more luck."""


class RenderCrashed(SourceUnavailable):
    """A worker died under a render (out of memory, killed): transient as well."""


@dataclass
class _Lane:
    """Workers of one kind: their pool, how many, and the jobs sent to it and not done."""

    pool: ProcessPool
    workers: int
    pending: int = 0

    @property
    def load(self) -> float:
        return self.pending / self.workers


class PdfPool:
    """`workers` that draw charts and print PDFs, and `print_workers` that only print.

    A print worker never imports matplotlib (nor numpy): about 60 MB against a full
    worker's 100-110. Each PDF goes to the kind of worker with the fewer jobs waiting
    per process, the print workers on a tie (only a full worker can draw the next
    charts); a PDF sent to a print worker has its charts drawn by a full worker first
    (`worker.figures`).
    """

    def __init__(
        self, workers: int, renders_per_worker: int, timeout_s: float, print_workers: int = 0
    ) -> None:
        self._timeout_s = timeout_s
        self._full = _Lane(_pool(workers, renders_per_worker, start_worker), workers)
        self._printers = (
            _Lane(_pool(print_workers, renders_per_worker, start_printer), print_workers)
            if print_workers
            else None
        )

    async def render(
        self, html: str, charts: Sequence[Chart] = (), brand: str = DEFAULT_ACCENT
    ) -> bytes:
        """The PDF, its charts drawn in a worker (`worker.to_pdf`, `worker.print_pdf`)."""
        full, printers = self._full, self._printers
        if printers is None or printers.load > full.load:  # drawn and printed in one job
            return await self._run(full, "rendering the PDF", to_pdf, html, tuple(charts), brand)
        drawn = (
            await self._run(full, "drawing the PDF's charts", figures, tuple(charts), brand)
            if charts
            else ()
        )
        return await self._run(printers, "rendering the PDF", print_pdf, html, drawn)

    async def png(self, chart: Chart, brand: str) -> bytes:
        """The chart as a PNG for the email, drawn in a worker like the PDF's."""
        return await self._run(self._full, "drawing a chart", drawing.png, chart, brand)

    async def _run(self, lane: _Lane, what: str, job: Callable[..., T], *args: object) -> T:
        lane.pending += 1
        try:
            future = lane.pool.schedule(collected, args=(job, *args), timeout=self._timeout_s)
            result: T = await asyncio.wrap_future(future)
        except FutureTimeout as exc:
            raise RenderTimeout(
                f"{what} took longer than {self._timeout_s:.0f} s and was stopped"
            ) from exc
        except (BrokenProcessPool, ProcessExpired) as exc:
            raise RenderCrashed(f"the render worker died while {what}: {exc}") from exc
        finally:
            lane.pending -= 1
        return result

    async def worker_pid(self, printer: bool = False) -> int:
        """The process id of the worker (a print worker's if `printer`) that takes the next
        job (it counts as a job)."""
        lane = self._printers if printer else self._full
        if lane is None:
            raise ValueError("this pool has no print workers")
        pid: int = await asyncio.wrap_future(lane.pool.schedule(os.getpid))
        return pid

    def close(self) -> None:
        for lane in (self._full, self._printers):
            if lane is not None:
                lane.pool.stop()  # type: ignore[no-untyped-call]
                lane.pool.join(timeout=10)
        remove_dead_workers_files()


def _pool(workers: int, renders_per_worker: int, start: Callable[[], None]) -> ProcessPool:
    return ProcessPool(
        max_workers=workers,
        max_tasks=renders_per_worker,
        initializer=start,
        context=multiprocessing.get_context("spawn"),
    )
