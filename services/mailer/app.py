"""Wires the mailer: settings, broker, ledger, SMTP pool, artifacts, the subscriber."""

from __future__ import annotations

from datetime import timedelta

from faststream import FastStream

from herald.services.mailer import handlers
from herald.services.mailer.delivery import Delivery
from herald.services.mailer.smtp import SmtpPool
from herald.services.mailer.store import Ledger
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runs.text import read_logo
from herald.shared.runtime.artifact_cache import CachedArtifacts
from herald.shared.runtime.artifacts import ArtifactStore
from herald.shared.runtime.kafka import KafkaPublisher
from herald.shared.runtime.service import build_runtime, make_app
from herald.shared.runtime.settings import SmtpSettings


def claim_lease(settings: SmtpSettings) -> timedelta:
    """Longer than any claim's life: the end of data, the reply (`timeout_s`), the record."""
    return timedelta(seconds=2 * settings.timeout_s + 10)


def create_app() -> FastStream:
    runtime = build_runtime("mailer")
    settings = runtime.settings
    pool = SmtpPool(settings.smtp)
    ledger = Ledger(runtime.db, claim_lease(settings.smtp))
    delivery = Delivery(
        ledger=ledger,
        smtp=pool,
        # Runs that share a render attach the same files: read once per process.
        artifacts=CachedArtifacts(ArtifactStore(runtime.db)),
        branding=settings.branding,
        from_address=settings.smtp.from_address,
        retry=settings.retry,
        policy=RecipientPolicy.from_settings(settings.security),
        logo=read_logo(settings.branding),
    )
    publisher = KafkaPublisher(runtime.broker, runtime.topics)
    handlers.register(
        runtime.broker,
        runtime.topics,
        runtime.group_id,
        delivery,
        publisher,
        settings.mailer.concurrency,
    )
    app = make_app(runtime, [ledger.ensure_indexes])
    app.after_shutdown(pool.close)
    return app
