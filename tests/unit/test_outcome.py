"""A run's verdict from its recipients' results: which refusals wait for the tenant's
settings, which are retried, which fail the run."""

from __future__ import annotations

import pytest

from herald.services.mailer.outcome import Verdict, reason, verdict
from herald.shared.contract.messages import RecipientOutcome, RecipientResult, SmtpStage

PERMANENT, TRANSIENT = RecipientOutcome.REFUSED_PERMANENT, RecipientOutcome.REFUSED_TRANSIENT


def _result(outcome: RecipientOutcome, stage: SmtpStage, code: int | None) -> RecipientResult:
    return RecipientResult(
        address="ops@example.com", outcome=outcome, smtp_code=code, smtp_message="x", stage=stage
    )


ACCEPTED = _result(RecipientOutcome.ACCEPTED, SmtpStage.DATA, 250)


@pytest.mark.parametrize(
    ("refused", "expected", "said"),
    [
        (_result(TRANSIENT, SmtpStage.AUTH, 535), Verdict.SETTINGS, "SMTP authentication failed"),
        (_result(TRANSIENT, SmtpStage.TLS, None), Verdict.SETTINGS, "SMTP TLS failed"),
        # MAIL FROM names the tenant's own address: refused for good, its settings are wrong.
        (_result(PERMANENT, SmtpStage.SENDER, 530), Verdict.SETTINGS, "SMTP sender refused"),
        (_result(PERMANENT, SmtpStage.SENDER, 553), Verdict.SETTINGS, "SMTP sender refused"),
        # Refused for now at MAIL FROM: the server's trouble, retried as any other.
        (_result(TRANSIENT, SmtpStage.SENDER, 451), Verdict.RETRY, "ops@example.com: 451 x"),
        (_result(PERMANENT, SmtpStage.RECIPIENT, 550), Verdict.FAILED, "ops@example.com: 550 x"),
        (_result(TRANSIENT, SmtpStage.RECIPIENT, 450), Verdict.RETRY, "ops@example.com: 450 x"),
    ],
)
def test_which_refusals_wait_for_the_settings(
    refused: RecipientResult, expected: Verdict, said: str
) -> None:
    assert verdict([ACCEPTED, refused]) is expected
    assert (reason([ACCEPTED, refused]) or "").startswith(said)
    if expected is Verdict.SETTINGS:
        assert "check the tenant's email settings" in (reason([refused]) or "")


def test_all_accepted_is_delivered_with_no_reason() -> None:
    assert verdict([ACCEPTED, ACCEPTED]) is Verdict.DELIVERED
    assert reason([ACCEPTED]) is None
