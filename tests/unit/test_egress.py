"""Where a tenant's own SMTP server may be: public addresses, and what the operator allows.

The classification of addresses, the decision over every address a host resolves
to, its setting, and what a refused host does to a run: all on a fake resolver,
with no connection made (a refused host is refused before any).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from ipaddress import ip_address

import pytest
from pydantic import ValidationError

from herald.client.diagnosis import diagnose
from herald.services.mailer.delivery import Delivery
from herald.services.mailer.egress import (
    EgressPolicy,
    HostRefused,
    TenantEgress,
    carried,
    non_public,
)
from herald.services.mailer.outbound import TenantOutbounds
from herald.services.mailer.outcome import Verdict, reason, verdict
from herald.services.mailer.ports import Endpoint
from herald.services.mailer.smtp import SmtpPool, _checked_socket, wire_form
from herald.shared.contract.messages import (
    RecipientOutcome,
    RecipientResult,
    ReportRendered,
    RunStatus,
    SmtpStage,
    TenantSettings,
    utcnow,
)
from herald.shared.contract.secrets import Keyring
from herald.shared.contract.tenant_settings import TenantEmail
from herald.shared.runs.brand import Brands
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runtime.metrics import REGISTRY
from herald.shared.runtime.settings import (
    BrandingSettings,
    MailerSettings,
    RetrySettings,
    SecuritySettings,
    Settings,
    SmtpSettings,
)
from tests.fakes.artifacts import MemoryArtifacts
from tests.fakes.mailer import MemoryLedger, ScriptedSmtp, StaticResolver
from tests.samples import report_rendered, run_details

PUBLIC_ONLY = "tenants may only use public mail servers"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.4.5.6", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.0.0.5", "a private address"),
        ("172.16.0.1", "a private address"),
        ("172.31.255.254", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("169.254.169.254", "the cloud metadata address"),
        ("fd00:ec2::254", "the cloud metadata address"),
        ("169.254.10.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("100.64.0.1", "a carrier-grade NAT (shared) address"),
        ("100.127.255.254", "a carrier-grade NAT (shared) address"),
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("ff0e::1", "a multicast address"),  # global scope: `is_global` says True
        ("240.0.0.1", "a reserved address"),
        ("192.0.2.1", "not a public address"),  # documentation
        # IPv6 forms that reach an IPv4 address count as that address.
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:10.0.0.5", "a private address"),
        ("2002:7f00:1::", "a loopback address"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::", "the cloud metadata address"),
        ("64:ff9b::a00:5", "a private address"),  # NAT64 of 10.0.0.5
    ],
)
def test_non_public_addresses_are_named_by_kind(address: str, kind: str) -> None:
    assert non_public(ip_address(address)) == kind


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "100.63.255.255",  # either side of CGNAT
        "100.128.0.0",
        "172.32.0.1",  # beyond 172.16.0.0/12
        "2001:4860:4860::8888",
        "2002:808:808::",  # 6to4 of a public address
        "64:ff9b::808:808",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert non_public(ip_address(address)) is None


def test_an_ipv6_address_carries_its_ipv4_one() -> None:
    assert carried(ip_address("::ffff:192.0.2.7")) == ip_address("192.0.2.7")
    assert carried(ip_address("2001:db8::1")) == ip_address("2001:db8::1")


def test_a_literal_is_named_as_it_is_and_a_name_with_its_address() -> None:
    policy = EgressPolicy()
    assert policy.refusal("10.0.0.5", [ip_address("10.0.0.5")]) == (
        f"SMTP host 10.0.0.5 is a private address; {PUBLIC_ONLY}"
    )
    assert policy.refusal("mail.acme.example", [ip_address("169.254.169.254")]) == (
        "SMTP host mail.acme.example resolves to 169.254.169.254, the cloud metadata "
        f"address; {PUBLIC_ONLY}"
    )
    assert policy.refusal("mail.acme.example", [ip_address("8.8.8.8")]) is None


def test_any_address_refused_refuses_the_host() -> None:
    """The connection may go to any of them: one public address among private ones is not
    enough (a name resolving to both is the usual rebinding trick)."""
    refusal = EgressPolicy().refusal("mix.example", [ip_address("8.8.8.8"), ip_address("::1")])
    assert refusal == f"SMTP host mix.example resolves to ::1, a loopback address; {PUBLIC_ONLY}"


def test_the_operator_allows_networks_and_host_names() -> None:
    policy = EgressPolicy.allowing(["127.0.0.0/8", "fd00::/8", "relay.internal"])
    assert policy.refusal("127.0.0.1", [ip_address("127.0.0.1")]) is None
    assert policy.refusal("localhost", [ip_address("::ffff:127.0.0.1")]) is None  # carried
    assert policy.refusal("ula.example", [ip_address("fd01::5")]) is None
    # Every address must be allowed: ::1 is not in the list.
    assert policy.refusal("localhost", [ip_address("127.0.0.1"), ip_address("::1")]) == (
        f"SMTP host localhost resolves to ::1, a loopback address; {PUBLIC_ONLY}"
    )
    # A host name allowed: whatever it resolves to (an internal relay, by name).
    assert policy.refusal("Relay.Internal.", [ip_address("10.9.8.7")]) is None
    assert policy.refusal("10.9.8.7", [ip_address("10.9.8.7")]) is not None


async def test_the_host_is_resolved_once_and_every_address_checked() -> None:
    resolver = StaticResolver({"mail.acme.example": ["8.8.8.8", "10.0.0.5"]})
    egress = TenantEgress(EgressPolicy(), resolver)
    with pytest.raises(HostRefused, match=r"resolves to 10\.0\.0\.5, a private address"):
        await egress.endpoints("mail.acme.example", 25)
    assert resolver.asked == ["mail.acme.example"]

    allowed = TenantEgress(EgressPolicy.allowing(["10.0.0.0/8"]), resolver)
    endpoints = await allowed.endpoints("mail.acme.example", 587)
    assert [e.sockaddr for e in endpoints] == [("8.8.8.8", 587), ("10.0.0.5", 587)]
    with pytest.raises(OSError, match="not known"):  # a connection failure, as before
        await allowed.endpoints("nowhere.example", 25)


def test_the_setting_takes_a_comma_list_or_json_and_stops_the_service_on_a_typo(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert MailerSettings().smtp_allowed_private == []  # production: refuse
    monkeypatch.setenv("HERALD_MAILER__SMTP_ALLOWED_PRIVATE", "127.0.0.0/8, ::1,Relay.Internal.")
    assert Settings().mailer.smtp_allowed_private == ["127.0.0.0/8", "::1/128", "relay.internal"]
    monkeypatch.setenv("HERALD_MAILER__SMTP_ALLOWED_PRIVATE", '["10.1.0.0/16", "192.168.7.7"]')
    assert Settings().mailer.smtp_allowed_private == ["10.1.0.0/16", "192.168.7.7/32"]
    for typo in ("10.0.0.5/8", "10.0.0.0/33", "not a host", "fd00::/129"):
        monkeypatch.setenv("HERALD_MAILER__SMTP_ALLOWED_PRIVATE", typo)
        with pytest.raises(ValidationError, match="smtp_allowed_private"):
            Settings()


def _tenant_email(host: str, **fields: object) -> TenantEmail:
    return TenantEmail.model_validate(
        {"host": host, "port": 25, "security": "none", "from_address": "r@acme.example"} | fields
    )


async def test_a_refused_host_is_refused_before_any_connection_for_good_at_connect() -> None:
    # The fake resolver sends the name to 10.0.0.5; nothing there could answer anyway.
    resolver = StaticResolver({"smtp.acme.example": ["10.0.0.5"]})
    pool = SmtpPool(
        SmtpSettings(host="smtp.acme.example", port=2525, timeout_s=1),
        TenantEgress(EgressPolicy(), resolver),
    )

    async def commit() -> bool:
        raise AssertionError("no transaction may start")

    result = await pool.send(
        wire_form(b"Subject: x\r\n\r\nx\r\n"), "r@a.example", "o@b.example", commit
    )
    await pool.close()
    assert result == RecipientResult(
        address="o@b.example",
        outcome=RecipientOutcome.REFUSED_PERMANENT,
        smtp_message=(
            f"SMTP host smtp.acme.example resolves to 10.0.0.5, a private address; {PUBLIC_ONLY}"
        ),
        stage=SmtpStage.CONNECT,
    )
    # A settings problem, like a refused login: the run waits for the settings to change.
    assert verdict([result]) is Verdict.SETTINGS
    assert reason([result]) == (
        "SMTP server not allowed: check the tenant's email settings "
        f"(SMTP host smtp.acme.example resolves to 10.0.0.5, a private address; {PUBLIC_ONLY})"
    )
    assert diagnose(result) == (
        "connection failed: SMTP host smtp.acme.example resolves to 10.0.0.5, "
        f"a private address; {PUBLIC_ONLY}"
    )


def test_a_refused_greeting_is_still_the_servers_answer() -> None:
    """Only the mailer's own refusal has no code: a 554 greeting fails the run as before."""
    greeting = RecipientResult(
        address="o@b.example",
        outcome=RecipientOutcome.REFUSED_PERMANENT,
        smtp_code=554,
        smtp_message="no service",
        stage=SmtpStage.CONNECT,
    )
    assert verdict([greeting]) is Verdict.FAILED


async def test_a_run_for_a_tenant_on_a_private_host_waits_for_its_settings() -> None:
    """The whole delivery: the tenant's pool refuses, the run goes to pending_retry with the
    reason, and the tenant's settings-problem gauge is up; the environment's server (a
    private address too) is the operator's and is used unchecked by tenants without settings."""
    directory = _Directory(
        acme=TenantSettings(tenant_id="acme", version=1, email=_tenant_email("10.0.0.5"))
    )
    platform = ScriptedSmtp()
    outbounds = TenantOutbounds(
        directory=directory,
        brands=Brands(BrandingSettings(), directory, MemoryArtifacts()),
        keyring=Keyring.from_texts({}),
        default_pool=platform,
        smtp_base=SmtpSettings(host="10.1.1.1", timeout_s=1),
        egress=TenantEgress(EgressPolicy(), StaticResolver({"10.0.0.5": ["10.0.0.5"]})),
    )
    artifacts = MemoryArtifacts()
    delivery = Delivery(
        ledger=MemoryLedger(timedelta(seconds=70)),
        outbounds=outbounds,
        artifacts=artifacts,
        retry=RetrySettings(),
        policy=RecipientPolicy.from_settings(SecuritySettings()),
    )
    try:
        acme = await delivery.deliver(await _rendered(artifacts, "acme"))
        globex = await delivery.deliver(await _rendered(artifacts, "globex"))
    finally:
        await outbounds.close()
    assert acme.status is RunStatus.PENDING_RETRY
    assert acme.reason == (
        "SMTP server not allowed: check the tenant's email settings "
        f"(SMTP host 10.0.0.5 is a private address; {PUBLIC_ONLY})"
    )
    failing = REGISTRY.get_sample_value("herald_tenant_email_settings_failing", {"tenant": "acme"})
    assert failing == 1
    assert globex.status is RunStatus.DELIVERED
    assert platform.delivered


class _Directory(dict[str, TenantSettings]):
    def settings(self, tenant_id: str) -> TenantSettings | None:
        return self.get(tenant_id)


async def _rendered(artifacts: MemoryArtifacts, tenant_id: str) -> ReportRendered:
    run = run_details(
        run_id=f"{tenant_id}/s-1@now",
        scheduled_for=utcnow(),
        retry_until=utcnow() + timedelta(hours=1),
    )
    rendered = report_rendered(run, tenant_id=tenant_id)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"a\n1\n"

    await artifacts.put(rendered.artifact_id, rendered.filename, "text/csv", chunks(), {})
    return rendered


async def test_an_address_of_a_family_the_kernel_lacks_is_passed_for_the_next() -> None:
    """As `create_connection` does: a host with an IPv6 address on a kernel without IPv6
    is reached at its IPv4 one, not refused at its first."""

    class Listed:
        def __init__(self, endpoints: list[Endpoint]) -> None:
            self.endpoints = endpoints

        async def resolve(self, host: str, port: int) -> list[Endpoint]:
            return self.endpoints

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    unsupported = Endpoint(socket.AF_UNSPEC, ("::1", port, 0, 0))
    reachable = Endpoint(socket.AF_INET, ("127.0.0.1", port))
    egress = TenantEgress(
        EgressPolicy.allowing(["127.0.0.0/8", "::1"]), Listed([unsupported, reachable])
    )
    try:
        sock = await _checked_socket(egress, "relay.example", port)
        assert sock.getpeername() == ("127.0.0.1", port)
        sock.close()
    finally:
        listener.close()
