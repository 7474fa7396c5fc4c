"""A due run rendered and handed on: the renderer's use case, on ports only.

The render is shared when an identical run's is stored or in flight; else a
run whose own artifact is already complete (a repeated `ReportDue`) is
published again without rendering; else it is rendered. Its outcome goes out
as `ReportRendered` and a status, or as a failure event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime

from herald.services.renderer.filter_names import filters_line
from herald.services.renderer.formats.registry import FORMATS
from herald.services.renderer.ports import Complete, RunRenderer, ShareIndex
from herald.services.renderer.render import Rendered, part_of
from herald.services.renderer.reports.model import ReportUnavailable, SourceUnavailable
from herald.services.renderer.shares import InFlight, complete, share_key
from herald.shared.contract.messages import (
    ArtifactRef,
    HeadlineTile,
    InlineImage,
    ReportDue,
    ReportRendered,
    RunStatus,
)
from herald.shared.contract.schedule_spec import ReportFormat
from herald.shared.ports import Artifacts, Publisher, StoredArtifact
from herald.shared.runs.events import failure_event, rendered_id, status_event
from herald.shared.runtime.metrics import ARTIFACT_BYTES, RENDER_SECONDS
from herald.shared.runtime.settings import Settings

log = logging.getLogger("herald.renderer")

#: How much of an unexpected error's text a failed run's reason quotes.
UNEXPECTED_REASON_CHARS = 300
#: What a render raises that no later attempt would mend: the code's or the figures' fault
#: (a pydantic `ValidationError` is a ValueError). Never a database's or a pool's error:
#: none of PyMongo's, GridFS's or pebble's errors is one of these.
DEFECTS: tuple[type[Exception], ...] = (ValueError, TypeError, LookupError, ArithmeticError)


def _ref(artifact: StoredArtifact) -> ArtifactRef:
    return ArtifactRef(
        artifact_id=artifact.artifact_id,
        filename=artifact.filename,
        content_type=artifact.content_type,
        size=artifact.size,
        sha256=artifact.sha256,
    )


def _image(artifact: StoredArtifact) -> InlineImage:
    meta = artifact.metadata
    return InlineImage(**_ref(artifact).model_dump(), cid=meta["cid"], alt=meta["alt"])


def _rendered_at(due: ReportDue, artifact: StoredArtifact) -> datetime:
    """When the run's render is said to have happened: the later of its artifact's storing
    and its own `ReportDue`.

    Both are kept, so the same `ReportDue` again (a redelivery) gives the same
    instant, and so the same events byte for byte. The storing alone dated a run
    served an older render (another run's share, its own from an earlier
    attempt) before its own due: its history began before it existed, and
    `herald replay --verify --since` left it out. Not `scheduled_for`, which the
    due follows (by hours when late, and every retry shares it), nor a record of
    each run served, a write for every twin of a herd. A new `ReportDue` of the
    run (a retry, a slot fired again) is a new due, and its render a new event.
    """
    return max(artifact.stored_at, due.occurred_at)


def _rendered(
    due: ReportDue,
    artifact: StoredArtifact,
    companions: Sequence[StoredArtifact],
    attachment_limit: int,
) -> ReportRendered:
    inline = FORMATS[ReportFormat(artifact.metadata["format"])].inline
    size = artifact.size + sum(c.size for c in companions)
    # Companions the inline HTML shows (charts) are related parts; the rest are attachments.
    images = [c for c in companions if "cid" in c.metadata]
    files = [c for c in companions if "cid" not in c.metadata]
    filters = due.run.filters
    # A render stored before its metadata named the filters shows their ids.
    named = artifact.metadata.get("filters") or filters_line(
        filters.campaign_ids, filters.agent_ids
    )
    at = _rendered_at(due, artifact)
    return ReportRendered(
        event_id=rendered_id(due.run.run_id, due.run.attempt, at),
        occurred_at=at,
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
        filters_summary=str(named),
        html_artifact_id=artifact.artifact_id if inline else None,
        too_large_to_attach=size > attachment_limit,
        companions=[_ref(c) for c in files],
        headlines=[HeadlineTile(**t) for t in artifact.metadata.get("headlines", [])],
        images=[_image(c) for c in images],
        notes=[str(note) for note in artifact.metadata.get("notes", [])],
    )


def _from(found: Complete) -> Rendered:
    """A stored render as `RunRenderer.render` returns it."""
    artifact = found.artifact
    title = str(artifact.metadata.get("title", artifact.filename))
    return Rendered(artifact, found.companions, title, int(artifact.metadata.get("rows", 0)))


class DueRuns:
    """Handles each `ReportDue`; `shares` None renders every run on its own."""

    def __init__(
        self,
        renderer: RunRenderer,
        artifacts: Artifacts,
        shares: ShareIndex | None,
        publisher: Publisher,
        settings: Settings,
    ) -> None:
        self._renderer = renderer
        self._artifacts = artifacts
        self._shares = shares
        self._publisher = publisher
        self._settings = settings
        self._in_flight: InFlight[Rendered] = InFlight()

    async def handle(self, due: ReportDue) -> None:
        run = due.run
        try:
            result = await self._render(due)
        except ReportUnavailable as exc:
            await self._fail(due, exc, transient=False)
            return
        except SourceUnavailable as exc:
            await self._fail(due, exc, transient=True)
            return
        except DEFECTS as exc:
            # Figures no report can show, or a defect: rendered again it fails again. The
            # run fails for good with the reason in its history, and the record goes on to
            # the DLQ for whoever fixes it to replay. (Left `due`, the stuck-run timer fired
            # it again and again, each time to the DLQ, while the history said nothing.)
            # Anything else (a database's or the pool's trouble) is left as before: retried
            # in place when known transient, else to the DLQ with the run still `due`.
            log.exception("run %s of tenant %s could not be rendered", run.run_id, due.tenant_id)
            failure = ReportUnavailable(
                f"the report could not be rendered ({type(exc).__name__}: "
                f"{str(exc)[:UNEXPECTED_REASON_CHARS]})"
            )
            await self._fail(due, failure, transient=False)
            raise
        if result.artifact is None:
            log.info("run %s of tenant %s: no data, skipped", run.run_id, due.tenant_id)
            await self._publisher.publish(status_event(due, RunStatus.SKIPPED_EMPTY, "renderer"))
            return
        artifact, companions = result.artifact, list(result.companions)
        limit = self._settings.renderer.attachment_limit_bytes
        rendered = _rendered(due, artifact, companions, limit)
        await self._publisher.publish(rendered)
        status = status_event(
            due,
            RunStatus.RENDERED,
            "renderer",
            at=rendered.occurred_at,
            artifact_id=artifact.artifact_id,
        )
        await self._publisher.publish(status)

    async def _fail(self, due: ReportDue, exc: Exception, transient: bool) -> None:
        log.warning(
            "run %s of tenant %s failed (%s): %s",
            due.run.run_id,
            due.tenant_id,
            "will retry" if transient else "permanent",
            exc,
        )
        event = failure_event(
            due, "renderer", transient=transient, reason=str(exc), policy=self._settings.retry
        )
        await self._publisher.publish(event)

    async def _render(self, due: ReportDue) -> Rendered:
        """This run's render: shared with an identical run's when there is one, else fresh."""
        run, shares = due.run, self._shares
        if shares is None:
            return await self._fresh(due, None)
        definition = None
        if run.report.kind == "custom":
            definition = await shares.definition(due.tenant_id, run.report.id)
        brand = await self._renderer.brand(due.tenant_id)
        compliance = self._renderer.compliance(due.tenant_id)
        key = share_key(due.tenant_id, run, self._settings, definition, brand, compliance)
        if key is None:
            return await self._fresh(due, None)
        found = await shares.find(key)
        waited = False
        if found is not None:
            result = _from(found)
        else:
            result, waited = await self._in_flight.run(key, lambda: self._fresh(due, key))
        shared = result.artifact.artifact_id if result.artifact else "an empty report"
        if found is not None and shared == part_of(run):  # the run that rendered it, again
            log.info("run %s already rendered: publishing its artifact again", run.run_id)
        elif found is not None or waited:
            tenant = due.tenant_id
            log.info("run %s of tenant %s shares the render of %s", run.run_id, tenant, shared)
        return result

    async def _fresh(self, due: ReportDue, key: str | None) -> Rendered:
        """Render from the data source; a finished render is offered for sharing under `key`.

        Unless the run's own render is complete already (its `ReportDue` again): that
        one is handed on as it is. Checked here, not for every run: a run that shares
        a render needs no read of its own (a herd's 10,000 runs, 60 renders).
        """
        run = due.run
        found = await complete(self._artifacts, part_of(run))
        if found is not None:
            log.info("run %s already rendered: publishing its artifact again", run.run_id)
            return _from(found)
        log.info("run %s of tenant %s: rendering %s", run.run_id, due.tenant_id, run.format)
        started = time.monotonic()
        result = await self._renderer.render(due.tenant_id, due.schedule_id, run)
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
        if key is not None and self._shares is not None:
            await self._shares.record(key, due.tenant_id, run.run_id, artifact.artifact_id)
        return result
