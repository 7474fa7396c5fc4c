"""PDF renders run in worker processes: time limits kill, workers recycle, the loop stays free."""

from __future__ import annotations

import asyncio
import time

import pytest

from herald.services.renderer.pool import PdfPool, RenderTimeout

pytestmark = pytest.mark.integration

PAGE = "<h1>Report</h1>" + "<p>line</p>" * 50
#: Heavy enough to outlast a tiny time limit: thousands of table cells.
HEAVY = "<table>" + ("<tr>" + "<td>cell</td>" * 20 + "</tr>") * 3000 + "</table>"


async def test_a_render_over_its_limit_is_killed_and_the_next_one_works() -> None:
    pool = PdfPool(workers=1, renders_per_worker=10, timeout_s=0.5)
    try:
        assert (await pool.render(PAGE)).startswith(b"%PDF")  # warm worker
        with pytest.raises(RenderTimeout, match="longer than"):
            await pool.render(HEAVY)
        # The killed worker was replaced: the retry of a normal render succeeds.
        assert (await pool.render(PAGE)).startswith(b"%PDF")
    finally:
        pool.close()


async def test_the_event_loop_keeps_running_while_a_pdf_renders() -> None:
    pool = PdfPool(workers=1, renders_per_worker=10, timeout_s=60)
    try:
        await pool.render(PAGE)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        await pool.render(PAGE * 20)
        elapsed = time.monotonic() - started
        ticker.cancel()
        # A blocked loop would tick about zero times during the render.
        assert ticks >= 0.5 * elapsed / 0.01
    finally:
        pool.close()


async def test_workers_are_recycled_after_their_quota() -> None:
    pool = PdfPool(workers=1, renders_per_worker=2, timeout_s=60)
    try:
        pids = []
        for _ in range(3):
            pids.append(await pool.worker_pid())
            await pool.render(PAGE)
        # Each worker serves two jobs (a pid query, a render), then a fresh one takes over.
        assert len(set(pids)) == 3
    finally:
        pool.close()
