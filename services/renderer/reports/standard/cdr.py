"""8. CDR Report: every call of the window, oldest first, streamed row by row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

from herald.services.renderer.calldata.groupings import Document
from herald.services.renderer.reports.figures import money
from herald.services.renderer.reports.model import Cell, Column, Row
from herald.services.renderer.reports.model import ColumnKind as K
from herald.services.renderer.reports.standard.definition import (
    BOTH,
    Computed,
    Figures,
    Inputs,
    Layout,
    Reads,
    ReportDefinition,
)

CDR_COLUMNS = (
    Column("started_at", "Started", K.DATETIME),
    Column("call_id", "Call ID"),
    Column("direction", "Direction"),
    Column("campaign_id", "Campaign"),
    Column("list_id", "List"),
    Column("lead_id", "Lead"),
    Column("queue_id", "Queue"),
    Column("agent_id", "Agent"),
    Column("phone", "Phone"),
    Column("status", "Status"),
    Column("disposition", "Disposition"),
    Column("carrier", "Carrier"),
    Column("hangup_cause", "Hangup cause"),
    Column("wait_s", "Wait", K.DURATION),
    Column("ring_s", "Ring", K.DURATION),
    Column("talk_s", "Talk", K.DURATION),
    Column("hold_s", "Hold", K.DURATION),
    Column("wrap_s", "Wrap", K.DURATION),
    Column("cost", "Cost", K.MONEY),
    Column("sale", "Sale", K.FLAG),
    Column("revenue", "Revenue", K.MONEY),
)
_TEXT = tuple(c.key for c in CDR_COLUMNS[1:13])


def cdr_row(call: Document, zone: ZoneInfo) -> Row:
    """One stored call as a row, its start time on the wall clock of `zone`."""
    text: tuple[Cell, ...] = tuple(call.get(key) for key in _TEXT)
    return (
        call["started_at"].astimezone(zone).replace(tzinfo=None),
        *text,
        call["wait_s"],
        call["ring_s"],
        call["talk_s"],
        call["hold_s"],
        call["wrap_s"],
        money(call["cost_cents"]),
        bool(call["sale"]),
        money(call["revenue_cents"]),
    )


def _cdr(inputs: Inputs) -> Computed:
    timezone = inputs.window.timezone
    zone, calls = ZoneInfo(timezone), inputs.call_stream

    async def rows() -> AsyncIterator[Row]:
        async for call in calls:
            yield cdr_row(call, zone)

    return Computed((Figures(rows()),), (f"Times are local to {timezone}.",))


CDR = ReportDefinition(
    id="cdr",
    title="CDR Report",
    filters=BOTH,
    layouts=(Layout(CDR_COLUMNS),),
    reads=Reads(calls=True),
    compute=_cdr,
)

DEFINITIONS = (CDR,)
