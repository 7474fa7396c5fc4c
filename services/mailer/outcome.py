"""A run's delivery status from its recipients' results. Pure."""

from __future__ import annotations

import enum
from collections.abc import Sequence

from herald.shared.contract.messages import RecipientOutcome, RecipientResult, SmtpStage

#: Refusals that say the tenant's settings are wrong, whatever the message.
SETTINGS_STAGES = frozenset({SmtpStage.AUTH, SmtpStage.TLS})
#: What a settings refusal names, by the step it ended at.
_SETTING = {
    SmtpStage.AUTH: "authentication failed",
    SmtpStage.TLS: "TLS failed",
    SmtpStage.SENDER: "sender refused",
    SmtpStage.CONNECT: "server not allowed",
}


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    #: Retried for long: the server refused the tenant's login, TLS or sender, or the
    #: mailer refused the tenant's server.
    SETTINGS = "settings"
    FAILED = "failed"


def settings_refusal(results: Sequence[RecipientResult]) -> RecipientResult | None:
    """The first refusal of the tenant's settings: its login or TLS, for now or for good;
    its sender for good (a 530 "authentication required" where no login is set, a 553
    "not owned by user"); or its server, which the mailer refused to connect to."""
    for result in results:
        if result.outcome is RecipientOutcome.ACCEPTED:
            continue
        if result.stage in SETTINGS_STAGES or _refused_for_good(result):
            return result
    return None


def _refused_for_good(result: RecipientResult) -> bool:
    """`MAIL FROM` names only the tenant's own address; refused at `connect` with no reply
    (a server's refusal has a code), the mailer would not connect to the tenant's host
    (`egress.py`: a private address, say)."""
    if result.outcome is not RecipientOutcome.REFUSED_PERMANENT:
        return False
    return result.stage is SmtpStage.SENDER or (
        result.stage is SmtpStage.CONNECT and result.smtp_code is None
    )


def verdict(results: Sequence[RecipientResult]) -> Verdict:
    """Delivered when all accepted; settings when the server refused them; retry while any
    was refused for now; else failed."""
    outcomes = {r.outcome for r in results}
    if outcomes <= {RecipientOutcome.ACCEPTED}:
        return Verdict.DELIVERED
    if settings_refusal(results) is not None:
        return Verdict.SETTINGS
    if RecipientOutcome.REFUSED_TRANSIENT in outcomes:
        return Verdict.RETRY
    return Verdict.FAILED


def reason(results: Sequence[RecipientResult]) -> str | None:
    refused = [r for r in results if r.outcome is not RecipientOutcome.ACCEPTED]
    if not refused:
        return None
    if (settings := settings_refusal(results)) is not None:
        what = _SETTING[settings.stage or SmtpStage.AUTH]
        detail = f"{settings.smtp_code or ''} {settings.smtp_message or ''}".strip()
        return f"SMTP {what}: check the tenant's email settings ({detail})"
    return "; ".join(
        f"{r.address}: {r.smtp_code or '-'} {r.smtp_message or ''}".strip() for r in refused
    )
