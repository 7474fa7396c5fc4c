"""The renderer's subscriber: `ReportDue` in, artifact stored, `ReportRendered` and status out."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from services.renderer import render
from services.renderer.reports.model import ReportUnavailable, SourceUnavailable
from shared.artifacts import ArtifactStore, StoredArtifact
from shared.kafka import publish
from shared.messages import ArtifactRef, ReportDue, ReportRendered, RunDetails, RunStatus
from shared.metrics import ARTIFACT_BYTES, RENDER_SECONDS
from shared.run_events import failure_event, status_event
from shared.schedule_spec import ReportFormat
from shared.service import Runtime

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
    is_html = artifact.metadata.get("format") == ReportFormat.HTML.value
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
        html_artifact_id=artifact.artifact_id if is_html else None,
        too_large_to_attach=size > attachment_limit,
        companions=[_ref(c) for c in companions],
    )


async def _stored(
    artifacts: ArtifactStore, run: RunDetails
) -> tuple[StoredArtifact, list[StoredArtifact]] | None:
    """A run rendered before (a retry, a duplicate): its artifact and companions."""
    artifact = await artifacts.find(render.part_of(run))
    if artifact is None:
        return None
    companions = []
    for companion_id in artifact.metadata.get("companions", []):
        companion = await artifacts.find(companion_id)
        if companion is None:
            return None  # half of an older render: render again
        companions.append(companion)
    return artifact, companions


def register(runtime: Runtime, renderer: render.Renderer) -> None:
    artifacts = ArtifactStore(runtime.db)
    limit = runtime.settings.renderer.attachment_limit_bytes

    async def fail(due: ReportDue, exc: Exception, transient: bool) -> None:
        log.warning(
            "run %s of tenant %s failed (%s): %s",
            due.run.run_id,
            due.tenant_id,
            "will retry" if transient else "permanent",
            exc,
        )
        event = failure_event(
            due, "renderer", transient=transient, reason=str(exc), policy=runtime.settings.retry
        )
        await publish(runtime.broker, runtime.topics, event)

    @runtime.broker.subscriber(
        runtime.topics.report_due, group_id=runtime.group_id, auto_offset_reset="earliest"
    )
    async def on_report_due(due: ReportDue) -> None:
        run = due.run
        found = await _stored(artifacts, run)
        if found is not None:
            log.info("run %s already rendered: publishing its artifact again", run.run_id)
            artifact, companions = found
        else:
            log.info("run %s of tenant %s: rendering %s", run.run_id, due.tenant_id, run.format)
            started = time.monotonic()
            try:
                result = await renderer.render(due.tenant_id, due.schedule_id, run)
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
        rendered = _rendered(due, artifact, companions, limit)
        await publish(runtime.broker, runtime.topics, rendered)
        status = status_event(due, RunStatus.RENDERED, "renderer", artifact_id=artifact.artifact_id)
        await publish(runtime.broker, runtime.topics, status)
