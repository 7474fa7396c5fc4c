"""The renderer's subscriber: `ReportDue` in, artifact stored, `ReportRendered` and status out."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from herald.services.renderer import render
from herald.services.renderer.formats.registry import FORMATS
from herald.services.renderer.reports.model import ReportUnavailable, SourceUnavailable
from herald.services.renderer.shares import Complete, InFlight, ShareStore, complete, share_key
from herald.shared.contract.messages import ArtifactRef, ReportDue, ReportRendered, RunStatus
from herald.shared.contract.schedule_spec import ReportFormat
from herald.shared.ports import StoredArtifact
from herald.shared.runs.events import failure_event, status_event
from herald.shared.runtime.artifacts import ArtifactStore
from herald.shared.runtime.kafka import publish
from herald.shared.runtime.metrics import ARTIFACT_BYTES, RENDER_SECONDS
from herald.shared.runtime.service import Runtime

log = logging.getLogger("herald.renderer")


def _ref(artifact: StoredArtifact) -> ArtifactRef:
    return ArtifactRef(
        artifact_id=artifact.artifact_id,
        filename=artifact.filename,
        content_type=artifact.content_type,
        size=artifact.size,
        sha256=artifact.sha256,
    )


def _rendered(
    due: ReportDue,
    artifact: StoredArtifact,
    companions: Sequence[StoredArtifact],
    attachment_limit: int,
) -> ReportRendered:
    inline = FORMATS[ReportFormat(artifact.metadata["format"])].inline
    size = artifact.size + sum(c.size for c in companions)
    return ReportRendered(
        tenant_id=due.tenant_id,
        schedule_id=due.schedule_id,
        correlation_id=due.correlation_id,
        run=due.run,
        artifact_id=artifact.artifact_id,
        filename=artifact.filename,
        content_type=artifact.content_type,
        size=artifact.size,
        rows=int(artifact.metadata.get("rows", 0)),
        sha256=artifact.sha256,
        title=str(artifact.metadata.get("title", artifact.filename)),
        filters_summary=due.run.filters.summary(),
        html_artifact_id=artifact.artifact_id if inline else None,
        too_large_to_attach=size > attachment_limit,
        companions=[_ref(c) for c in companions],
    )


def _from(found: Complete) -> render.Rendered:
    """A stored render as `Renderer.render` returns it."""
    artifact = found.artifact
    title = str(artifact.metadata.get("title", artifact.filename))
    return render.Rendered(artifact, found.companions, title, int(artifact.metadata.get("rows", 0)))


def register(runtime: Runtime, renderer: render.Renderer) -> None:
    settings = runtime.settings
    artifacts = ArtifactStore(runtime.db)
    limit = settings.renderer.attachment_limit_bytes
    shares = (
        ShareStore(runtime.db, artifacts, settings.renderer.share_ttl_s)
        if settings.renderer.share_renders
        else None
    )
    in_flight: InFlight[render.Rendered] = InFlight()

    async def fail(due: ReportDue, exc: Exception, transient: bool) -> None:
        log.warning(
            "run %s of tenant %s failed (%s): %s",
            due.run.run_id,
            due.tenant_id,
            "will retry" if transient else "permanent",
            exc,
        )
        event = failure_event(
            due, "renderer", transient=transient, reason=str(exc), policy=settings.retry
        )
        await publish(runtime.broker, runtime.topics, event)

    async def fresh(due: ReportDue, key: str | None) -> render.Rendered:
        """Render from the data source; a finished render is offered for sharing under `key`."""
        run = due.run
        log.info("run %s of tenant %s: rendering %s", run.run_id, due.tenant_id, run.format)
        started = time.monotonic()
        result = await renderer.render(due.tenant_id, due.schedule_id, run)
        artifact = result.artifact
        if artifact is None:
            return result
        RENDER_SECONDS.labels(run.format.value).observe(time.monotonic() - started)
        ARTIFACT_BYTES.labels(run.format.value).observe(artifact.size)
        log.info(
            "run %s of tenant %s rendered: %s, %d bytes, %d rows",
            run.run_id,
            due.tenant_id,
            artifact.filename,
            artifact.size,
            result.rows,
        )
        if key is not None and shares is not None:
            await shares.record(key, due.tenant_id, run.run_id, artifact.artifact_id)
        return result

    async def rendered(due: ReportDue) -> render.Rendered:
        """This run's render: shared with an identical run's when there is one, else fresh."""
        run = due.run
        key = None
        if shares is not None:
            definition = None
            if run.report.kind == "custom":
                definition = await shares.definition(due.tenant_id, run.report.id)
            key = share_key(due.tenant_id, run, settings, definition)
        if key is None or shares is None:
            return await fresh(due, None)
        found = await shares.find(key)
        waited = False
        if found is not None:
            result = _from(found)
        else:
            result, waited = await in_flight.run(key, lambda: fresh(due, key))
        if found is not None or waited:
            log.info(
                "run %s of tenant %s shares the render of %s",
                run.run_id,
                due.tenant_id,
                result.artifact.artifact_id if result.artifact else "an empty report",
            )
        return result

    @runtime.broker.subscriber(
        runtime.topics.report_due, group_id=runtime.group_id, auto_offset_reset="earliest"
    )
    async def on_report_due(due: ReportDue) -> None:
        run = due.run
        found = await complete(artifacts, render.part_of(run))
        if found is not None:
            log.info("run %s already rendered: publishing its artifact again", run.run_id)
            artifact, companions = found.artifact, list(found.companions)
        else:
            try:
                result = await rendered(due)
            except ReportUnavailable as exc:
                await fail(due, exc, transient=False)
                return
            except SourceUnavailable as exc:
                await fail(due, exc, transient=True)
                return
            if result.artifact is None:
                log.info("run %s of tenant %s: no data, skipped", run.run_id, due.tenant_id)
                event = status_event(due, RunStatus.SKIPPED_EMPTY, "renderer")
                await publish(runtime.broker, runtime.topics, event)
                return
            artifact, companions = result.artifact, list(result.companions)
        message = _rendered(due, artifact, companions, limit)
        await publish(runtime.broker, runtime.topics, message)
        status = status_event(due, RunStatus.RENDERED, "renderer", artifact_id=artifact.artifact_id)
        await publish(runtime.broker, runtime.topics, status)
