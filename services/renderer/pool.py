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

from pebble import ProcessExpired, ProcessPool

from herald.services.renderer.formats import charts as drawing
from herald.services.renderer.formats.pdf import DEFAULT_ACCENT
from herald.services.renderer.formats.worker import (
    collected,
    remove_dead_workers_files,
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


class RenderTimeout(SourceUnavailable):
    """A render that overran its limit: transient, a later attempt may have more luck."""


class RenderCrashed(SourceUnavailable):
    """A worker died under a render (out of memory, killed): transient as well."""


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
        """The PDF, its charts drawn in the worker (`worker.to_pdf`)."""
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
        remove_dead_workers_files()
