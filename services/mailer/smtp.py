"""Sending one message to one recipient over pooled SMTP connections, and what the server said.

One SMTP transaction per recipient, so every recipient's result is known on
its own: accepted, refused for good (5xx), or refused for now (4xx, a lost
connection, a timeout). Connections are reused (a pool of `pool_size`) and
checked with NOOP after sitting idle, since servers drop idle clients; a
connection that fails is closed and the next send opens a fresh one. A rate
limit (messages per minute) spreads a herd over time instead of refusing it.

The DATA phase is driven here rather than by aiosmtplib's `sendmail`: the
message goes out already dot-stuffed (stuffed once per run, not once per
recipient), and a `commit` callback runs between the body and the
end-of-data marker, where the ledger claims the recipient (see `store.py`);
a declined claim abandons the message before the server could accept it.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosmtplib
from aiolimiter import AsyncLimiter

from herald.services.mailer.ports import Commit
from herald.shared.contract.messages import RecipientOutcome, RecipientResult
from herald.shared.runtime.settings import SmtpSecurity, SmtpSettings

#: A pooled connection idle longer than this is checked with NOOP before use.
_IDLE_CHECK_S = 10.0
_LONE_LINE_END = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def wire_form(message: bytes) -> bytes:
    """`message` as DATA carries it: CRLF lines, a leading dot doubled (RFC 5321 4.5.2)."""
    bare = message.replace(b"\r\n", b"")
    if b"\r" in bare or b"\n" in bare:
        message = _LONE_LINE_END.sub(b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


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


def _lost(address: str, exc: BaseException) -> RecipientResult:
    return RecipientResult(
        address=address,
        outcome=RecipientOutcome.REFUSED_TRANSIENT,
        smtp_message=f"{type(exc).__name__}: {exc}",
    )


class _Connection:
    def __init__(self, settings: SmtpSettings) -> None:
        secure = settings.security is not SmtpSecurity.NONE
        self.client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else None,
            use_tls=settings.security is SmtpSecurity.TLS,
            start_tls=settings.security is SmtpSecurity.STARTTLS,
            tls_context=_tls_context(settings) if secure else None,
            timeout=settings.timeout_s,
        )
        self.used_at = 0.0

    async def ready(self) -> None:
        """Connected (and greeted, TLS-wrapped, authenticated) and still answering."""
        if not self.client.is_connected:
            await self.client.connect()
        elif time.monotonic() - self.used_at > _IDLE_CHECK_S:
            try:
                await self.client.noop()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                self.client.close()
                await self.client.connect()

    def close(self) -> None:
        if self.client.is_connected:
            self.client.close()


class SmtpPool:
    """Up to `pool_size` reused connections to the configured server."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._idle: asyncio.Queue[_Connection] = asyncio.Queue()
        for _ in range(settings.pool_size):
            self._idle.put_nowait(_Connection(settings))
        per_minute = settings.max_per_minute
        # One message per 60/per_minute seconds: smoothed, with no initial burst.
        self._limit = AsyncLimiter(1, 60 / per_minute) if per_minute else None

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[_Connection]:
        connection = await self._idle.get()
        try:
            yield connection
        finally:
            connection.used_at = time.monotonic()
            self._idle.put_nowait(connection)

    async def send(
        self, wire: bytes, sender: str, recipient: str, commit: Commit
    ) -> RecipientResult | None:
        """`wire` (see `wire_form`) from the envelope `sender` to `recipient` alone.

        None when `commit` declined: the transaction was abandoned before the
        end-of-data marker, so the server delivers nothing.
        """
        if self._limit is not None:
            await self._limit.acquire()
        async with self._connection() as connection:
            try:
                await connection.ready()
            except aiosmtplib.SMTPResponseException as exc:  # greeting, STARTTLS or AUTH refused
                connection.close()
                return _refused(recipient, exc.code, exc.message)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                connection.close()
                return _lost(recipient, exc)
            return await self._transaction(connection, wire, sender, recipient, commit)

    async def _transaction(
        self, connection: _Connection, wire: bytes, sender: str, recipient: str, commit: Commit
    ) -> RecipientResult | None:
        client = connection.client
        try:
            await client.mail(sender)
            await client.rcpt(recipient)
            start = await client.execute_command(b"DATA")
            if start.code != aiosmtplib.SMTPStatus.start_input:
                raise aiosmtplib.SMTPDataError(start.code, start.message)
            protocol = client.protocol
            if protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("Connection lost")
            protocol.write(wire)
        except aiosmtplib.SMTPResponseException as exc:
            await _reset(connection)
            return _refused(recipient, exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            connection.close()
            return _lost(recipient, exc)
        try:
            committed = await commit()
        except BaseException:
            connection.close()  # mid-DATA: the server discards the message
            raise
        if not committed:
            connection.close()
            return None
        try:
            # Nothing may run between these two lines: read_response arms the
            # protocol for the reply before the event loop can deliver it.
            protocol.write(b".\r\n")
            reply = await protocol.read_response(timeout=self._settings.timeout_s)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            connection.close()
            return _lost(recipient, exc)
        if reply.code != aiosmtplib.SMTPStatus.completed:
            await _reset(connection)
            return _refused(recipient, reply.code, reply.message)
        return RecipientResult(
            address=recipient,
            outcome=RecipientOutcome.ACCEPTED,
            smtp_code=reply.code,
            smtp_message=reply.message,
        )

    async def close(self) -> None:
        while not self._idle.empty():
            connection = self._idle.get_nowait()
            if connection.client.is_connected:
                try:
                    await connection.client.quit()
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    connection.close()


async def _reset(connection: _Connection) -> None:
    """After a refusal the transaction is over; RSET leaves the connection clean for reuse."""
    try:
        await connection.client.rset()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        connection.close()
