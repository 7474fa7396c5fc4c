"""A rendered run's delivery: one email per recipient, once, and the run's status from the replies.

Takes its ports and plain values only, so it runs in unit tests on the fakes
of `tests/fakes/`; `app.py` wires the real adapters.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from email.utils import parseaddr

from herald.services.mailer import compose, outcome
from herald.services.mailer.ports import (
    Claim,
    Outbound,
    Outbounds,
    SendLedger,
    SettingsProblem,
    VolumeGate,
)
from herald.services.mailer.smtp import wire_form
from herald.shared.contract.messages import (
    ArtifactRef,
    DeliveryStatus,
    RecipientOutcome,
    RecipientResult,
    ReportRendered,
    RunStatus,
    SmtpStage,
    utcnow,
)
from herald.shared.ports import Artifacts
from herald.shared.runs.events import failure_event, status_event
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runtime import tracing
from herald.shared.runtime.metrics import (
    EMAILS,
    EMAILS_REPLY_UNKNOWN,
    TENANT_SETTINGS_FAILING,
    VOLUME_WAIT,
)
from herald.shared.runtime.settings import RetrySettings

log = logging.getLogger("herald.mailer")
#: A run whose longest wait for the allowed volume was longer says so in its status.
WAIT_WORTH_TELLING_S = 1.0


@dataclass(slots=True)
class _Pacing:
    """The run's longest wait for its allowed volume: its status tells the user why it was late."""

    per_minute: int | None = None
    per_day: int | None = None
    longest_s: float = 0.0

    def note(self) -> str | None:
        if self.longest_s <= WAIT_WORTH_TELLING_S:
            return None
        limits = [
            f"{limit} a {unit}"
            for limit, unit in ((self.per_minute, "minute"), (self.per_day, "day"))
            if limit is not None
        ]
        return (
            f"waited {self.longest_s:.0f} s for the tenant's allowed volume ({' / '.join(limits)})"
        )


@dataclass(slots=True)
class _Sent:
    results: list[RecipientResult]
    pacing: _Pacing = field(default_factory=_Pacing)


@dataclass(frozen=True, slots=True)
class Delivery:
    """Sends a rendered run to its recipients; its status is the caller's to publish."""

    ledger: SendLedger
    outbounds: Outbounds
    artifacts: Artifacts
    retry: RetrySettings
    policy: RecipientPolicy
    #: Paces each tenant to its provider's allowed volume across replicas; None: unpaced here.
    gate: VolumeGate | None = None

    async def deliver(self, rendered: ReportRendered) -> DeliveryStatus:
        """Each recipient its own transaction, as many at once as the sender allows.

        One read of the ledger answers for everyone accepted before (a
        redelivery): they are neither sent again nor their files read.
        """
        run = rendered.run
        refused = self._refused(rendered)
        candidates = [r for r in run.recipients if r not in refused]
        earlier = await self.ledger.acceptances(run.run_id, candidates) if candidates else {}
        fresh = [r for r in candidates if r not in earlier]
        done = await self._send_all(rendered, fresh) if fresh else _Sent([])
        sent = iter(done.results)
        results = [refused.get(r) or earlier.get(r) or next(sent) for r in run.recipients]
        verdict = outcome.verdict(results)
        _watch_settings(rendered, results, verdict, fresh)
        waited = done.pacing.note()
        if verdict is outcome.Verdict.DELIVERED:
            return status_event(
                rendered,
                RunStatus.DELIVERED,
                "mailer",
                reason=waited,
                artifact_id=rendered.artifact_id,
                recipients=results,
            )
        reason = outcome.reason(results) or "not delivered"
        return failure_event(
            rendered,
            "mailer",
            transient=verdict is outcome.Verdict.RETRY,
            settings_problem=verdict is outcome.Verdict.SETTINGS,
            reason=f"{reason}; {waited}" if waited else reason,
            policy=self.retry,
            artifact_id=rendered.artifact_id,
            recipients=results,
        )

    async def _send_all(self, rendered: ReportRendered, recipients: list[str]) -> _Sent:
        """The run's email composed once, then each recipient's copy sent at once."""
        try:
            out = await self.outbounds.for_tenant(rendered.tenant_id)
        except SettingsProblem as problem:
            return _Sent([_unusable_settings(r, str(problem)) for r in recipients])
        contents = await self._contents(rendered, out)
        try:
            prepared = compose.prepare(
                rendered,
                branding=out.branding,
                from_address=out.from_address,
                contents=contents,
                now=utcnow(),
                logo=out.logo,
                reply_to=out.reply_to,
            )
        except compose.UnusableSender as exc:
            # Sent to the DLQ instead, every run of the tenant was lost without a status.
            unusable = f"the email's headers cannot be written from these settings: {exc}"
            return _Sent([_unusable_settings(r, unusable, SmtpStage.SENDER) for r in recipients])
        wire_rest = wire_form(prepared.rest)
        sender = parseaddr(out.from_address)[1]
        pacing = _Pacing(out.max_per_minute, out.max_per_day)
        # Spans name a recipient by its place in the run's list, never by its address.
        place = {r: n for n, r in enumerate(rendered.run.recipients)}
        results = await asyncio.gather(
            *(
                self._send(
                    out, prepared, wire_rest, sender, rendered.tenant_id, r, pacing, place.get(r)
                )
                for r in recipients
            )
        )
        return _Sent(list(results), pacing)

    async def _contents(self, rendered: ReportRendered, out: Outbound) -> compose.Contents:
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
            inline_html = (await self.artifacts.read(inline)).decode()
        images = []
        for image in rendered.images:
            images.append((image.cid, await self._attachment(image)))
        if rendered.too_large_to_attach:
            links = tuple((f.filename, out.branding.artifact_url(f.artifact_id)) for f in files)
            return compose.Contents(linked=links, inline_html=inline_html, images=tuple(images))
        attached = [await self._attachment(ref) for ref in files]
        return compose.Contents(
            attached=tuple(attached), inline_html=inline_html, images=tuple(images)
        )

    async def _attachment(self, ref: ArtifactRef) -> compose.Attachment:
        data = await self.artifacts.read(ref.artifact_id)
        return compose.Attachment(ref.filename, ref.content_type, data)

    async def _send(
        self,
        out: Outbound,
        prepared: compose.Prepared,
        wire_rest: bytes,
        sender: str,
        tenant_id: str,
        recipient: str,
        pacing: _Pacing,
        place: int | None = None,
    ) -> RecipientResult:
        """Once per recipient and run: the claim decides, just before the end-of-data marker.

        Within the allowed volume first: the provider counts what reaches it, taken or not.
        """
        run_id = prepared.run_id
        claim = Claim.HELD

        async def commit() -> bool:
            nonlocal claim
            claim = await self.ledger.claim(run_id, tenant_id, recipient)
            if claim is Claim.TAKEN_OVER:
                EMAILS_REPLY_UNKNOWN.inc()
                log.warning(
                    "run %s: %s was claimed by a mailer that stopped, reply unknown: "
                    "sending it again (a duplicate if the server had accepted it)",
                    run_id,
                    recipient,
                )
            return claim is not Claim.HELD

        wire = compose.recipient_head(prepared, recipient) + wire_rest
        if self.gate is not None and out.limited:
            key = out.volume_key or tenant_id
            waited = await self.gate.admit(key, out.max_per_minute, out.max_per_day)
            if waited > 0:
                VOLUME_WAIT.observe(waited)
                pacing.longest_s = max(pacing.longest_s, waited)
        where = {} if place is None else {"herald.recipient_index": place}
        with tracing.span("herald.smtp.send", where) as span:
            result = await out.smtp.send(wire, sender, recipient, commit)
            _traced(span, result)
        if result is None:  # accepted already, or another delivery is sending it right now
            accepted = await self.ledger.acceptances(run_id, [recipient])
            return accepted.get(recipient) or _held_elsewhere(recipient)
        EMAILS.labels(result.outcome.value, str(result.smtp_code or "-")).inc()
        if result.outcome is RecipientOutcome.ACCEPTED:
            await self.ledger.confirm(run_id, result)
            return result
        if claim is not Claim.HELD:  # refused, or lost before the reply: may be sent again
            await self.ledger.release(run_id, recipient)
        log.warning(
            "run %s: %s refused (%s %s)",
            run_id,
            recipient,
            result.smtp_code,
            result.smtp_message,
        )
        return result

    def _refused(self, rendered: ReportRendered) -> dict[str, RecipientResult]:
        """Recipients the allow-list forbids now: refused for good, with no SMTP transaction.

        The list may have changed since the schedule was saved and checked.
        """
        refused = {}
        for address in rendered.run.recipients:
            reason = self.policy.refusal(rendered.tenant_id, address)
            if reason is not None:
                log.warning("run %s: %s not sent: %s", rendered.run.run_id, address, reason)
                EMAILS.labels(RecipientOutcome.REFUSED_PERMANENT.value, "-").inc()
                refused[address] = RecipientResult(
                    address=address,
                    outcome=RecipientOutcome.REFUSED_PERMANENT,
                    smtp_message=reason,
                )
        return refused


def _traced(span: tracing.Span, result: RecipientResult | None) -> None:
    """The SMTP transaction's reply on its span: code, stage, outcome (never the address)."""
    if not span.is_recording():
        return
    if result is None:
        span.set_attribute("herald.smtp.outcome", "not_sent_claimed_elsewhere")
        return
    span.set_attribute("herald.smtp.outcome", result.outcome.value)
    if result.smtp_code is not None:
        span.set_attribute("herald.smtp.reply_code", result.smtp_code)
    if result.stage is not None:
        span.set_attribute("herald.smtp.stage", result.stage.value)
    if result.outcome is not RecipientOutcome.ACCEPTED:
        refused = f"{result.outcome.value} {result.smtp_code or ''}".strip()
        span.set_status(tracing.StatusCode.ERROR, refused)


def _held_elsewhere(recipient: str) -> RecipientResult:
    """Another delivery of the run is sending it: this one tries again later."""
    return RecipientResult(
        address=recipient,
        outcome=RecipientOutcome.REFUSED_TRANSIENT,
        smtp_message="another delivery of this run is sending it",
    )


def _watch_settings(
    rendered: ReportRendered,
    results: list[RecipientResult],
    verdict: outcome.Verdict,
    sent_to: list[str],
) -> None:
    """The tenant's settings-problem gauge and log line, from what this run's sends met."""
    tenant = rendered.tenant_id
    if verdict is outcome.Verdict.SETTINGS:
        TENANT_SETTINGS_FAILING.labels(tenant).set(1)
        log.error(
            "tenant %s: its email settings are refused, run %s waits for a fix: %s",
            tenant,
            rendered.run.run_id,
            outcome.reason(results),
        )
    elif sent_to:
        TENANT_SETTINGS_FAILING.labels(tenant).set(0)


def _unusable_settings(
    recipient: str, problem: str, stage: SmtpStage = SmtpStage.AUTH
) -> RecipientResult:
    """No exchange was tried: the settings cannot log in (or name the sender) as they are."""
    return RecipientResult(
        address=recipient,
        outcome=RecipientOutcome.REFUSED_TRANSIENT
        if stage is SmtpStage.AUTH
        else RecipientOutcome.REFUSED_PERMANENT,
        smtp_message=problem,
        stage=stage,
    )
