"""What the mailer needs from outside besides the shared ports, as Protocols.

The adapters are `store.Ledger` (MongoDB) and `smtp.SmtpPool` (aiosmtplib);
the in-memory fakes are in `tests/fakes/mailer.py`.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from herald.shared.contract.messages import RecipientResult

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
