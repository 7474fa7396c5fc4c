"""The renderer's subscriber: each `ReportDue` goes to the use case (`due_runs.DueRuns`).

Many runs at once (`renderer.concurrency`), each schedule's in order; see
`shared/runtime/batches.py` for when offsets are committed.
"""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from herald.services.renderer.due_runs import DueRuns
from herald.shared.contract.messages import ReportDue
from herald.shared.contract.tolerance import TOLERANT
from herald.shared.contract.topics import Topics
from herald.shared.runtime.batches import subscribe_concurrently


def register(
    broker: KafkaBroker, topics: Topics, group_id: str, due_runs: DueRuns, concurrency: int
) -> None:
    async def on_report_due(raw: bytes) -> None:
        await due_runs.handle(ReportDue.model_validate_json(raw, context=TOLERANT))

    subscribe_concurrently(
        broker,
        topics.report_due,
        service="renderer",
        group_id=group_id,
        dlq=topics.dlq,
        limit=concurrency,
        handle=on_report_due,
    )
