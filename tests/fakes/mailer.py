"""The mailer's ports in memory, with the promises of `store.Ledger` and `smtp.SmtpPool`.

`MemoryLedger` keeps the ledger's: one claim per run and recipient (any case),
held for its lease and taken over once after it unless accepted, a receipt
recorded whatever became of the claim, a release that frees only an open
claim for the next delivery to take at once. `ScriptedSmtp` answers each recipient as scripted and,
like the pool, awaits `commit` between the body and the end-of-data marker:
declined, the server delivers nothing. `MemoryVolumeGate` keeps
`pacing.VolumeGate`'s: fixed UTC minutes and days, at most the limit admitted
in each, whoever asks; its waits move its clock instead of sleeping.
"""

from __future__ import annotations

import asyncio
import enum
import socket
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Literal

from herald.services.mailer.ports import Claim, Commit, Endpoint
from herald.services.mailer.store import send_id
from herald.shared.contract.messages import RecipientOutcome, RecipientResult, SmtpStage, utcnow


class Clock:
    """A settable now: a test moves it past a claim's lease instead of sleeping."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@dataclass(slots=True)
class Send:
    """A claim of the ledger, as `store.Ledger` keeps its document."""

    tenant_id: str
    recipient: str
    claimed_at: datetime
    released: bool = False


class MemoryLedger:
    def __init__(self, lease: timedelta, clock: Callable[[], datetime] = utcnow) -> None:
        self._lease = lease
        self._clock = clock
        self.claims: dict[str, Send] = {}
        self.receipts: dict[str, RecipientResult] = {}
        #: Calls of `acceptances`: the adapter's reads of the database.
        self.reads = 0

    def state(self, run_id: str, recipient: str) -> Literal["sending", "accepted"] | None:
        """`accepted`, `sending` (claimed), or None (never claimed, or released)."""
        key = send_id(run_id, recipient)
        if key in self.receipts:
            return "accepted"
        held = self.claims.get(key)
        return "sending" if held is not None and not held.released else None

    async def acceptances(
        self, run_id: str, recipients: Iterable[str]
    ) -> dict[str, RecipientResult]:
        self.reads += 1
        found = {r: self.receipts.get(send_id(run_id, r)) for r in recipients}
        return {r: result for r, result in found.items() if result is not None}

    async def claim(self, run_id: str, tenant_id: str, recipient: str) -> Claim:
        now = self._clock()
        key = send_id(run_id, recipient)
        held = self.claims.get(key)
        if held is None:
            self.claims[key] = Send(tenant_id, recipient, now)
            return Claim.TAKEN
        lapsed = now - held.claimed_at >= self._lease
        if key in self.receipts or not (held.released or lapsed):
            return Claim.HELD
        taken = Claim.TAKEN if held.released else Claim.TAKEN_OVER
        held.claimed_at, held.released = now, False
        return taken

    async def confirm(self, run_id: str, result: RecipientResult) -> None:
        self.receipts.setdefault(send_id(run_id, result.address), result)

    async def release(self, run_id: str, recipient: str) -> None:
        held = self.claims.get(send_id(run_id, recipient))
        if held is not None:
            held.released = True


class Reply(enum.Enum):
    """What the scripted server does once the message's body is in."""

    ACCEPT = enum.auto()
    REFUSE_PERMANENT = enum.auto()
    REFUSE_TRANSIENT = enum.auto()
    #: The server takes the message; its reply never arrives.
    LOSE_AFTER_DATA = enum.auto()
    #: The server refuses the login before any transaction (a wrong password).
    REFUSE_LOGIN = enum.auto()


#: The server's answer to the end-of-data marker.
ANSWERS = {
    Reply.ACCEPT: (RecipientOutcome.ACCEPTED, 250, "OK: queued"),
    Reply.REFUSE_PERMANENT: (RecipientOutcome.REFUSED_PERMANENT, 550, "mailbox unavailable"),
    Reply.REFUSE_TRANSIENT: (RecipientOutcome.REFUSED_TRANSIENT, 451, "try again later"),
}
#: How `SmtpPool` words a connection lost while waiting for the reply.
LOST_MESSAGE = "SMTPServerDisconnected: Connection lost"


@dataclass(frozen=True, slots=True)
class Sent:
    """A message the server took past its end-of-data marker."""

    sender: str
    recipient: str
    wire: bytes

    def message(self) -> EmailMessage:
        """The message as a reader sees it: the wire form's dot-stuffing undone."""
        data = self.wire.replace(b"\r\n..", b"\r\n.")
        data = data[1:] if data.startswith(b"..") else data
        return message_from_bytes(data, policy=policy.default)


class ScriptedSmtp:
    def __init__(self, script: Mapping[str, Reply] | None = None) -> None:
        #: recipient -> reply; anyone not named is accepted.
        self.script = dict(script or {})
        #: Every recipient a transaction was opened for, in order.
        self.transactions: list[str] = []
        #: Recipients whose `commit` declined: abandoned before the end-of-data marker.
        self.abandoned: list[str] = []
        self.delivered: list[Sent] = []
        self.closed = False

    async def send(
        self, wire: bytes, sender: str, recipient: str, commit: Commit
    ) -> RecipientResult | None:
        if self.script.get(recipient) is Reply.REFUSE_LOGIN:
            return RecipientResult(
                address=recipient,
                outcome=RecipientOutcome.REFUSED_TRANSIENT,
                smtp_code=535,
                smtp_message="5.7.8 Authentication credentials invalid",
                stage=SmtpStage.AUTH,
            )
        self.transactions.append(recipient)
        if not await commit():
            self.abandoned.append(recipient)
            return None
        reply = self.script.get(recipient, Reply.ACCEPT)
        if reply in (Reply.ACCEPT, Reply.LOSE_AFTER_DATA):
            self.delivered.append(Sent(sender, recipient, wire))
        if reply is Reply.LOSE_AFTER_DATA:
            return RecipientResult(
                address=recipient,
                outcome=RecipientOutcome.REFUSED_TRANSIENT,
                smtp_message=LOST_MESSAGE,
            )
        outcome, code, text = ANSWERS[reply]
        return RecipientResult(
            address=recipient, outcome=outcome, smtp_code=code, smtp_message=text
        )

    async def close(self) -> None:
        self.closed = True

    def sent_to(self) -> list[str]:
        return [sent.recipient for sent in self.delivered]


class MemoryVolumeGate:
    """One gate for every "replica" that shares it, as they share the database.

    A wait moves the clock to the end of the full window (never back) once the
    other admits ready to run had their turn: every admit sees the time move,
    as it would in real time, and no test sleeps.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        #: (key, "m" or "d", window start) -> emails admitted in it.
        self.taken: Counter[tuple[str, str, datetime]] = Counter()
        #: Every admit, in order: the key and the time it was let through.
        self.admitted: list[tuple[str, datetime]] = []

    async def admit(self, tenant_id: str, per_minute: int | None, per_day: int | None) -> float:
        began = self.clock.now
        while True:
            now = self.clock.now
            minute = now.replace(second=0, microsecond=0)
            day = minute.replace(hour=0, minute=0)
            windows = [
                (("m", minute), per_minute, minute + timedelta(minutes=1)),
                (("d", day), per_day, day + timedelta(days=1)),
            ]
            full = [
                end
                for (kind, start), limit, end in windows
                if limit is not None and self.taken[(tenant_id, kind, start)] >= limit
            ]
            if not full:
                for (kind, start), limit, _ in windows:
                    if limit is not None:
                        self.taken[(tenant_id, kind, start)] += 1
                self.admitted.append((tenant_id, now))
                return (now - began).total_seconds()
            # The others of the moment ask first (they began now too), then time moves.
            await asyncio.sleep(0)
            self.clock.now = max(self.clock.now, max(full))


@dataclass
class StaticResolver:
    """The `Resolver` port over a fixed table: host -> addresses; any other host fails
    as the system's resolver does."""

    table: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: Every host asked, in order.
    asked: list[str] = field(default_factory=list)

    async def resolve(self, host: str, port: int) -> Sequence[Endpoint]:
        self.asked.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            Endpoint(socket.AF_INET6, (a, port, 0, 0))
            if ":" in a
            else Endpoint(socket.AF_INET, (a, port))
            for a in self.table[host]
        ]
