"""Sending one message to one recipient over SMTP, and what the server said.

One SMTP transaction per recipient, so every recipient's result is known on
its own: accepted, refused for good (5xx), or refused for now (4xx, a lost
connection, a timeout).
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage

import aiosmtplib

from shared.messages import RecipientOutcome, RecipientResult
from shared.settings import SmtpSecurity, SmtpSettings


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    cafile = str(settings.tls_ca_file) if settings.tls_ca_file else None
    return ssl.create_default_context(cafile=cafile)


def _refused(address: str, code: int, text: str) -> RecipientResult:
    outcome = (
        RecipientOutcome.REFUSED_PERMANENT
        if 500 <= code < 600
        else RecipientOutcome.REFUSED_TRANSIENT
    )
    return RecipientResult(address=address, outcome=outcome, smtp_code=code, smtp_message=text)


async def send(settings: SmtpSettings, message: EmailMessage, recipient: str) -> RecipientResult:
    secure = settings.security is not SmtpSecurity.NONE
    try:
        response = await aiosmtplib.send(
            message,
            recipients=[recipient],
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            use_tls=settings.security is SmtpSecurity.TLS,
            start_tls=settings.security is SmtpSecurity.STARTTLS,
            tls_context=_tls_context(settings) if secure else None,
            timeout=settings.timeout_s,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refusal = exc.recipients[0]
        return _refused(recipient, refusal.code, refusal.message)
    except aiosmtplib.SMTPResponseException as exc:
        return _refused(recipient, exc.code, exc.message)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return RecipientResult(
            address=recipient,
            outcome=RecipientOutcome.REFUSED_TRANSIENT,
            smtp_message=f"{type(exc).__name__}: {exc}",
        )
    errors, reply = response
    if recipient in errors:
        refused = errors[recipient]
        return _refused(recipient, refused.code, refused.message)
    code, _, text = reply.partition(" ")
    return RecipientResult(
        address=recipient,
        outcome=RecipientOutcome.ACCEPTED,
        smtp_code=int(code) if code.isdigit() else 250,
        smtp_message=text or reply,
    )
