"""A test email's diagnosis: one English line per recipient naming the step that ended it."""

from __future__ import annotations

import pytest

from herald.client.diagnosis import diagnose, diagnose_run
from herald.shared.contract.messages import RecipientOutcome, RecipientResult, SmtpStage

ACCEPTED = RecipientOutcome.ACCEPTED
PERMANENT = RecipientOutcome.REFUSED_PERMANENT
TRANSIENT = RecipientOutcome.REFUSED_TRANSIENT


def _result(
    outcome: RecipientOutcome,
    stage: SmtpStage | None,
    code: int | None = None,
    message: str | None = None,
    address: str = "ops@example.com",
) -> RecipientResult:
    return RecipientResult(
        address=address, outcome=outcome, smtp_code=code, smtp_message=message, stage=stage
    )


@pytest.mark.parametrize(
    ("result", "line"),
    [
        pytest.param(
            _result(
                TRANSIENT,
                SmtpStage.CONNECT,
                message="Error connecting to smtp.example.com on port 587: [Errno 111] refused",
            ),
            "connection failed: Error connecting to smtp.example.com on port 587: "
            "[Errno 111] refused",
            id="connect",
        ),
        pytest.param(
            _result(PERMANENT, SmtpStage.CONNECT, 554, "5.3.2 No SMTP service here"),
            "connection failed: 554 5.3.2 No SMTP service here",
            id="greeting-refused",
        ),
        pytest.param(
            _result(
                TRANSIENT,
                SmtpStage.TLS,
                message="TLS handshake with smtp.example.com:465 failed: certificate verify "
                "failed: self-signed certificate in certificate chain",
            ),
            "TLS handshake failed: certificate verify failed: self-signed certificate in "
            "certificate chain (server smtp.example.com:465)",
            id="tls",
        ),
        pytest.param(
            _result(TRANSIENT, SmtpStage.TLS, message="handshake timed out"),
            "TLS handshake failed: handshake timed out",
            id="tls-other-wording",
        ),
        pytest.param(
            _result(TRANSIENT, SmtpStage.AUTH, 535, "5.7.8 Authentication credentials invalid"),
            "authentication failed: 535 5.7.8 Authentication credentials invalid",
            id="auth",
        ),
        pytest.param(
            _result(TRANSIENT, SmtpStage.AUTH, message="The SMTP AUTH extension is not supported"),
            "authentication failed: The SMTP AUTH extension is not supported",
            id="auth-not-offered",
        ),
        pytest.param(
            _result(PERMANENT, SmtpStage.SENDER, 553, "5.7.1 Sender address rejected"),
            "sender refused: 553 5.7.1 Sender address rejected",
            id="sender",
        ),
        pytest.param(
            _result(PERMANENT, SmtpStage.RECIPIENT, 550, "5.1.1 No such user here"),
            "recipient refused: 550 5.1.1 No such user here",
            id="recipient",
        ),
        pytest.param(
            _result(TRANSIENT, SmtpStage.RECIPIENT, 450, "4.2.1 Mailbox busy"),
            "recipient refused: 450 4.2.1 Mailbox busy",
            id="recipient-for-now",
        ),
        pytest.param(
            _result(PERMANENT, SmtpStage.DATA, 552, "5.3.4 Message too big"),
            "message refused: 552 5.3.4 Message too big",
            id="data-refused",
        ),
        pytest.param(
            _result(TRANSIENT, SmtpStage.DATA, message="SMTPReadTimeoutError: Timed out"),
            "connection lost at DATA: SMTPReadTimeoutError: Timed out",
            id="data-lost",
        ),
        pytest.param(
            _result(TRANSIENT, SmtpStage.SENDER, message="SMTPServerDisconnected: EOF"),
            "connection lost at MAIL FROM: SMTPServerDisconnected: EOF",
            id="sender-lost",
        ),
        pytest.param(
            _result(ACCEPTED, SmtpStage.DATA, 250, "2.0.0 Ok: queued as 4Z1"),
            "delivered: 250 2.0.0 Ok: queued as 4Z1",
            id="delivered",
        ),
    ],
)
def test_each_stage_reads_as_the_step_and_the_servers_reply(
    result: RecipientResult, line: str
) -> None:
    assert diagnose(result) == line


@pytest.mark.parametrize(
    ("result", "line"),
    [
        pytest.param(
            _result(PERMANENT, None, message="domain elsewhere.example is not allowed"),
            "refused: domain elsewhere.example is not allowed",
            id="allow-list",
        ),
        pytest.param(
            _result(TRANSIENT, None, message="another delivery of this run is sending it"),
            "deferred: another delivery of this run is sending it",
            id="held-elsewhere",
        ),
        pytest.param(
            _result(PERMANENT, None, 550, "5.1.1 No such user"),
            "refused: 550 5.1.1 No such user",
            id="old-record",
        ),
        pytest.param(_result(TRANSIENT, None), "deferred: no reply from the server", id="nothing"),
        pytest.param(_result(ACCEPTED, None, 250, "OK"), "delivered: 250 OK", id="accepted"),
        pytest.param(_result(ACCEPTED, None), "delivered", id="accepted-bare"),
    ],
)
def test_without_a_stage_the_outcome_and_reply_are_said(result: RecipientResult, line: str) -> None:
    assert diagnose(result) == line


def test_a_multi_line_reply_is_one_line() -> None:
    result = _result(PERMANENT, SmtpStage.RECIPIENT, 550, "5.1.1 No such user\nsee the docs")
    assert diagnose(result) == "recipient refused: 550 5.1.1 No such user see the docs"


def test_a_run_is_diagnosed_per_recipient_in_order() -> None:
    results = [
        _result(ACCEPTED, SmtpStage.DATA, 250, "2.0.0 Queued", address="a@example.com"),
        _result(PERMANENT, SmtpStage.RECIPIENT, 550, "5.1.1 No such user", address="b@x.com"),
    ]
    assert diagnose_run(results) == (
        "a@example.com: delivered: 250 2.0.0 Queued\n"
        "b@x.com: recipient refused: 550 5.1.1 No such user"
    )
    assert diagnose_run([]) == "no recipients"
