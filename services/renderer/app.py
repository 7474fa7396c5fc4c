"""Wires the renderer: the one place its real adapters are built and handed to the use case."""

from __future__ import annotations

from faststream import FastStream

from herald.services.renderer import handlers
from herald.services.renderer.calldata.store import CallStore
from herald.services.renderer.cleanup import renderer_cleanup
from herald.services.renderer.due_runs import DueRuns
from herald.services.renderer.pool import PdfPool
from herald.services.renderer.render import Renderer
from herald.services.renderer.shares import ShareStore
from herald.services.renderer.sources import source_for
from herald.shared.runs.brand import Brands
from herald.shared.runtime.artifacts import BRAND_BUCKET, ArtifactStore
from herald.shared.runtime.kafka import KafkaPublisher
from herald.shared.runtime.service import build_runtime, make_app
from herald.shared.runtime.tenant_table import TenantTable


def create_app() -> FastStream:
    runtime = build_runtime("renderer")
    settings = runtime.settings
    source = source_for(settings, runtime.db)
    pool = PdfPool(
        settings.renderer.pdf_workers,
        settings.renderer.renders_per_worker,
        settings.renderer.render_timeout_s,
        settings.renderer.print_workers,
    )
    artifacts = ArtifactStore(runtime.db)
    shares = (
        ShareStore(runtime.db, artifacts, settings.renderer.share_ttl_s)
        if settings.renderer.share_renders
        else None
    )
    tenants = TenantTable(settings.kafka, runtime.topics.tenant_settings)
    brands = Brands(settings.branding, tenants, ArtifactStore(runtime.db, BRAND_BUCKET))
    # The filters' names: the tenant's campaigns and agents, whichever source computes reports.
    names = CallStore(runtime.db, settings.data_zone, reuse_s=settings.reports.reuse_reads_s)
    due_runs = DueRuns(
        Renderer(source, artifacts, pool, settings, brands, names, tenants),
        artifacts,
        shares,
        KafkaPublisher(runtime.broker, runtime.topics),
        settings,
    )
    handlers.register(
        runtime.broker, runtime.topics, runtime.group_id, due_runs, settings.renderer.concurrency
    )
    # The tenants' brands are read before the first render (start-up hooks run first).
    cleanup = renderer_cleanup(runtime.db, settings)  # retention: shares, artifacts
    app = make_app(runtime, [artifacts.ensure_indexes, tenants.start, cleanup.start])
    app.on_shutdown(cleanup.stop)

    @app.after_shutdown
    async def _close() -> None:
        await tenants.stop()
        await source.close()
        pool.close()

    return app
