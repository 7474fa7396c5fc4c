"""What the mailer needs from outside besides the shared ports, as Protocols.

The adapters are `store.Ledger` and `pacing.VolumeGate` (MongoDB),
`smtp.SmtpPool` (aiosmtplib) and `smtp.SystemResolver` (the resolver of the
host); the in-memory fakes are in `tests/fakes/mailer.py`.
"""

from __future__ import annotations

import enum
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Protocol

from herald.shared.contract.messages import RecipientResult
from herald.shared.runs.text import Logo
from herald.shared.runtime.settings import BrandingSettings

#: Awaited with the body sent and before the end-of-data marker; False abandons the message.
Commit = Callable[[], Awaitable[bool]]


class Claim(enum.Enum):
    #: This delivery may send: the recipient was free.
    TAKEN = "taken"
    #: This delivery may send: an earlier one stopped after claiming, reply unknown.
    TAKEN_OVER = "taken_over"
    #: Another delivery is sending it now, or it was accepted already.
    HELD = "held"


class SendLedger(Protocol):
    """At least once, and twice only when a mailer stopped between its claim and the reply."""

    async def acceptances(
        self, run_id: str, recipients: Iterable[str]
    ) -> dict[str, RecipientResult]:
        """The server's acceptances recorded for these recipients of the run, in one read.

        Keyed by the recipient as asked (any case); the unaccepted are absent.
        """

    async def claim(self, run_id: str, tenant_id: str, recipient: str) -> Claim:
        """Taken when free, taken over once its lease expired, else held by another.

        Safe to call concurrently, for any runs: claims made at once may share a write.
        """

    async def confirm(self, run_id: str, result: RecipientResult) -> None:
        """Records the acceptance of a claimed recipient; retried through outages.

        Returns once recorded; records made at once may share a write.
        """

    async def release(self, run_id: str, recipient: str) -> None:
        """Drops an unaccepted claim: the next delivery may send; retried through outages."""


class MailSender(Protocol):
    """One SMTP transaction per recipient, so each recipient's reply is known on its own."""

    async def send(
        self, wire: bytes, sender: str, recipient: str, commit: Commit
    ) -> RecipientResult | None:
        """The server's reply; None when `commit` declined and nothing was delivered."""

    async def close(self) -> None:
        """Ends the open connections politely."""


@dataclass(frozen=True, slots=True)
class Outbound:
    """How one tenant's mail goes out: the server, the sender, the brand."""

    smtp: MailSender
    from_address: str
    branding: BrandingSettings
    logo: Logo | None = None
    reply_to: str | None = None
    #: The volume the provider allows (None: no limit of that kind), paced by the `VolumeGate`.
    max_per_minute: int | None = None
    max_per_day: int | None = None
    #: Whose allowance the mail counts against; None: the tenant's own. Tenants sharing
    #: the environment's server share its allowance.
    volume_key: str | None = None

    @property
    def limited(self) -> bool:
        return self.max_per_minute is not None or self.max_per_day is not None


class VolumeGate(Protocol):
    """The provider's allowed volume is per account, so it is counted across replicas."""

    async def admit(self, tenant_id: str, per_minute: int | None, per_day: int | None) -> float:
        """Wait until one more email of the tenant fits its allowed volume in every window,
        counting every mailer replica; returns the seconds waited (0.0 when it fit at once)."""


class SettingsProblem(Exception):
    """The tenant's email settings cannot be used as they are (a password sealed for a key
    this mailer does not hold): the run waits for the settings to be fixed."""


class Outbounds(Protocol):
    async def for_tenant(self, tenant_id: str) -> Outbound:
        """The tenant's own settings, or the environment's; `SettingsProblem` if unusable."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One address a host resolved to, as a socket connects to it."""

    family: socket.AddressFamily
    #: `(address, port)`, or `(address, port, flowinfo, scope_id)` for IPv6.
    sockaddr: tuple[str, int] | tuple[str, int, int, int]

    @property
    def address(self) -> IPv4Address | IPv6Address:
        return ip_address(self.sockaddr[0])


class Resolver(Protocol):
    """A host name (or address literal) and port to the addresses a connection may use."""

    async def resolve(self, host: str, port: int) -> Sequence[Endpoint]:
        """Every address of the host, in the order to try them; OSError if it has none."""
