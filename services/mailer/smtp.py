"""Sending one message to one recipient over pooled SMTP connections, and what the server said.

One SMTP transaction per recipient, so every recipient's result is known on
its own: accepted, refused for good (5xx), or refused for now (4xx, a lost
connection, a timeout). Connections are reused (a pool of `pool_size`) and
checked with NOOP after sitting idle, since servers drop idle clients; a
connection that fails is closed and the next send opens a fresh one. A rate
limit (messages per minute) spreads a herd over time instead of refusing it.

Every result names the step the exchange ended at (`SmtpStage`), so a test
email can say what to fix. Opening a connection is driven one step at a time
(connect and greet, STARTTLS, AUTH) rather than by aiosmtplib's `connect()`,
which does all three and leaves the failed step to guesswork. A TLS or AUTH
failure is the tenant's settings at fault, not the message: it is refused for
now whatever the server's code, so the run is retried once the settings are fixed.

A tenant's pool checks where it connects (`egress.py`): the host is resolved
once, every address checked, and the connection opened to a checked address
(TLS still verifies the host's name); a refused host ends at `connect` for
good without a byte sent, its reason naming the host, like a refused login a
problem of the tenant's settings. The environment's own pool is not checked.

The DATA phase is driven here rather than by aiosmtplib's `sendmail`: the
message goes out already dot-stuffed (stuffed once per run, not once per
recipient), and a `commit` callback runs between the body and the
end-of-data marker, where the ledger claims the recipient (see `store.py`);
a declined claim abandons the message before the server could accept it.
"""

from __future__ import annotations

import asyncio
import functools
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aiosmtplib
from aiolimiter import AsyncLimiter

from herald.services.mailer.egress import HostRefused, TenantEgress
from herald.services.mailer.ports import Commit, Endpoint
from herald.shared.contract.messages import RecipientOutcome, RecipientResult, SmtpStage
from herald.shared.contract.tenant_settings import SmtpSecurity
from herald.shared.runtime.settings import SmtpSettings

#: A pooled connection idle longer than this is checked with NOOP before use.
_IDLE_CHECK_S = 10.0
_LONE_LINE_END = re.compile(rb"\r(?!\n)|(?<!\r)\n")
#: OpenSSL's decoration around the reason: "[SSL: CODE] reason (_ssl.c:1006)".
_SSL_DECORATION = re.compile(r"^\[SSL(?:: \w+)?\]\s*|\s*\(_ssl\.c:\d+\)$")
_FAILURES = (aiosmtplib.SMTPException, OSError, TimeoutError)


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
    return _verifying(str(settings.tls_ca_file) if settings.tls_ca_file else None)


@functools.cache
def _verifying(cafile: str | None) -> ssl.SSLContext:
    """One context per CA bundle for every pool: making one reads the bundle (about 20 ms,
    on the event loop), which each tenant's pool of 32 connections paid 32 times."""
    return ssl.create_default_context(cafile=cafile)


def _refused(address: str, code: int, text: str, stage: SmtpStage) -> RecipientResult:
    outcome = (
        RecipientOutcome.REFUSED_PERMANENT
        if 500 <= code < 600
        else RecipientOutcome.REFUSED_TRANSIENT
    )
    return RecipientResult(
        address=address, outcome=outcome, smtp_code=code, smtp_message=text, stage=stage
    )


def _lost(address: str, exc: BaseException, stage: SmtpStage) -> RecipientResult:
    return RecipientResult(
        address=address,
        outcome=RecipientOutcome.REFUSED_TRANSIENT,
        smtp_message=f"{type(exc).__name__}: {exc}",
        stage=stage,
    )


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind `exc` (aiosmtplib wraps an implicit TLS one in SMTPConnectError)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _tls_reason(exc: BaseException) -> str:
    """Why a TLS handshake failed, in OpenSSL's words without its decoration."""
    error = _ssl_error(exc)
    if error is not None:
        return _SSL_DECORATION.sub("", error.strerror or str(error)) or type(error).__name__
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"STARTTLS refused: {exc.code} {exc.message}"
    if isinstance(exc, aiosmtplib.SMTPException) and "not supported" in exc.message:
        return "the server does not offer STARTTLS"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiosmtplib.SMTPException):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


class _StepFailed(Exception):
    """Opening a connection failed at `stage`, for the reason `error`."""

    def __init__(self, stage: SmtpStage, error: BaseException) -> None:
        super().__init__(stage, error)
        self.stage = stage
        self.error = error


class SystemResolver:
    """The `Resolver` port: the system's resolver, as `asyncio` asks it."""

    async def resolve(self, host: str, port: int) -> Sequence[Endpoint]:
        found = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        endpoints = []
        for family, _, _, _, sockaddr in found:
            match sockaddr:  # (address, port), or IPv6's (address, port, flowinfo, scope_id)
                case (str(), int()) | (str(), int(), int(), int()):
                    endpoints.append(Endpoint(family, sockaddr))
        return endpoints


async def _checked_socket(egress: TenantEgress, host: str, port: int) -> socket.socket:
    """A TCP connection to the first checked address of the host that answers, as
    `create_connection` would make it; aiosmtplib's own error when there is none."""
    try:
        endpoints = await egress.endpoints(host, port)
    except OSError as exc:  # the host does not resolve
        raise aiosmtplib.SMTPConnectError(
            f"Error connecting to {host} on port {port}: {exc}"
        ) from exc
    loop = asyncio.get_running_loop()
    error = OSError(f"{host} has no address")
    for endpoint in endpoints:
        try:  # a family the kernel lacks (no IPv6) is the next address's turn too
            sock = socket.socket(endpoint.family, socket.SOCK_STREAM)
        except OSError as exc:
            error = exc
            continue
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, endpoint.sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise aiosmtplib.SMTPConnectError(
        f"Error connecting to {host} on port {port}: {error}"
    ) from error


class _Connection:
    def __init__(
        self, settings: SmtpSettings, tls: ssl.SSLContext | None, egress: TenantEgress | None
    ) -> None:
        self._settings = settings
        self._egress = egress
        # No credentials and no STARTTLS here: `_open` drives each step itself. A checked
        # connection gets its socket at connect (aiosmtplib then wants no port); the host
        # name stays, for TLS to verify.
        self.client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port if egress is None else None,
            use_tls=settings.security is SmtpSecurity.TLS,
            start_tls=False,
            tls_context=tls,
            timeout=settings.timeout_s,
        )
        self.used_at = 0.0

    async def ready(self) -> None:
        """Connected (and greeted, TLS-wrapped, authenticated) and still answering.

        Raises `_StepFailed` naming the step that failed; the caller closes the connection.
        """
        if not self.client.is_connected:
            await self._open()
        elif time.monotonic() - self.used_at > _IDLE_CHECK_S:
            try:
                await self.client.noop()
            except _FAILURES:
                self.client.close()
                await self._open()

    async def _open(self) -> None:
        """Connect and greet, then STARTTLS and AUTH as configured, one step at a time."""
        client, settings = self.client, self._settings
        try:
            # TCP, the implicit TLS handshake if configured, the greeting; then EHLO
            # (HELO if refused), so that a refused EHLO counts as a refused greeting.
            if self._egress is None:
                await client.connect()
            else:
                await self._connect_checked(self._egress)
            if client.is_ehlo_or_helo_needed:
                try:
                    await client.ehlo()
                except aiosmtplib.SMTPHeloError:
                    if not client.is_connected:
                        raise
                    await client.helo()
        except _FAILURES as exc:
            stage = SmtpStage.TLS if _ssl_error(exc) is not None else SmtpStage.CONNECT
            raise _StepFailed(stage, exc) from exc
        if settings.security is SmtpSecurity.STARTTLS:
            try:
                await client.starttls()
            except _FAILURES as exc:
                raise _StepFailed(SmtpStage.TLS, exc) from exc
        if settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else ""
            try:
                await client.login(settings.username, password)
            except _FAILURES as exc:
                raise _StepFailed(SmtpStage.AUTH, exc) from exc

    async def _connect_checked(self, egress: TenantEgress) -> None:
        """Connects to an address of the host that the egress check passed, resolved once.

        Raises `_StepFailed` at `connect` with `HostRefused` before any connection is made.
        """
        host, port = self._settings.host, self._settings.port
        try:
            async with asyncio.timeout(self._settings.timeout_s):
                sock = await _checked_socket(egress, host, port)
        except HostRefused as refused:
            raise _StepFailed(SmtpStage.CONNECT, refused) from refused
        except TimeoutError as exc:
            raise aiosmtplib.SMTPConnectTimeoutError(
                f"Timed out connecting to {host} on port {port}"
            ) from exc
        try:
            await self.client.connect(sock=sock)
        except aiosmtplib.SMTPException as exc:
            # Given a socket, aiosmtplib names no port in its errors ("on port None").
            if " on port None" in exc.message:
                exc.message = exc.message.replace(" on port None", f" on port {port}")
                exc.args = (exc.message,)
            raise

    def close(self) -> None:
        # Even when no longer connected: a step that failed after `connect()` (STARTTLS,
        # AUTH) may leave aiosmtplib's connect lock held, and the next `connect()` waiting.
        self.client.close()


class SmtpPool:
    """Up to `pool_size` reused connections to the configured server.

    `egress`: where a tenant's server may be (`egress.py`); None for the environment's own.
    """

    def __init__(self, settings: SmtpSettings, egress: TenantEgress | None = None) -> None:
        self._settings = settings
        self._idle: asyncio.Queue[_Connection] = asyncio.Queue()
        secure = settings.security is not SmtpSecurity.NONE
        tls = _tls_context(settings) if secure else None
        for _ in range(settings.pool_size):
            self._idle.put_nowait(_Connection(settings, tls, egress))
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
            except _StepFailed as failed:
                connection.close()
                return self._hidden(self._not_ready(recipient, failed))
            result = await self._transaction(connection, wire, sender, recipient, commit)
            return None if result is None else self._hidden(result)

    def _not_ready(self, recipient: str, failed: _StepFailed) -> RecipientResult:
        """The result when a connection could not be opened, at the step that failed.

        TLS and AUTH failures are refused for now whatever the code (a 535 too):
        the tenant's settings are at fault, not the message, so the run is retried
        once they are fixed rather than failed for good. A refused greeting keeps
        its code's meaning; an unreachable server is refused for now.
        """
        error = failed.error
        reply = error if isinstance(error, aiosmtplib.SMTPResponseException) else None
        if isinstance(error, HostRefused):
            # Refused for good: no retry reaches it until the settings change (`outcome.py`).
            return RecipientResult(
                address=recipient,
                outcome=RecipientOutcome.REFUSED_PERMANENT,
                smtp_message=str(error),
                stage=SmtpStage.CONNECT,
            )
        if failed.stage is SmtpStage.TLS:
            where = f"{self._settings.host}:{self._settings.port}"
            text = f"TLS handshake with {where} failed: {_tls_reason(error)}"
        elif failed.stage is SmtpStage.AUTH:
            text = error.message if isinstance(error, aiosmtplib.SMTPException) else str(error)
        elif reply is not None:  # a refused greeting
            return _refused(recipient, reply.code, reply.message, failed.stage)
        elif isinstance(error, aiosmtplib.SMTPException):
            # aiosmtplib's own words name the server and the cause:
            # "Error connecting to host on port 25: [Errno 111] Connect call failed ...".
            text = error.message
        else:
            return _lost(recipient, error, failed.stage)
        return RecipientResult(
            address=recipient,
            outcome=RecipientOutcome.REFUSED_TRANSIENT,
            smtp_code=reply.code if reply else None,
            smtp_message=text,
            stage=failed.stage,
        )

    def _hidden(self, result: RecipientResult) -> RecipientResult:
        """`result` with the password masked, should a server or an error have echoed it.

        Masked where it stands as a word of its own: a short password is found
        inside ordinary words too ("x" in "extension"), which reveals nothing.
        """
        password = self._settings.password
        secret = password.get_secret_value() if password else ""
        if not secret or not result.smtp_message or secret not in result.smtp_message:
            return result
        alone = re.compile(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])")
        return result.model_copy(
            update={"smtp_message": alone.sub("********", result.smtp_message)}
        )

    async def _transaction(
        self, connection: _Connection, wire: bytes, sender: str, recipient: str, commit: Commit
    ) -> RecipientResult | None:
        client = connection.client
        stage = SmtpStage.SENDER
        try:
            await client.mail(sender)
            stage = SmtpStage.RECIPIENT
            await client.rcpt(recipient)
            stage = SmtpStage.DATA
            start = await client.execute_command(b"DATA")
            if start.code != aiosmtplib.SMTPStatus.start_input:
                raise aiosmtplib.SMTPDataError(start.code, start.message)
            protocol = client.protocol
            if protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("Connection lost")
            protocol.write(wire)
        except aiosmtplib.SMTPResponseException as exc:
            await _reset(connection)
            return _refused(recipient, exc.code, exc.message, stage)
        except _FAILURES as exc:
            connection.close()
            return _lost(recipient, exc, stage)
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
        except _FAILURES as exc:
            connection.close()
            return _lost(recipient, exc, SmtpStage.DATA)
        if reply.code != aiosmtplib.SMTPStatus.completed:
            await _reset(connection)
            return _refused(recipient, reply.code, reply.message, SmtpStage.DATA)
        return RecipientResult(
            address=recipient,
            outcome=RecipientOutcome.ACCEPTED,
            smtp_code=reply.code,
            smtp_message=reply.message,
            stage=SmtpStage.DATA,
        )

    async def close(self) -> None:
        while not self._idle.empty():
            await _quit(self._idle.get_nowait())

    async def close_when_idle(self) -> None:
        """Every connection, each once it is back from its send: a pool being replaced."""
        for _ in range(self._settings.pool_size):
            await _quit(await self._idle.get())


async def _quit(connection: _Connection) -> None:
    if connection.client.is_connected:
        try:
            await connection.client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            connection.close()


async def _reset(connection: _Connection) -> None:
    """After a refusal the transaction is over; RSET leaves the connection clean for reuse."""
    try:
        await connection.client.rset()
    except _FAILURES:
        connection.close()
