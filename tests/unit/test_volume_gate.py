"""A tenant's allowed volume, paced across replicas: the delivery on the in-memory gate.

The gate's promise on FerretDB, with two replicas racing for the same slots,
is held in `tests/integration/test_volume_gate.py`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from herald.services.mailer.delivery import Delivery
from herald.services.mailer.egress import EgressPolicy, TenantEgress
from herald.services.mailer.outbound import (
    ENVIRONMENT_VOLUME,
    SameForAll,
    TenantOutbounds,
    smtp_settings,
)
from herald.services.mailer.ports import Commit, Outbound
from herald.shared.contract.messages import (
    DeliveryStatus,
    RecipientResult,
    ReportRendered,
    RunStatus,
    TenantSettings,
    utcnow,
)
from herald.shared.contract.secrets import Keyring
from herald.shared.contract.tenant_settings import TenantEmail
from herald.shared.runs.brand import Brands
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runtime.metrics import REGISTRY
from herald.shared.runtime.settings import BrandingSettings, RetrySettings, SmtpSettings
from tests.fakes.artifacts import MemoryArtifacts
from tests.fakes.mailer import (
    Clock,
    MemoryLedger,
    MemoryVolumeGate,
    Reply,
    ScriptedSmtp,
    StaticResolver,
)
from tests.samples import report_rendered, run_details

FROM = "Herald Reports <reports@herald.example>"
#: Half past a minute: the first window is half over when the run starts.
START = datetime(2026, 11, 27, 8, 0, 30, tzinfo=UTC)


class TimedSmtp(ScriptedSmtp):
    """The scripted server, noting when (on the test's clock) each message reached it."""

    def __init__(self, clock: Clock, script: dict[str, Reply] | None = None) -> None:
        super().__init__(script)
        self.clock = clock
        self.times: list[datetime] = []

    async def send(
        self, wire: bytes, sender: str, recipient: str, commit: Commit
    ) -> RecipientResult | None:
        self.times.append(self.clock.now)
        return await super().send(wire, sender, recipient, commit)


def _per_minute(times: list[datetime]) -> Counter[datetime]:
    return Counter(t.replace(second=0, microsecond=0) for t in times)


def _per_day(times: list[datetime]) -> Counter[datetime]:
    return Counter(t.replace(hour=0, minute=0, second=0, microsecond=0) for t in times)


def _delivery(
    smtp: ScriptedSmtp, gate: MemoryVolumeGate | None, artifacts: MemoryArtifacts, **limits: Any
) -> Delivery:
    return Delivery(
        ledger=MemoryLedger(timedelta(seconds=70)),
        outbounds=SameForAll(Outbound(smtp, FROM, BrandingSettings(), **limits)),
        artifacts=artifacts,
        retry=RetrySettings(),
        policy=RecipientPolicy(),
        gate=gate,
    )


async def _run(artifacts: MemoryArtifacts, name: str, count: int) -> ReportRendered:
    recipients = [f"{name}-{n}@example.com" for n in range(count)]
    run = run_details(
        run_id=f"{name}@2026-11-27T08:00:00+00:00",
        scheduled_for=utcnow(),
        recipients=recipients,
    )
    rendered = report_rendered(run)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"a\n1\n"

    await artifacts.put(rendered.artifact_id, rendered.filename, "text/csv", chunks(), {})
    return rendered


def _waits() -> float:
    return REGISTRY.get_sample_value("herald_volume_wait_seconds_count") or 0


async def test_a_run_over_the_minute_limit_is_spread_over_windows_and_says_it_waited() -> None:
    clock = Clock(START)
    gate, smtp, artifacts = MemoryVolumeGate(clock), TimedSmtp(clock), MemoryArtifacts()
    rendered = await _run(artifacts, "brief", 5)
    waits_before = _waits()

    status = await _delivery(smtp, gate, artifacts, max_per_minute=2).deliver(rendered)

    assert status.status is RunStatus.DELIVERED
    assert sorted(smtp.sent_to()) == sorted(rendered.run.recipients)  # nobody dropped
    minutes = _per_minute(smtp.times)
    assert sorted(minutes.values()) == [1, 2, 2]  # three windows, never more than 2 in one
    assert max(smtp.times) - START == timedelta(seconds=90)  # the third window's start
    assert status.reason == "waited 90 s for the tenant's allowed volume (2 a minute)"
    assert _waits() - waits_before == 3  # the three sent after the first window


async def test_two_replicas_sharing_the_gate_stay_under_the_limit_together() -> None:
    clock = Clock(START)
    gate, artifacts = MemoryVolumeGate(clock), MemoryArtifacts()
    one, two = TimedSmtp(clock), TimedSmtp(clock)
    first, second = await _run(artifacts, "brief", 4), await _run(artifacts, "digest", 3)

    statuses = await asyncio.gather(
        _delivery(one, gate, artifacts, max_per_minute=3).deliver(first),
        _delivery(two, gate, artifacts, max_per_minute=3).deliver(second),
    )

    assert [s.status for s in statuses] == [RunStatus.DELIVERED] * 2
    assert len(one.sent_to()) + len(two.sent_to()) == 7
    minutes = _per_minute(one.times + two.times)
    assert max(minutes.values()) <= 3
    assert len(minutes) == 3


async def test_the_day_limit_holds_the_rest_until_the_next_day() -> None:
    clock = Clock(START)
    gate, smtp, artifacts = MemoryVolumeGate(clock), TimedSmtp(clock), MemoryArtifacts()
    rendered = await _run(artifacts, "brief", 5)

    status = await _delivery(smtp, gate, artifacts, max_per_minute=10, max_per_day=3).deliver(
        rendered
    )

    assert status.status is RunStatus.DELIVERED
    assert len(smtp.sent_to()) == 5
    assert sorted(_per_day(smtp.times).values()) == [2, 3]
    midnight = datetime(2026, 11, 28, tzinfo=UTC)
    assert max(smtp.times) == midnight
    waited = (midnight - START).total_seconds()
    assert status.reason == (
        f"waited {waited:.0f} s for the tenant's allowed volume (10 a minute / 3 a day)"
    )


async def test_a_day_limit_is_shared_by_replicas_too() -> None:
    clock = Clock(START)
    gate, artifacts = MemoryVolumeGate(clock), MemoryArtifacts()
    one, two = TimedSmtp(clock), TimedSmtp(clock)
    first, second = await _run(artifacts, "brief", 3), await _run(artifacts, "digest", 3)

    await asyncio.gather(
        _delivery(one, gate, artifacts, max_per_day=4).deliver(first),
        _delivery(two, gate, artifacts, max_per_day=4).deliver(second),
    )

    assert sorted(_per_day(one.times + two.times).values()) == [2, 4]


async def test_a_failed_run_adds_the_wait_after_its_reason() -> None:
    clock = Clock(START)
    gate, artifacts = MemoryVolumeGate(clock), MemoryArtifacts()
    rendered = await _run(artifacts, "brief", 3)
    smtp = TimedSmtp(clock, {"brief-2@example.com": Reply.REFUSE_TRANSIENT})

    status = await _delivery(smtp, gate, artifacts, max_per_minute=1).deliver(rendered)

    assert status.status is RunStatus.PENDING_RETRY
    assert status.reason == (
        "brief-2@example.com: 451 try again later; "
        "waited 90 s for the tenant's allowed volume (1 a minute)"
    )


async def test_a_short_wait_or_no_limit_says_nothing() -> None:
    clock = Clock(START)
    gate, artifacts = MemoryVolumeGate(clock), MemoryArtifacts()
    rendered = await _run(artifacts, "brief", 3)
    smtp = TimedSmtp(clock)

    unlimited = await _delivery(smtp, gate, artifacts).deliver(rendered)
    assert unlimited.reason is None
    assert gate.admitted == []  # no limit: the gate is not asked

    clock.now = START.replace(second=59, microsecond=500_000)
    other = await _run(artifacts, "digest", 2)
    status = await _delivery(TimedSmtp(clock), gate, artifacts, max_per_minute=1).deliver(other)
    assert status.status is RunStatus.DELIVERED
    assert status.reason is None  # waited half a second


async def test_without_a_gate_nothing_is_paced_here() -> None:
    clock = Clock(START)
    smtp, artifacts = TimedSmtp(clock), MemoryArtifacts()
    rendered = await _run(artifacts, "brief", 5)

    status: DeliveryStatus = await _delivery(smtp, None, artifacts, max_per_minute=1).deliver(
        rendered
    )

    assert len(smtp.sent_to()) == 5
    assert status.reason is None


# --- where the limits come from ------------------------------------------------------


class Directory(dict[str, TenantSettings]):
    def settings(self, tenant_id: str) -> TenantSettings | None:
        return self.get(tenant_id)


def _email(**changes: Any) -> TenantEmail:
    fields = {"host": "smtp.acme.example", "port": 587, "from_address": "r@acme.example"}
    return TenantEmail.model_validate(fields | changes)


async def test_the_tenants_limits_reach_the_gate_not_its_pool() -> None:
    email = _email(max_per_minute=30, max_per_day=1000)
    directory = Directory(acme=TenantSettings(tenant_id="acme", version=1, email=email))
    base = SmtpSettings(max_per_minute=600)
    outbounds = TenantOutbounds(
        directory=directory,
        brands=Brands(BrandingSettings(), directory, MemoryArtifacts()),
        keyring=Keyring.from_texts({}),
        default_pool=ScriptedSmtp(),
        smtp_base=base,
        egress=TenantEgress(EgressPolicy(), StaticResolver()),
    )
    acme = await outbounds.for_tenant("acme")
    assert (acme.max_per_minute, acme.max_per_day, acme.volume_key) == (30, 1000, None)
    # Neither the tenant's limit nor the environment's (another server's) in the pool.
    assert smtp_settings(email, None, base).max_per_minute is None

    # Tenants on the environment's server share its one allowance.
    plain = await outbounds.for_tenant("globex")
    assert (plain.max_per_minute, plain.max_per_day) == (600, None)
    assert plain.volume_key == ENVIRONMENT_VOLUME
    await outbounds.close()


@pytest.mark.parametrize("per_minute", [1, 4])
async def test_tenants_on_the_environments_server_share_its_allowance(per_minute: int) -> None:
    clock = Clock(START)
    gate, artifacts = MemoryVolumeGate(clock), MemoryArtifacts()
    smtp = TimedSmtp(clock)
    out = Outbound(
        smtp, FROM, BrandingSettings(), max_per_minute=per_minute, volume_key=ENVIRONMENT_VOLUME
    )
    delivery = Delivery(
        ledger=MemoryLedger(timedelta(seconds=70)),
        outbounds=SameForAll(out),
        artifacts=artifacts,
        retry=RetrySettings(),
        policy=RecipientPolicy(),
        gate=gate,
    )
    acme = await _run(artifacts, "brief", 2)
    globex = report_rendered(
        run_details(run_id="digest@2026-11-27T08:00:00+00:00", recipients=["g@example.com"]),
        tenant_id="globex",
        artifact_id=acme.artifact_id,
    )
    await asyncio.gather(delivery.deliver(acme), delivery.deliver(globex))

    assert max(_per_minute(smtp.times).values()) <= per_minute
    assert {key for key, _ in gate.admitted} == {ENVIRONMENT_VOLUME}
