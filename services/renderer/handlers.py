"""The renderer's subscriber: `ReportDue` in, artifact stored, `ReportRendered` and status out."""

from __future__ import annotations

import logging

from services.renderer import render
from services.renderer.reports.model import ReportUnavailable
from shared.artifacts import ArtifactStore, StoredArtifact
from shared.kafka import publish
from shared.messages import ReportDue, ReportRendered, RunStatus
from shared.run_events import failure_event, status_event
from shared.service import Runtime

log = logging.getLogger("herald.renderer")


def _rendered(due: ReportDue, artifact: StoredArtifact) -> ReportRendered:
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
    )


def register(runtime: Runtime) -> None:
    artifacts = ArtifactStore(runtime.db)

    @runtime.broker.subscriber(
        runtime.topics.report_due, group_id=runtime.group_id, auto_offset_reset="earliest"
    )
    async def on_report_due(due: ReportDue) -> None:
        run = due.run
        artifact = await artifacts.find(render.part_of(run))
        if artifact is not None:
            log.info("run %s already rendered: publishing its artifact again", run.run_id)
        else:
            try:
                artifact = (
                    await render.render(runtime.db, artifacts, due.tenant_id, due.schedule_id, run)
                ).artifact
            except ReportUnavailable as exc:
                log.warning("run %s of tenant %s failed: %s", run.run_id, due.tenant_id, exc)
                event = failure_event(
                    due,
                    "renderer",
                    transient=False,
                    reason=str(exc),
                    policy=runtime.settings.retry,
                )
                await publish(runtime.broker, runtime.topics, event)
                return
            log.info(
                "run %s of tenant %s rendered: %s, %d bytes",
                run.run_id,
                due.tenant_id,
                artifact.filename,
                artifact.size,
            )
        await publish(runtime.broker, runtime.topics, _rendered(due, artifact))
        status = status_event(due, RunStatus.RENDERED, "renderer", artifact_id=artifact.artifact_id)
        await publish(runtime.broker, runtime.topics, status)
