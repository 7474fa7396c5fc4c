"""The mailer's SMTP pool against a real server: TLS, AUTH, refusals, reuse, outages, rate.

Every result names the step where the exchange ended (`SmtpStage`): each step's
failure is provoked here on the real server, and checked to be reported as such.
"""

from __future__ import annotations

import email
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from email.policy import default as default_policy

import pytest
from pydantic import SecretStr

from herald.services.mailer.outcome import Verdict, reason, verdict
from herald.services.mailer.smtp import SmtpPool, wire_form
from herald.shared.contract.messages import RecipientOutcome, RecipientResult, SmtpStage
from herald.shared.contract.tenant_settings import SmtpSecurity
from herald.shared.runtime.settings import SmtpSettings
from tests.smtp_server import CertificateAuthority, SmtpServer, free_port

pytestmark = [
    pytest.mark.integration,
    # Implicit TLS is encrypted from the first byte; aiosmtpd only counts STARTTLS as TLS.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

USER, PASSWORD = "herald", "s3cret"
SENDER = "reports@example.com"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority(tmp_path_factory.mktemp("tls"))


def _message(to: str) -> bytes:
    message = EmailMessage()
    message["From"] = "reports@example.com"
    message["To"] = to
    message["Subject"] = "Campaign Summary"
    message.set_content("The report is attached.")
    message.add_attachment(b"Campaign,Dialed\r\nsolar,10\r\n", "text", "csv", filename="r.csv")
    return message.as_bytes(policy=SMTP)


async def _commit() -> bool:
    return True


async def _send(pool: SmtpPool, to: str) -> RecipientResult:
    result = await pool.send(wire_form(_message(to)), SENDER, to, _commit)
    assert result is not None
    return result


def _settings(server: SmtpServer, **changes: object) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=server.port, timeout_s=5).model_copy(update=changes)


@pytest.fixture
def started() -> Iterator[list[SmtpServer]]:
    servers: list[SmtpServer] = []
    yield servers
    for server in servers:
        server.stop()


def _serve(started: list[SmtpServer], server: SmtpServer) -> SmtpServer:
    started.append(server.start())
    return server


async def test_starttls_with_auth_delivers_over_one_reused_connection(
    ca: CertificateAuthority, started: list[SmtpServer]
) -> None:
    server = _serve(started, SmtpServer(security="starttls", tls=ca, credentials=(USER, PASSWORD)))
    settings = _settings(
        server,
        security=SmtpSecurity.STARTTLS,
        username=USER,
        password=SecretStr(PASSWORD),
        tls_ca_file=ca.ca_file,
        pool_size=1,
    )
    pool = SmtpPool(settings)
    try:
        addresses = [f"r{n}@example.com" for n in range(3)]
        results = [await _send(pool, address) for address in addresses]
    finally:
        await pool.close()
    assert [r.outcome for r in results] == [RecipientOutcome.ACCEPTED] * 3
    assert {r.smtp_code for r in results} == {250}
    assert {r.stage for r in results} == {SmtpStage.DATA}  # an accepted message ends at DATA
    assert [d.recipient for d in server.deliveries] == addresses
    assert len({d.peer for d in server.deliveries}) == 1  # one connection served all three
    received = email.message_from_bytes(server.deliveries[0].content, policy=default_policy)
    assert isinstance(received, EmailMessage)
    (attachment,) = received.iter_attachments()
    assert attachment.get_payload(decode=True) == b"Campaign,Dialed\r\nsolar,10\r\n"


async def test_implicit_tls_with_auth_delivers(
    ca: CertificateAuthority, started: list[SmtpServer]
) -> None:
    server = _serve(started, SmtpServer(security="tls", tls=ca, credentials=(USER, PASSWORD)))
    settings = _settings(
        server,
        security=SmtpSecurity.TLS,
        username=USER,
        password=SecretStr(PASSWORD),
        tls_ca_file=ca.ca_file,
    )
    pool = SmtpPool(settings)
    try:
        result = await _send(pool, "ops@example.com")
    finally:
        await pool.close()
    assert result.outcome is RecipientOutcome.ACCEPTED
    assert server.received("ops@example.com") == 1


async def test_an_untrusted_certificate_is_not_accepted(
    ca: CertificateAuthority, started: list[SmtpServer]
) -> None:
    server = _serve(started, SmtpServer(security="tls", tls=ca))
    pool = SmtpPool(_settings(server, security=SmtpSecurity.TLS))  # no CA file given
    try:
        result = await _send(pool, "ops@example.com")
    finally:
        await pool.close()
    assert result.outcome is RecipientOutcome.REFUSED_TRANSIENT
    assert result.stage is SmtpStage.TLS
    assert (result.smtp_message or "").startswith(
        f"TLS handshake with 127.0.0.1:{server.port} failed: certificate verify failed: "
    ), result.smtp_message
    assert verdict([result]) is Verdict.SETTINGS  # retried until the settings are fixed
    assert server.deliveries == []


async def test_an_untrusted_certificate_offered_by_starttls_is_not_accepted(
    ca: CertificateAuthority, started: list[SmtpServer]
) -> None:
    server = _serve(started, SmtpServer(security="starttls", tls=ca, credentials=(USER, PASSWORD)))
    settings = _settings(
        server, security=SmtpSecurity.STARTTLS, username=USER, password=SecretStr(PASSWORD)
    )  # no CA file given
    pool = SmtpPool(settings)
    try:
        result = await _send(pool, "ops@example.com")
    finally:
        await pool.close()
    assert result.outcome is RecipientOutcome.REFUSED_TRANSIENT
    assert result.stage is SmtpStage.TLS
    assert (result.smtp_message or "").startswith(
        f"TLS handshake with 127.0.0.1:{server.port} failed: certificate verify failed: "
    ), result.smtp_message
    assert server.deliveries == []


async def test_starttls_asked_of_a_server_that_does_not_offer_it_fails_at_tls(
    ca: CertificateAuthority, started: list[SmtpServer]
) -> None:
    server = _serve(started, SmtpServer())  # plain: no STARTTLS offered
    pool = SmtpPool(_settings(server, security=SmtpSecurity.STARTTLS, tls_ca_file=ca.ca_file))
    try:
        result = await _send(pool, "ops@example.com")
    finally:
        await pool.close()
    assert result.outcome is RecipientOutcome.REFUSED_TRANSIENT
    assert (result.stage, result.smtp_code) == (SmtpStage.TLS, None)
    assert result.smtp_message == (
        f"TLS handshake with 127.0.0.1:{server.port} failed: the server does not offer STARTTLS"
    )
    assert server.deliveries == []


async def test_implicit_tls_to_a_plain_server_fails_at_tls(
    ca: CertificateAuthority, started: list[SmtpServer]
) -> None:
    server = _serve(started, SmtpServer())  # answers in plain text
    pool = SmtpPool(_settings(server, security=SmtpSecurity.TLS, tls_ca_file=ca.ca_file))
    try:
        result = await _send(pool, "ops@example.com")
    finally:
        await pool.close()
    assert result.outcome is RecipientOutcome.REFUSED_TRANSIENT
    assert result.stage is SmtpStage.TLS
    assert (result.smtp_message or "").startswith(f"TLS handshake with 127.0.0.1:{server.port}")
    assert "_ssl.c" not in (result.smtp_message or "")


async def test_a_closed_port_fails_at_connect_and_is_retried() -> None:
    port = free_port()  # nothing listens there
    pool = SmtpPool(SmtpSettings(host="127.0.0.1", port=port, timeout_s=5))
    try:
        result = await _send(pool, "ops@example.com")
    finally:
        await pool.close()
    assert result.outcome is RecipientOutcome.REFUSED_TRANSIENT
    assert (result.stage, result.smtp_code) == (SmtpStage.CONNECT, None)
    assert f"port {port}" in (result.smtp_message or "")
    assert verdict([result]) is Verdict.RETRY


async def test_a_host_that_does_not_resolve_fails_at_connect() -> None:
    pool = SmtpPool(SmtpSettings(host="no-such-host.invalid", port=25, timeout_s=5))
    try:
        result = await _send(pool, "ops@example.com")
    finally:
        await pool.close()
    assert result.outcome is RecipientOutcome.REFUSED_TRANSIENT
    assert result.stage is SmtpStage.CONNECT
    assert "no-such-host.invalid" in (result.smtp_message or "")


async def test_wrong_credentials_fail_at_auth_with_the_servers_reply_and_are_retried(
    ca: CertificateAuthority, started: list[SmtpServer]
) -> None:
    """A 535 is the tenant's settings at fault, not the message: retried once they are fixed."""
    server = _serve(started, SmtpServer(security="starttls", tls=ca, credentials=(USER, PASSWORD)))
    wrong = "wr0ng-Passw0rd"
    settings = _settings(
        server,
        security=SmtpSecurity.STARTTLS,
        username=USER,
        password=SecretStr(wrong),
        tls_ca_file=ca.ca_file,
        pool_size=1,
    )
    pool = SmtpPool(settings)
    try:
        result = await _send(pool, "ops@example.com")
        again = await _send(pool, "ops@example.com")  # the failed connection was closed
    finally:
        await pool.close()
    assert result.outcome is RecipientOutcome.REFUSED_TRANSIENT
    assert (result.stage, result.smtp_code) == (SmtpStage.AUTH, 535)
    assert "5.7.8 Authentication credentials invalid" in (result.smtp_message or "")
    assert wrong not in result.model_dump_json()
    assert again == result
    assert verdict([result]) is Verdict.SETTINGS  # retried until the settings are fixed
    assert server.deliveries == []


async def test_a_username_for_a_server_without_auth_fails_at_auth(
    started: list[SmtpServer],
) -> None:
    server = _serve(started, SmtpServer())  # offers no AUTH
    pool = SmtpPool(_settings(server, username=USER, password=SecretStr(PASSWORD)))
    try:
        result = await _send(pool, "ops@example.com")
    finally:
        await pool.close()
    assert result.outcome is RecipientOutcome.REFUSED_TRANSIENT
    assert (result.stage, result.smtp_code) == (SmtpStage.AUTH, None)
    assert "AUTH extension is not supported" in (result.smtp_message or "")
    assert PASSWORD not in result.model_dump_json()
    assert server.deliveries == []


async def test_a_server_requiring_a_login_none_is_set_for_is_a_settings_problem(
    ca: CertificateAuthority, started: list[SmtpServer]
) -> None:
    server = _serve(started, SmtpServer(security="starttls", tls=ca, credentials=(USER, PASSWORD)))
    settings = _settings(server, security=SmtpSecurity.STARTTLS, tls_ca_file=ca.ca_file)
    pool = SmtpPool(settings)  # no username: Herald sends MAIL FROM without AUTH
    try:
        result = await _send(pool, "ops@example.com")
    finally:
        await pool.close()
    assert (result.stage, result.smtp_code) == (SmtpStage.SENDER, 530)
    assert "Authentication required" in (result.smtp_message or "")
    assert verdict([result]) is Verdict.SETTINGS  # retried until a login is set, not failed
    assert (reason([result]) or "").startswith(
        "SMTP sender refused: check the tenant's email settings (530 5.7.0 Authentication"
    )
    assert server.deliveries == []


async def test_a_refused_sender_fails_at_sender_and_leaves_the_connection_usable(
    started: list[SmtpServer],
) -> None:
    server = _serve(started, SmtpServer(refuse_senders={SENDER}))
    pool = SmtpPool(_settings(server, pool_size=1))
    try:
        refused = await _send(pool, "ops@example.com")
        other = await pool.send(
            wire_form(_message("ops@example.com")), "other@example.com", "ops@example.com", _commit
        )
    finally:
        await pool.close()
    assert refused.outcome is RecipientOutcome.REFUSED_PERMANENT
    assert (refused.stage, refused.smtp_code) == (SmtpStage.SENDER, 553)
    assert refused.smtp_message == "5.7.1 Sender address rejected: not owned by user"
    assert verdict([refused]) is Verdict.SETTINGS  # the tenant's from address: wait for a fix
    assert other is not None
    assert (other.outcome, other.stage) == (RecipientOutcome.ACCEPTED, SmtpStage.DATA)
    assert len({d.peer for d in server.deliveries}) == 1


async def test_a_refused_recipient_leaves_the_connection_usable_for_the_next(
    started: list[SmtpServer],
) -> None:
    server = _serve(started, SmtpServer(refuse={"gone@example.com"}))
    pool = SmtpPool(_settings(server, pool_size=1))
    try:
        gone = await _send(pool, "gone@example.com")
        ok = await _send(pool, "ops@example.com")
    finally:
        await pool.close()
    assert gone.outcome is RecipientOutcome.REFUSED_PERMANENT
    assert (gone.smtp_code, gone.smtp_message) == (550, "5.1.1 No such user here")
    assert gone.stage is SmtpStage.RECIPIENT
    assert ok.outcome is RecipientOutcome.ACCEPTED
    assert (ok.stage, ok.smtp_code, ok.smtp_message) == (SmtpStage.DATA, 250, "2.0.0 Queued")
    assert verdict([gone, ok]) is Verdict.FAILED


async def test_a_server_outage_is_transient_and_the_pool_reconnects_after_it(
    started: list[SmtpServer],
) -> None:
    server = _serve(started, SmtpServer())
    pool = SmtpPool(_settings(server, pool_size=1))
    try:
        assert (await _send(pool, "a@example.com")).outcome is (RecipientOutcome.ACCEPTED)
        server.stop()
        down = await _send(pool, "b@example.com")
        assert down.outcome is RecipientOutcome.REFUSED_TRANSIENT
        # The pooled connection is lost at MAIL FROM, or already seen lost: then no connect.
        assert down.stage in {SmtpStage.SENDER, SmtpStage.CONNECT}
        still_down = await _send(pool, "b@example.com")
        assert (still_down.outcome, still_down.stage) == (
            RecipientOutcome.REFUSED_TRANSIENT,
            SmtpStage.CONNECT,
        )
        assert verdict([down]) is Verdict.RETRY
        started.append(SmtpServer(port=server.port).start())
        back = await _send(pool, "b@example.com")
    finally:
        await pool.close()
    assert back.outcome is RecipientOutcome.ACCEPTED
    assert started[-1].received("b@example.com") == 1


async def test_the_rate_limit_spreads_messages_out(started: list[SmtpServer]) -> None:
    server = _serve(started, SmtpServer())
    pool = SmtpPool(_settings(server, max_per_minute=600))  # one every 0.1 s
    begun = time.monotonic()
    try:
        for n in range(10):
            await _send(pool, f"r{n}@example.com")
    finally:
        await pool.close()
    # Ten messages at one per 0.1 s cannot take less than 0.9 s; none is dropped.
    assert time.monotonic() - begun >= 0.85
    assert len(server.deliveries) == 10


async def test_a_declined_commit_abandons_the_message_before_the_end_of_data(
    started: list[SmtpServer],
) -> None:
    """The ledger's intent comes before the end-of-data marker; without it nothing is delivered."""
    server = _serve(started, SmtpServer())
    pool = SmtpPool(_settings(server, pool_size=1))
    seen: list[int] = []

    async def held_elsewhere() -> bool:
        seen.append(len(server.deliveries))
        return False

    async def ledger_down() -> bool:
        raise ConnectionError("ledger unreachable")

    try:
        declined = await pool.send(
            wire_form(_message("a@example.com")), SENDER, "a@example.com", held_elsewhere
        )
        with pytest.raises(ConnectionError):
            await pool.send(
                wire_form(_message("b@example.com")), SENDER, "b@example.com", ledger_down
            )
        after = await _send(pool, "c@example.com")
    finally:
        await pool.close()
    assert declined is None
    assert seen == [0]  # the commit ran while the server held the body but had not accepted it
    assert after.outcome is RecipientOutcome.ACCEPTED
    assert [d.recipient for d in server.deliveries] == ["c@example.com"]


async def test_lines_starting_with_a_dot_and_bare_line_ends_arrive_intact(
    started: list[SmtpServer],
) -> None:
    server = _serve(started, SmtpServer())
    pool = SmtpPool(_settings(server))
    body = ".hidden line\n.\n..two dots\nlast line without an end"
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "dots@example.com"
    message["Subject"] = "dots"
    message.set_content(body)
    raw = message.as_bytes(policy=default_policy)  # bare LF line ends
    try:
        result = await pool.send(wire_form(raw), SENDER, "dots@example.com", _commit)
    finally:
        await pool.close()
    assert result is not None
    assert result.outcome is RecipientOutcome.ACCEPTED
    received = email.message_from_bytes(server.deliveries[0].content, policy=default_policy)
    assert isinstance(received, EmailMessage)
    assert received.get_content().splitlines() == body.splitlines()
