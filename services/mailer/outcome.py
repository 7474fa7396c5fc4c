"""A run's delivery status from its recipients' results. Pure."""

from __future__ import annotations

import enum
from collections.abc import Sequence

from herald.shared.contract.messages import RecipientOutcome, RecipientResult


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


def verdict(results: Sequence[RecipientResult]) -> Verdict:
    """Delivered when all accepted; retry while any was refused for now; else failed."""
    outcomes = {r.outcome for r in results}
    if outcomes <= {RecipientOutcome.ACCEPTED}:
        return Verdict.DELIVERED
    if RecipientOutcome.REFUSED_TRANSIENT in outcomes:
        return Verdict.RETRY
    return Verdict.FAILED


def reason(results: Sequence[RecipientResult]) -> str | None:
    refused = [r for r in results if r.outcome is not RecipientOutcome.ACCEPTED]
    if not refused:
        return None
    return "; ".join(
        f"{r.address}: {r.smtp_code or '-'} {r.smtp_message or ''}".strip() for r in refused
    )
