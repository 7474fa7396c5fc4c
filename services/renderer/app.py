"""Wires the renderer: settings, broker, report source, GridFS artifacts, the subscriber."""

from __future__ import annotations

from faststream import FastStream

from herald.services.renderer import handlers
from herald.services.renderer.pool import PdfPool
from herald.services.renderer.render import Renderer
from herald.services.renderer.sources import source_for
from herald.shared.runtime.artifacts import ArtifactStore
from herald.shared.runtime.service import build_runtime, make_app


def create_app() -> FastStream:
    runtime = build_runtime("renderer")
    settings = runtime.settings
    source = source_for(settings, runtime.db)
    pool = PdfPool(
        settings.renderer.pdf_workers,
        settings.renderer.renders_per_worker,
        settings.renderer.render_timeout_s,
    )
    handlers.register(runtime, Renderer(source, ArtifactStore(runtime.db), pool, settings))
    app = make_app(runtime)

    @app.after_shutdown
    async def _close() -> None:
        await source.close()
        pool.close()

    return app
