"""A real SMTP server for tests (aiosmtpd, in a thread): plain, STARTTLS or implicit TLS, AUTH.

It records every delivery (recipient, bytes, the client connection it came
on), can refuse chosen senders with 553 and chosen recipients with 550, slow
each message down, and be stopped and started again on the same port, as a
mail server outage would. Certificates come from a throwaway CA (trustme);
clients trust its PEM file.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


@dataclass(frozen=True, slots=True)
class Delivery:
    recipient: str
    content: bytes
    #: The client's address and port: one value per SMTP connection.
    peer: tuple[str, int]


@dataclass
class _Handler:
    refuse: set[str]
    delay_s: float
    refuse_senders: set[str] = field(default_factory=set)
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse_senders:
            return "553 5.7.1 Sender address rejected: not owned by user"
        # What aiosmtpd does itself when no handler answers MAIL.
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # A message whose end of data arrived is finished even if the client goes
        # away before the reply (see _StreamSession).
        await asyncio.shield(self._accept(session, envelope))
        return "250 2.0.0 Queued"

    async def _accept(self, session: Any, envelope: Any) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)  # a slow server
        with self.lock:
            for recipient in envelope.rcpt_tos:
                self.deliveries.append(Delivery(recipient, envelope.content, session.peer))


class _StreamSession(SMTP):
    """An SMTP session that, like a stream-reading MTA (Postfix, Exim, Mailpit), finishes
    a message whose data the client sent before it went away.

    aiosmtpd cancels the session the moment the client's FIN arrives, dropping
    data still buffered; a client killed right after sending its end-of-data
    marker would then lose a message any real server delivers.
    """

    _in_data = False
    _finishing: asyncio.Task[None] | None = None

    async def smtp_DATA(self, arg: str) -> None:
        self._in_data = True
        try:
            await super().smtp_DATA(arg)
        finally:
            self._in_data = False

    def eof_received(self) -> bool | None:
        if not self._in_data:
            return super().eof_received()
        asyncio.StreamReaderProtocol.eof_received(self)  # the reader sees EOF after the data
        self._end_after_data()
        return False

    def connection_lost(self, error: Exception | None) -> None:
        if not self._in_data:
            super().connection_lost(error)
            return
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
        asyncio.StreamReaderProtocol.connection_lost(self, error)
        self._end_after_data()

    def _end_after_data(self) -> None:
        if self._finishing is None:
            self._finishing = asyncio.get_running_loop().create_task(self._finish())

    async def _finish(self) -> None:
        """The message is handled if its end arrived; a body cut short is dropped."""
        stalled = 0
        while self._in_data and stalled < 3:
            stalled = 0 if self._reader._buffer else stalled + 1  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)
        if self._handler_coroutine is not None:
            self._handler_coroutine.cancel()


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _StreamSession(self.handler, **self.SMTP_kwargs)


class CertificateAuthority:
    def __init__(self, directory: Path) -> None:
        self._ca = trustme.CA()
        self._cert = self._ca.issue_cert("127.0.0.1", "localhost")
        self.ca_file = directory / "test-ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        return context


#: Where listening ports are picked: above the local infrastructure's (10000-19999) and
#: below the kernel's ephemeral range (from 32768 by default), whose ports any outgoing
#: connection may take between the pick and the listen (a service once failed to start
#: with "address already in use" on such a port).
_PORTS = range(20000, 32768)


#: Ports this process handed out: one picked for a service still starting is not listened
#: on yet, so the probe alone could give it twice (a chaos test's renderer once failed to
#: start so).
_GIVEN: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now, outside the ephemeral range, never given before here."""
    for _ in range(200):
        port = random.choice(_PORTS)
        if port in _GIVEN:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
            _GIVEN.add(port)
            return port
    raise RuntimeError(f"no free port in {_PORTS}")


class SmtpServer:
    def __init__(
        self,
        *,
        security: str = "none",
        tls: CertificateAuthority | None = None,
        credentials: tuple[str, str] | None = None,
        refuse: set[str] | None = None,
        refuse_senders: set[str] | None = None,
        delay_s: float = 0.0,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.handler = _Handler(refuse or set(), delay_s, refuse_senders or set())
        self._security = security
        self._tls = tls
        self._credentials = credentials
        self._controller: _Controller | None = None

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and self._credentials == (
            auth_data.login.decode(),
            auth_data.password.decode(),
        )
        # Not `handled`: aiosmtpd then answers a failure with its own 535.
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpServer:
        kwargs: dict[str, Any] = {}
        if self._security == "starttls":
            assert self._tls is not None
            kwargs.update(tls_context=self._tls.server_context(), require_starttls=True)
        elif self._security == "tls":
            assert self._tls is not None
            kwargs.update(ssl_context=self._tls.server_context())
        if self._credentials is not None:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                # Implicit TLS is secure too, though aiosmtpd only counts STARTTLS as such.
                auth_require_tls=self._security == "starttls",
            )
        self._controller = _Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def deliveries(self) -> list[Delivery]:
        with self.handler.lock:
            return list(self.handler.deliveries)

    def received(self, recipient: str) -> int:
        return sum(1 for d in self.deliveries if d.recipient == recipient)
