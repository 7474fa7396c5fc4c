"""Wires the mailer: settings, broker, ledger, SMTP pool, artifacts, the subscriber."""

from __future__ import annotations

from datetime import timedelta

from faststream import FastStream

from herald.services.mailer import handlers
from herald.services.mailer.cleanup import mailer_cleanup
from herald.services.mailer.delivery import Delivery
from herald.services.mailer.egress import EgressPolicy, TenantEgress
from herald.services.mailer.outbound import TenantOutbounds
from herald.services.mailer.pacing import VolumeGate
from herald.services.mailer.smtp import SmtpPool, SystemResolver
from herald.services.mailer.store import Ledger
from herald.shared.runs.brand import Brands
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runtime.artifact_cache import CachedArtifacts
from herald.shared.runtime.artifacts import BRAND_BUCKET, ArtifactStore
from herald.shared.runtime.kafka import KafkaPublisher
from herald.shared.runtime.keyring import load_keyring
from herald.shared.runtime.service import build_runtime, make_app
from herald.shared.runtime.settings import SmtpSettings
from herald.shared.runtime.tenant_table import TenantTable


def claim_lease(settings: SmtpSettings) -> timedelta:
    """Longer than any claim's life: the end of data, the reply (`timeout_s`), the record."""
    return timedelta(seconds=2 * settings.timeout_s + 10)


def create_app() -> FastStream:
    runtime = build_runtime("mailer")
    settings = runtime.settings
    # The gate paces the environment's allowed volume across replicas: no limiter in the pool.
    pool = SmtpPool(settings.smtp.model_copy(update={"max_per_minute": None}))
    ledger = Ledger(runtime.db, claim_lease(settings.smtp))
    gate = VolumeGate(runtime.db)
    tenants = TenantTable(settings.kafka, runtime.topics.tenant_settings)
    outbounds = TenantOutbounds(
        directory=tenants,
        brands=Brands(settings.branding, tenants, ArtifactStore(runtime.db, BRAND_BUCKET)),
        keyring=load_keyring(settings.secrets),
        default_pool=pool,
        smtp_base=settings.smtp,
        egress=TenantEgress(
            EgressPolicy.allowing(settings.mailer.smtp_allowed_private), SystemResolver()
        ),
    )
    delivery = Delivery(
        ledger=ledger,
        outbounds=outbounds,
        # Runs that share a render attach the same files: read once per process.
        artifacts=CachedArtifacts(ArtifactStore(runtime.db)),
        retry=settings.retry,
        policy=RecipientPolicy.from_settings(settings.security),
        gate=gate,
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
    # The tenants' settings are read before the first delivery (start-up hooks run first).
    cleanup = mailer_cleanup(runtime.db, settings)  # retention: sends, send_takeovers, send_volume
    app = make_app(runtime, [ledger.ensure_indexes, tenants.start, cleanup.start])
    app.on_shutdown(cleanup.stop)
    app.after_shutdown(pool.close)
    app.after_shutdown(outbounds.close)
    app.after_shutdown(tenants.stop)
    return app
