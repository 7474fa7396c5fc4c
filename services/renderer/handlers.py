"""The renderer's subscriber: each `ReportDue` goes to the use case (`due_runs.DueRuns`)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from herald.services.renderer.due_runs import DueRuns
from herald.shared.contract.messages import ReportDue
from herald.shared.contract.topics import Topics


def register(broker: KafkaBroker, topics: Topics, group_id: str, due_runs: DueRuns) -> None:
    @broker.subscriber(topics.report_due, group_id=group_id, auto_offset_reset="earliest")
    async def on_report_due(due: ReportDue) -> None:
        await due_runs.handle(due)
