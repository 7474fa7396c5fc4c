"""Tenant settings benchmark: what per-tenant settings cost the mailer and the scheduler.

    python bench/tenants.py [--quick] [--tenants N] [--admits N]

- table: N tenants' `TenantSettings` (each with a sealed password and a brand)
  on a fresh compacted `tenant.settings` topic; a `TenantTable` in this
  process reads it whole, as every mailer and renderer does at start.
  `table_load_s` is that read, `table_mb` the RSS it added.
- way out: `TenantOutbounds.for_tenant` over those tenants, each the first
  time (a pool made, the password opened) and again (a lookup):
  `first_ms` and `again_us` per tenant.
- gate: `VolumeGate.admit` on FerretDB (`HERALD_MONGO__URL`) from one
  process, the emails of 20 tenants at once, limits never reached:
  `admits_per_s`.
- forecast: the volume guard's cost for a tenant with S daily schedules
  (what a create pays when the tenant set an allowed volume): `guard_ms`.

Ends with: BENCH tenants tenants=N table_load_s=... table_mb=... first_ms=... again_us=...
admits_per_s=... guard_ms=... schedules=S
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_settings, log
from herald.services.mailer.egress import EgressPolicy, TenantEgress
from herald.services.mailer.outbound import TenantOutbounds
from herald.services.mailer.pacing import VolumeGate
from herald.services.mailer.smtp import SmtpPool, SystemResolver
from herald.services.scheduler.volume import excesses, forecast
from herald.shared.contract.messages import TenantSettings
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.contract.secrets import Keyring, generate_key_pair, parse_public_key, seal
from herald.shared.contract.tenant_settings import LogoRef, TenantBranding, TenantEmail
from herald.shared.contract.topics import Topics
from herald.shared.runs.brand import Brands
from herald.shared.runtime.kafka import ensure_topics, make_broker, publish_many
from herald.shared.runtime.mongo import connect, database
from herald.shared.runtime.settings import BrandingSettings, SmtpSettings
from herald.shared.runtime.tenant_table import TenantTable


def _tenant(n: int, public: str) -> TenantSettings:
    sealed = seal(parse_public_key(public), f"password-{n}")
    logo = LogoRef(
        asset_id=f"logo-{n:064x}", content_type="image/png", size=1000, filename="logo.png"
    )
    return TenantSettings(
        tenant_id=f"t{n:06d}",
        version=1,
        email=TenantEmail(
            host=f"smtp{n}.example.com",
            port=587,
            username=f"user{n}",
            password=sealed,
            from_address=f"reports@t{n}.example.com",
            from_name=f"Tenant {n} Reports",
            max_per_minute=100,
        ),
        branding=TenantBranding(
            platform_name=f"Tenant {n}", platform_base_url=f"https://t{n}.example.com", logo=logo
        ),
    )


def _rss_mb() -> float:
    return psutil.Process(os.getpid()).memory_info().rss / 2**20


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tenants", type=int)
    parser.add_argument("--admits", type=int)
    parser.add_argument("--schedules", type=int)
    args = parser.parse_args()
    tenants = args.tenants or (2_000 if args.quick else 20_000)
    admits = args.admits or (2_000 if args.quick else 10_000)
    schedules = args.schedules or (200 if args.quick else 1_000)
    settings = bench_settings("tenants")
    topics = Topics(settings.kafka.topic_prefix)
    await ensure_topics(settings)
    public, private = generate_key_pair("bench")

    log(f"publishing {tenants:,} tenants' settings")
    broker = make_broker(settings, "bench")
    await broker.start()
    messages = [_tenant(n, public) for n in range(tenants)]
    for start in range(0, tenants, 1000):
        await publish_many(broker, topics, messages[start : start + 1000])
    await broker.stop()
    del messages

    before = _rss_mb()
    table = TenantTable(settings.kafka, topics.tenant_settings)
    started = time.monotonic()
    await table.start(timeout_s=600)
    table_load_s = time.monotonic() - started
    table_mb = _rss_mb() - before
    assert len(table.all()) == tenants, len(table.all())
    log(f"table: {tenants:,} tenants read in {table_load_s:.2f} s, +{table_mb:.0f} MB")

    outbounds = TenantOutbounds(
        directory=table,
        brands=Brands(BrandingSettings(), table),
        keyring=Keyring.from_texts({"bench": private}),
        default_pool=SmtpPool(SmtpSettings()),  # connects on first use: never here
        smtp_base=SmtpSettings(),
        egress=TenantEgress(EgressPolicy(), SystemResolver()),  # pools connect never here
        max_pools=tenants,
    )
    sample = [f"t{n:06d}" for n in range(min(tenants, 500))]
    started = time.monotonic()
    for tenant in sample:
        await outbounds.for_tenant(tenant)
    first_ms = (time.monotonic() - started) / len(sample) * 1000
    started = time.monotonic()
    for _ in range(10):
        for tenant in sample:
            await outbounds.for_tenant(tenant)
    again_us = (time.monotonic() - started) / (10 * len(sample)) * 1e6
    await outbounds.close()
    await table.stop()
    log(f"way out: first {first_ms:.2f} ms a tenant, again {again_us:.1f} us")

    client = connect(settings, "bench-tenants")
    db = database(client, settings)
    gate = VolumeGate(db)
    started = time.monotonic()
    await asyncio.gather(*(gate.admit(f"t{n % 20:06d}", admits, None) for n in range(admits)))
    admits_per_s = admits / (time.monotonic() - started)
    await client.drop_database(settings.mongo.database)
    await client.close()
    log(f"gate: {admits_per_s:,.0f} admits/s")

    specs = [
        ScheduleSpec.model_validate(
            {
                "name": f"s{n}",
                "report": {"id": "campaign_summary"},
                "frequency": "daily",
                "time_of_day": f"{n % 24:02d}:{n % 60:02d}",
                "recipients": [f"r{k}@example.com" for k in range(3)],
            }
        )
        for n in range(schedules)
    ]
    started = time.monotonic()
    rounds = 5
    for _ in range(rounds):
        excesses(forecast(specs, "UTC", datetime.now(UTC)), 10, 1000)
    guard_ms = (time.monotonic() - started) / rounds * 1000
    log(f"guard: {guard_ms:.0f} ms for {schedules:,} schedules")
    print(
        f"BENCH tenants tenants={tenants} table_load_s={table_load_s:.2f} "
        f"table_mb={table_mb:.0f} first_ms={first_ms:.2f} again_us={again_us:.1f} "
        f"admits_per_s={admits_per_s:.0f} guard_ms={guard_ms:.0f} schedules={schedules}"
    )


if __name__ == "__main__":
    asyncio.run(main())
