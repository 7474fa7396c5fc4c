"""The mailer's subscriber: `ReportRendered` in, one email per recipient, status out."""

from __future__ import annotations

import logging

from services.mailer import compose, outcome, smtp
from services.mailer.store import Ledger
from shared.artifacts import ArtifactStore
from shared.kafka import publish
from shared.messages import (
    ArtifactRef,
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
    ReportRendered,
    RunStatus,
    utcnow,
)
from shared.run_events import failure_event, status_event
from shared.service import Runtime

log = logging.getLogger("herald.mailer")


class Mailer:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._ledger = Ledger(runtime.db)
        self._artifacts = ArtifactStore(runtime.db)

    async def _contents(self, rendered: ReportRendered) -> compose.Contents:
        """The run's files as attachments, or as links when together they are too large."""
        inline = rendered.html_artifact_id
        primary = ArtifactRef(
            artifact_id=rendered.artifact_id,
            filename=rendered.filename,
            content_type=rendered.content_type,
            size=rendered.size,
            sha256=rendered.sha256,
        )
        files = [ref for ref in (primary, *rendered.companions) if ref.artifact_id != inline]
        inline_html = None
        if inline is not None:
            inline_html = (await self._artifacts.read(inline)).decode()
        if rendered.too_large_to_attach:
            branding = self._rt.settings.branding
            links = tuple((f.filename, branding.artifact_url(f.artifact_id)) for f in files)
            return compose.Contents(linked=links, inline_html=inline_html)
        attached = []
        for ref in files:
            data = await self._artifacts.read(ref.artifact_id)
            attached.append(compose.Attachment(ref.filename, ref.content_type, data))
        return compose.Contents(attached=tuple(attached), inline_html=inline_html)

    async def deliver(self, rendered: ReportRendered) -> DeliveryStatus:
        run = rendered.run
        settings = self._rt.settings
        contents = await self._contents(rendered)
        results: list[RecipientResult] = []
        for recipient in run.recipients:
            earlier = await self._ledger.accepted(run.run_id, recipient)
            if earlier is not None:
                results.append(earlier)
                continue
            message = compose.compose(
                rendered,
                recipient,
                branding=settings.branding,
                from_address=settings.smtp.from_address,
                contents=contents,
                now=utcnow(),
            )
            result = await smtp.send(settings.smtp, message, recipient)
            if result.outcome is RecipientOutcome.ACCEPTED:
                await self._ledger.record(run.run_id, rendered.tenant_id, result)
            else:
                log.warning(
                    "run %s: %s refused (%s %s)",
                    run.run_id,
                    recipient,
                    result.smtp_code,
                    result.smtp_message,
                )
            results.append(result)
        verdict = outcome.verdict(results)
        if verdict is outcome.Verdict.DELIVERED:
            return status_event(
                rendered,
                RunStatus.DELIVERED,
                "mailer",
                artifact_id=rendered.artifact_id,
                recipients=results,
            )
        return failure_event(
            rendered,
            "mailer",
            transient=verdict is outcome.Verdict.RETRY,
            reason=outcome.reason(results) or "not delivered",
            policy=settings.retry,
            artifact_id=rendered.artifact_id,
            recipients=results,
        )


def register(runtime: Runtime) -> None:
    mailer = Mailer(runtime)

    @runtime.broker.subscriber(
        runtime.topics.report_rendered, group_id=runtime.group_id, auto_offset_reset="earliest"
    )
    async def on_report_rendered(rendered: ReportRendered) -> None:
        status = await mailer.deliver(rendered)
        log.info(
            "run %s of schedule %s (tenant %s): %s",
            rendered.run.run_id,
            rendered.schedule_id,
            rendered.tenant_id,
            status.status.value,
        )
        await publish(runtime.broker, runtime.topics, status)
