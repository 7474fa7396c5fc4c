"""What a test email's results mean, in one line per recipient. Pure.

The mailer records where each SMTP exchange ended (`RecipientResult.stage`)
and what the server said; a tenant checking their SMTP settings wants to read
which step failed and why ("authentication failed: 535 ..."), not codes and
stage names. Depends on the contract only, as the whole client does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from herald.shared.contract.messages import RecipientOutcome, RecipientResult, SmtpStage

#: What the mailer says of a failed handshake: "TLS handshake with host:port failed: why".
_TLS_MESSAGE = re.compile(r"^TLS handshake with (?P<peer>\S+) failed: (?P<why>.+)$", re.DOTALL)

#: The failure at each step, as the line opens.
_FAILED_AT = {
    SmtpStage.CONNECT: "connection failed",
    SmtpStage.TLS: "TLS handshake failed",
    SmtpStage.AUTH: "authentication failed",
    SmtpStage.SENDER: "sender refused",
    SmtpStage.RECIPIENT: "recipient refused",
    SmtpStage.DATA: "message refused",
}
#: The command a lost connection interrupted, by step: no reply, so nothing was refused.
_COMMAND = {
    SmtpStage.SENDER: "MAIL FROM",
    SmtpStage.RECIPIENT: "RCPT TO",
    SmtpStage.DATA: "DATA",
}


def _one_line(text: str) -> str:
    """Multi-line replies and error texts folded: a diagnosis is one line."""
    return " ".join(text.split())


def _reply(result: RecipientResult) -> str:
    """The server's reply as it was sent ("550 5.1.1 ..."), or the error when there was none."""
    parts = [str(result.smtp_code)] if result.smtp_code is not None else []
    if result.smtp_message:
        parts.append(_one_line(result.smtp_message))
    return " ".join(parts)


def diagnose(result: RecipientResult) -> str:
    """One English line: the step where the exchange ended and what the server said.

    Why a line and not the raw fields: the same 5xx means a bad password at AUTH
    and an unknown mailbox at RCPT TO; naming the step tells the tenant what to fix.
    """
    reply = _reply(result)
    if result.outcome is RecipientOutcome.ACCEPTED:
        return f"delivered: {reply}" if reply else "delivered"
    reply = reply or "no reply from the server"
    stage = result.stage
    if stage is None:  # no SMTP exchange (the allow-list, another delivery) or an old record
        verb = "refused" if result.outcome is RecipientOutcome.REFUSED_PERMANENT else "deferred"
        return f"{verb}: {reply}"
    if stage is SmtpStage.TLS and result.smtp_message:
        # The mailer's message names the server and the reason (a refused STARTTLS's code too).
        found = _TLS_MESSAGE.match(result.smtp_message)
        if found:
            return f"TLS handshake failed: {_one_line(found['why'])} (server {found['peer']})"
    if stage in _COMMAND and result.smtp_code is None:
        return f"connection lost at {_COMMAND[stage]}: {reply}"
    return f"{_FAILED_AT[stage]}: {reply}"


def diagnose_run(results: Sequence[RecipientResult]) -> str:
    """A run's diagnosis: one `address: line` per recipient, a line each, in the given order.

    Per recipient because each has a transaction of its own: one may be refused
    while the others were delivered.
    """
    if not results:
        return "no recipients"
    return "\n".join(f"{r.address}: {diagnose(r)}" for r in results)
