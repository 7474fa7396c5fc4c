"""SIGTERM to a renderer in the middle of a render: the run is finished or handed back, never lost.

With a long grace period the render finishes and is committed before the
process leaves; with a grace shorter than the render, the unfinished message
is not committed and the next renderer of the group renders it. Either way
the run is delivered once.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.shared.contract.messages import RunStatus
from herald.shared.contract.schedule_spec import Frequency, ReportFormat, ReportRef, ScheduleSpec
from herald.shared.history import store as history_store
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import OpsSettings, RendererSettings, Settings
from tests.helpers import Mailpit, ServiceProcess, command_client, create_and_run, wait_until

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("grace_s", "handed_back"), [(60.0, False), (0.2, True)])
async def test_sigterm_during_a_render_finishes_or_hands_back_the_run(
    grace_s: float,
    handed_back: bool,
    topics_ready: Settings,
    db: AsyncDatabase[Document],
    mailpit: Mailpit,
    recipient: str,
    log_dir: Path,
) -> None:
    settings = topics_ready.model_copy(
        update={
            "ops": OpsSettings(shutdown_grace_s=grace_s),
            # A long PDF (the CDR of a busy day) so the render takes seconds.
            "renderer": RendererSettings(pdf_max_rows=2000),
        }
    )
    await demo.seed(db, tenant_id="acme", calls=6000, days=3, anchor=date.today())
    scheduler = ServiceProcess("scheduler", settings, log_dir)
    renderer = ServiceProcess("renderer", settings, log_dir)
    mailer = ServiceProcess("mailer", settings, log_dir)
    second: ServiceProcess | None = None
    try:
        for service in (scheduler, renderer, mailer):
            await service.wait_started()
        spec = ScheduleSpec(
            name="CDR",
            report=ReportRef(id="cdr"),
            frequency=Frequency.DAILY,
            recipients=[recipient],
            format=ReportFormat.PDF,
        )
        async with command_client(settings) as herald:
            run_id = await create_and_run(herald, "acme", "acme-cdr", spec)

        async def rendering() -> bool:
            return f"run {run_id} of tenant acme: rendering" in renderer.log()

        await wait_until(rendering, 60, "the render to start", interval_s=0.05)
        await asyncio.sleep(0.5)  # well inside the render
        code = await asyncio.to_thread(renderer.stop, grace_s + 30)
        assert code == 0, renderer.log()[-2000:]
        finished = f"run {run_id} of tenant acme rendered" in renderer.log()
        assert finished is not handed_back
        second = ServiceProcess("renderer", settings, log_dir)
        await second.wait_started()

        async def delivered() -> bool:
            record = await history_store.get_run(db[history_store.RUNS], "acme", run_id)
            return record is not None and record.status is RunStatus.DELIVERED

        await wait_until(delivered, 120, f"run {run_id} to be delivered")
    finally:
        for service in (scheduler, renderer, mailer, second):
            if service is not None:
                service.stop()
    assert len(mailpit.to(recipient)) == 1
    rendered_by_second = f"run {run_id} of tenant acme rendered" in second.log()
    assert rendered_by_second is handed_back
