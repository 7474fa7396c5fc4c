"""PDF renders and chart drawings in a pool of worker processes, off the event loop.

Pebble's process pool gives what WeasyPrint and matplotlib need: a job that
runs past its time limit is killed (its worker replaced), and each worker is
recycled after a number of jobs, so a slow leak or a fragmented heap cannot
grow without bound. The consumer keeps its heartbeats and group membership
meanwhile.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from pebble import ProcessExpired, ProcessPool

from herald.services.renderer.formats import charts as drawing
from herald.services.renderer.formats.pdf import DEFAULT_ACCENT, to_pdf, warm_up
from herald.services.renderer.reports.model import Chart, SourceUnavailable


class RenderTimeout(SourceUnavailable):
    """A render that overran its limit: transient, a later attempt may have more luck."""


class RenderCrashed(SourceUnavailable):
    """A worker died under a render (out of memory, killed): transient as well."""


def start_worker() -> None:
    """A worker's initializer: warmed up (`pdf.warm_up`), then what start-up built is
    frozen out of the garbage collector's view (`gc.freeze`).

    A render allocates enough for several full collections, and each walked all of
    start-up's objects: 5 % of a 1,000-row PDF. Raising the thresholds instead saved
    3 % more but cost 30 MB.
    """
    warm_up()
    gc.collect()  # what start-up left over is freed, not frozen
    gc.freeze()


def collected(job: Callable[..., bytes], *args: object) -> bytes:
    """Runs in a worker: the job, then a collection of what it left behind.

    A render's boxes and a chart's artists are webs of reference cycles; left to
    the collector's own schedule they piled up between full collections (a peak
    of 182 MB over 250 charts, against 147 MB collected after each; the e2e
    herd's renderer 432 -> 396 MB). With the worker's start-up frozen
    (`start_worker`) a collection walks only the job's leftovers: 12 ms after a
    370 ms PDF, some of which the collector would have spent anyway.
    """
    try:
        return job(*args)
    finally:
        gc.collect()


class PdfPool:
    def __init__(self, workers: int, renders_per_worker: int, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._pool = ProcessPool(
            max_workers=workers,
            max_tasks=renders_per_worker,
            initializer=start_worker,
            context=multiprocessing.get_context("spawn"),
        )

    async def render(
        self, html: str, charts: Sequence[Chart] = (), brand: str = DEFAULT_ACCENT
    ) -> bytes:
        """The PDF, its charts drawn in the worker (`pdf.to_pdf`)."""
        return await self._run("rendering the PDF", to_pdf, html, tuple(charts), brand)

    async def png(self, chart: Chart, brand: str) -> bytes:
        """The chart as a PNG for the email, drawn in a worker like the PDF's."""
        return await self._run("drawing a chart", drawing.png, chart, brand)

    async def _run(self, what: str, job: Callable[..., bytes], *args: object) -> bytes:
        future = self._pool.schedule(collected, args=(job, *args), timeout=self._timeout_s)
        try:
            result: bytes = await asyncio.wrap_future(future)
        except FutureTimeout as exc:
            raise RenderTimeout(
                f"{what} took longer than {self._timeout_s:.0f} s and was stopped"
            ) from exc
        except (BrokenProcessPool, ProcessExpired) as exc:
            raise RenderCrashed(f"the render worker died while {what}: {exc}") from exc
        return result

    async def worker_pid(self) -> int:
        """The process id of the worker that takes the next job (it counts as a job)."""
        pid: int = await asyncio.wrap_future(self._pool.schedule(os.getpid))
        return pid

    def close(self) -> None:
        self._pool.stop()  # type: ignore[no-untyped-call]
        self._pool.join(timeout=10)
