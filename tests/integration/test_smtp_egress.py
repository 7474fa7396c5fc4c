"""A tenant's own SMTP server on loopback, through the mailer's real path: refused by default
without a connection, delivered when the operator allows it, TLS checked against the name.

The tenant's outbound is made as the mailer makes it (`TenantOutbounds` over the system's
resolver, real sockets, aiosmtpd servers); a bare listening socket stands for an internal
service and must see no connection at all.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from herald.services.mailer.egress import EgressPolicy, TenantEgress
from herald.services.mailer.outbound import TenantOutbounds
from herald.services.mailer.outcome import Verdict, reason, verdict
from herald.services.mailer.ports import Resolver
from herald.services.mailer.smtp import SmtpPool, SystemResolver, wire_form
from herald.shared.contract.messages import (
    RecipientOutcome,
    RecipientResult,
    SmtpStage,
    TenantSettings,
)
from herald.shared.contract.secrets import Keyring
from herald.shared.contract.tenant_settings import TenantEmail
from herald.shared.runs.brand import Brands
from herald.shared.runtime.settings import BrandingSettings, SmtpSettings
from tests.fakes.artifacts import MemoryArtifacts
from tests.fakes.mailer import StaticResolver
from tests.smtp_server import CertificateAuthority, SmtpServer, free_port

pytestmark = pytest.mark.integration

TO = "ops@example.com"
RETRIED_AT_CONNECT = (RecipientOutcome.REFUSED_TRANSIENT, SmtpStage.CONNECT)
MESSAGE = wire_form(b"From: r@acme.example\r\nTo: ops@example.com\r\nSubject: t\r\n\r\nhello\r\n")


class _Directory(dict[str, TenantSettings]):
    def settings(self, tenant_id: str) -> TenantSettings | None:
        return self.get(tenant_id)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """An internal service's port on loopback: accepts connections, answers nothing."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


def _connections(listener: socket.socket) -> int:
    seen = 0
    while True:
        try:
            accepted, _ = listener.accept()
        except BlockingIOError:
            return seen
        accepted.close()
        seen += 1


async def _send_as_tenant(
    email: dict[str, Any],
    allowed: list[str],
    resolver: Resolver | None = None,
    ca: CertificateAuthority | None = None,
) -> RecipientResult:
    """One email through the tenant's outbound, as the mailer builds it from its settings."""
    settings = TenantSettings(
        tenant_id="acme",
        version=1,
        email=TenantEmail.model_validate({"from_address": "r@acme.example"} | email),
    )
    directory = _Directory(acme=settings)
    outbounds = TenantOutbounds(
        directory=directory,
        brands=Brands(BrandingSettings(), directory, MemoryArtifacts()),
        keyring=Keyring.from_texts({}),
        default_pool=SmtpPool(SmtpSettings()),
        smtp_base=SmtpSettings(timeout_s=5, pool_size=2, tls_ca_file=ca.ca_file if ca else None),
        egress=TenantEgress(EgressPolicy.allowing(allowed), resolver or SystemResolver()),
    )

    async def commit() -> bool:
        return True

    try:
        out = await outbounds.for_tenant("acme")
        result = await out.smtp.send(MESSAGE, "r@acme.example", TO, commit)
    finally:
        await outbounds.close()
    assert result is not None
    return result


@pytest.mark.parametrize(
    "host",
    # Every way of writing loopback that resolves to it: the resolved address is checked.
    ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1"],
)
async def test_a_tenant_host_on_loopback_is_refused_without_a_connection(
    listener: socket.socket, host: str
) -> None:
    port = listener.getsockname()[1]
    result = await _send_as_tenant({"host": host, "port": port, "security": "none"}, allowed=[])
    assert _connections(listener) == 0
    assert (result.outcome, result.stage, result.smtp_code) == (
        RecipientOutcome.REFUSED_PERMANENT,
        SmtpStage.CONNECT,
        None,
    )
    message = result.smtp_message or ""
    assert message.startswith(f"SMTP host {host} ")
    assert message.endswith("a loopback address; tenants may only use public mail servers")
    assert verdict([result]) is Verdict.SETTINGS
    assert (reason([result]) or "").startswith("SMTP server not allowed: check the tenant's")


async def test_the_same_host_allowed_by_the_operator_is_delivered(
    listener: socket.socket,
) -> None:
    server = SmtpServer().start()
    try:
        result = await _send_as_tenant(
            {"host": "127.0.0.1", "port": server.port, "security": "none"},
            allowed=["127.0.0.0/8"],
        )
    finally:
        server.stop()
    assert result.outcome is RecipientOutcome.ACCEPTED, result
    assert server.received(TO) == 1
    # And only what is allowed: another loopback network is still refused.
    port = listener.getsockname()[1]
    refused = await _send_as_tenant(
        {"host": "127.0.0.1", "port": port, "security": "none"}, allowed=["127.0.0.2/32"]
    )
    assert refused.outcome is RecipientOutcome.REFUSED_PERMANENT
    assert _connections(listener) == 0


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_tls_verifies_the_host_name_on_the_checked_address(
    tmp_path_factory: pytest.TempPathFactory, security: str
) -> None:
    """The connection goes to the address checked, not to a second resolution; the
    certificate is still checked against the tenant's host name, not that address."""
    ca = CertificateAuthority(tmp_path_factory.mktemp("tls"))  # for 127.0.0.1 and localhost
    server = SmtpServer(security=security, tls=ca).start()
    try:
        named = await _send_as_tenant(
            {"host": "localhost", "port": server.port, "security": security},
            allowed=["127.0.0.0/8", "::1"],
            ca=ca,
        )
        # A name the real DNS does not know, resolved (once) by the mailer's resolver to
        # 127.0.0.1, whose certificate does not name it: connected there, refused at TLS.
        resolver = StaticResolver({"mail.acme.test": ["127.0.0.1"]})
        other = await _send_as_tenant(
            {"host": "mail.acme.test", "port": server.port, "security": security},
            allowed=["127.0.0.0/8"],
            resolver=resolver,
            ca=ca,
        )
    finally:
        server.stop()
    assert named.outcome is RecipientOutcome.ACCEPTED, named
    assert (other.outcome, other.stage) == (RecipientOutcome.REFUSED_TRANSIENT, SmtpStage.TLS)
    assert other.smtp_message == (
        f"TLS handshake with mail.acme.test:{server.port} failed: certificate verify failed: "
        "Hostname mismatch, certificate is not valid for 'mail.acme.test'."
    )
    assert server.received(TO) == 1


async def test_connection_failures_name_the_host_and_port_as_before() -> None:
    """A closed port and a name that does not resolve read as on the unchecked path."""
    closed = free_port()
    refused = await _send_as_tenant(
        {"host": "127.0.0.1", "port": closed, "security": "none"}, allowed=["127.0.0.0/8"]
    )
    assert (refused.outcome, refused.stage) == (
        RecipientOutcome.REFUSED_TRANSIENT,
        SmtpStage.CONNECT,
    )
    assert (refused.smtp_message or "").startswith(
        f"Error connecting to 127.0.0.1 on port {closed}: "
    )
    assert verdict([refused]) is Verdict.RETRY
    unknown = await _send_as_tenant(
        {"host": "no-such-host.invalid", "port": 25, "security": "none"}, allowed=[]
    )
    assert (unknown.outcome, unknown.stage) == (
        RecipientOutcome.REFUSED_TRANSIENT,
        SmtpStage.CONNECT,
    )
    assert "Error connecting to no-such-host.invalid on port 25" in (unknown.smtp_message or "")
