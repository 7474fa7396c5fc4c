"""Agents' session time inside a report window, from stored sessions: pure, no I/O.

A session document is one agent's local day (records.AgentSession). A day the
window covers whole counts with its totals; a day it cuts (a window in another
zone than the data's, or one of some hours) counts only the seconds of each
span inside the window. A session stored without spans cannot be cut: it
counts whole, and `UNCLIPPED` says how many agent-days did, so the report can
say so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from herald.services.renderer.calldata.groupings import Sums
from herald.services.renderer.calldata.records import PauseReason, pause_field

PAUSES: Final = tuple(pause_field(reason) for reason in PauseReason)
SESSION_SUMS: Final = ("login_s", "ready_s", "talk_s", "wrap_s", "pause_s", *PAUSES)
#: Agent-days on a day the window cuts that had no spans, so counted whole.
UNCLIPPED: Final = "unclipped_days"


def whole(doc: Mapping[str, Any]) -> Sums:
    """A session's totals: a day the window covers whole."""
    return {name: int(doc.get(name, 0)) for name in SESSION_SUMS}


def clipped(doc: Mapping[str, Any], start: datetime, end: datetime) -> Sums:
    """The session's seconds within [start, end): its spans cut at the bounds.

    Without spans, its totals and `UNCLIPPED` 1. A second counts when it starts
    inside: the bounds are rounded up to whole seconds, as spans are whole.
    """
    if not doc.get("spans"):
        return whole(doc) | {UNCLIPPED: 1}
    low, high = math.ceil(start.timestamp()), math.ceil(end.timestamp())
    sums = dict.fromkeys(SESSION_SUMS, 0)
    for first, last, field in json.loads(doc["spans"]):
        seconds = min(last, high) - max(first, low)
        if seconds > 0:
            sums[field] += seconds
            sums["login_s"] += seconds
            if field in PAUSES:
                sums["pause_s"] += seconds
    return sums


def per_agent(parts: Iterable[tuple[str, Sums]]) -> dict[str, Sums]:
    """Sums added up per agent, from (agent id, sums) pairs."""
    agents: dict[str, Sums] = {}
    for agent_id, sums in parts:
        total = agents.setdefault(agent_id, {})
        for name, value in sums.items():
            total[name] = total.get(name, 0) + value
    return agents
