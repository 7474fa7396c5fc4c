"""PDF rendering in a pool of worker processes, off the event loop.

Pebble's process pool gives what WeasyPrint needs: a render that runs past its
time limit is killed (its worker replaced), and each worker is recycled after
a number of renders, so a slow leak or a fragmented heap cannot grow without
bound. The consumer keeps its heartbeats and group membership meanwhile.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from pebble import ProcessExpired, ProcessPool

from herald.services.renderer.formats.pdf import to_pdf, warm_up
from herald.services.renderer.reports.model import SourceUnavailable


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
            initializer=warm_up,
            context=multiprocessing.get_context("spawn"),
        )

    async def render(self, html: str) -> bytes:
        future = self._pool.schedule(to_pdf, args=(html,), timeout=self._timeout_s)
        try:
            return await asyncio.wrap_future(future)
        except FutureTimeout as exc:
            raise RenderTimeout(
                f"the PDF render took longer than {self._timeout_s:.0f} s and was stopped"
            ) from exc
        except (BrokenProcessPool, ProcessExpired) as exc:
            raise RenderCrashed(f"the PDF worker died while rendering: {exc}") from exc

    async def worker_pid(self) -> int:
        """The process id of the worker that takes the next job (it counts as a job)."""
        pid: int = await asyncio.wrap_future(self._pool.schedule(os.getpid))
        return pid

    def close(self) -> None:
        self._pool.stop()  # type: ignore[no-untyped-call]
        self._pool.join(timeout=10)
