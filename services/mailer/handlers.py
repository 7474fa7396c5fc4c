"""The mailer's subscriber: `ReportRendered` in, one email per recipient, status out."""

from __future__ import annotations

import asyncio
import logging
from email.utils import parseaddr

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
from shared.metrics import EMAILS
from shared.run_events import failure_event, status_event
from shared.run_text import read_logo
from shared.service import Runtime

log = logging.getLogger("herald.mailer")


class Mailer:
    def __init__(self, runtime: Runtime, pool: smtp.SmtpPool) -> None:
        self._rt = runtime
        self._pool = pool
        self._ledger = Ledger(runtime.db)
        self._artifacts = ArtifactStore(runtime.db)
        self._logo = read_logo(runtime.settings.branding)
        self._sender = parseaddr(runtime.settings.smtp.from_address)[1]

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

    async def _send(
        self, prepared: compose.Prepared, tenant_id: str, recipient: str
    ) -> RecipientResult:
        """Once per recipient and run: the ledger answers for anyone accepted before."""
        run_id = prepared.run_id
        earlier = await self._ledger.accepted(run_id, recipient)
        if earlier is not None:
            return earlier
        data = compose.for_recipient(prepared, recipient)
        result = await self._pool.send(data, self._sender, recipient)
        EMAILS.labels(result.outcome.value, str(result.smtp_code or "-")).inc()
        if result.outcome is RecipientOutcome.ACCEPTED:
            await self._ledger.record(run_id, tenant_id, result)
        else:
            log.warning(
                "run %s: %s refused (%s %s)",
                run_id,
                recipient,
                result.smtp_code,
                result.smtp_message,
            )
        return result

    async def deliver(self, rendered: ReportRendered) -> DeliveryStatus:
        """Each recipient its own transaction, as many at once as the pool has connections."""
        run = rendered.run
        settings = self._rt.settings
        prepared = compose.prepare(
            rendered,
            branding=settings.branding,
            from_address=settings.smtp.from_address,
            contents=await self._contents(rendered),
            now=utcnow(),
            logo=self._logo,
        )
        results = await asyncio.gather(
            *(self._send(prepared, rendered.tenant_id, r) for r in run.recipients)
        )
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
            policy=self._rt.settings.retry,
            artifact_id=rendered.artifact_id,
            recipients=results,
        )


def register(runtime: Runtime, pool: smtp.SmtpPool) -> None:
    mailer = Mailer(runtime, pool)

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
