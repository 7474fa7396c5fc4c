"""`herald replay`: the delivery history rebuilt from the audit log, checked, or exported.

For analysts. It reads `delivery.status` without a consumer group, so no
service's offsets move, and it writes the live history (`runs`) only when
told to in so many words (`--into runs --force-live`).
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from herald.cli.support import console, open_database, run
from herald.shared.contract.messages import DeliveryStatus
from herald.shared.history import replay
from herald.shared.history import store as history_store
from herald.shared.runtime.settings import Settings

_COLLECTION = re.compile(r"^(?!system\.)[A-Za-z0-9_][A-Za-z0-9_.-]{0,119}$")
_CSV_COLUMNS = list(DeliveryStatus.model_fields)


class _PerSecond(ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self._unit = unit

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:,.0f} {self._unit}/s", style="progress.data.speed")


#: Records that are not events, listed by place at most this many in a closing line.
SHOWN_NOT_EVENTS = 20


class _Tally:
    """What one pass saw (over the log, or over the runs), for its closing line."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.read = 0
        self.not_events: list[replay.NotAnEvent] = []

    def summary(self, done: str, what: str = "records") -> str:
        """The closing line, then where each record that was not an event is (the first
        SHOWN_NOT_EVENTS), so an auditor can read it."""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        line = f"{done}: {self.read:,} {what} in {elapsed:.1f} s ({self.read / elapsed:,.0f}/s)"
        if not self.not_events:
            return line
        line += f"; {len(self.not_events):,} records were not delivery events and were left out:"
        shown = [f"  {record.where()}" for record in self.not_events[:SHOWN_NOT_EVENTS]]
        if len(self.not_events) > SHOWN_NOT_EVENTS:
            shown.append(f"  and {len(self.not_events) - SHOWN_NOT_EVENTS:,} more")
        return "\n".join([line, *shown])


@contextmanager
def _progress(
    tally: _Tally, doing: str = "replaying delivery.status", unit: str = "events"
) -> Iterator[tuple[Callable[[int], None], Callable[[int | None], None]]]:
    """A progress bar: yields (advance by n, start with the total, None if unknown).

    The bar shows once its pass starts: the log's once it is open, so a Kafka
    that cannot be reached shows none.
    """
    columns = (
        TextColumn(doing),
        BarColumn(),
        MofNCompleteColumn(),
        _PerSecond(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    bar = Progress(*columns, console=console)
    tasks: list[TaskID] = []

    def start(total: int | None) -> None:
        bar.start()
        tasks.append(bar.add_task("replay", total=total))

    def advance(n: int) -> None:
        tally.read += n
        bar.advance(tasks[0], n)

    try:
        yield advance, start
    finally:
        if tasks:
            bar.stop()


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    return typer.Exit(1)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _fail(f"--since: not an ISO timestamp: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _shown(value: Any) -> str:
    if value is replay.ABSENT:
        return "(absent)"
    return json.dumps(value, default=str, ensure_ascii=False)


def _describe(difference: replay.Difference) -> str:
    """One line per difference, naming the run and, for a field, both values."""
    where = f"run {difference.run_id}"
    if difference.field is not None:
        live, replayed = _shown(difference.live), _shown(difference.replayed)
        return f"{where}: {difference.field}: live {live}, replayed {replayed}"
    if difference.replayed is replay.ABSENT:
        doc = difference.live
        return f"{where}: only in the live history (status {doc.get('status')}), not in the log"
    doc = difference.replayed
    events = len(doc.get("events", []))
    return (
        f"{where}: missing from the live history; the log has {events} event(s), "
        f"status {doc.get('status')}"
    )


def replay_command(
    into: Annotated[
        str | None,
        typer.Option(
            help="Rebuild the history into this collection; events are merged into what it "
            "holds (the projection is idempotent), so name a new one for a clean rebuild."
        ),
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Rebuild into a scratch collection, compare it with the live history run by "
            "run, print every difference; exit 1 if there is any.",
        ),
    ] = False,
    export: Annotated[
        Path | None,
        typer.Option(help="Write the events to FILE: JSON Lines (.jsonl) or CSV (.csv)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Start at this ISO timestamp (UTC unless it has an offset) instead of the "
            "log's beginning. With --verify, only runs that began after it are compared."
        ),
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's events.")] = None,
    force_live: Annotated[
        bool,
        typer.Option(
            "--force-live",
            help="Allow --into runs: apply the log onto the live history. That brings back "
            "missing runs and events; it does not undo edits to a run that has all its events.",
        ),
    ] = False,
) -> None:
    """Replay delivery.status: rebuild the history, verify the live one, or export the events.

    Exit codes: 0 done, 1 a difference or invalid input, 2 Kafka or MongoDB unreachable.

    Example: herald replay --verify --tenant acme
    """
    settings = Settings()
    start = _since(since)
    if sum((into is not None, verify, export is not None)) != 1:
        raise _fail("give exactly one of --into COLLECTION, --verify, --export FILE")
    if into is not None:
        _rebuild(settings, into, start, tenant, force_live)
    elif verify:
        _verify(settings, start, tenant)
    elif export is not None:
        _export(settings, export, start, tenant)


def _rebuild(
    settings: Settings, into: str, since: datetime | None, tenant: str | None, force_live: bool
) -> None:
    if not _COLLECTION.match(into):
        raise _fail(f"--into: {into!r} is not a collection name Herald will write to")
    if into == history_store.RUNS and not force_live:
        raise _fail(
            f"--into {into}: that is the live history; add --force-live to apply the log onto it"
        )
    tally = _Tally()

    async def rebuild() -> tuple[int, int]:
        async with open_database(settings) as db:
            target = db[into]
            existing = await target.count_documents({})
            sample = await target.find_one({}, {"events": 0}) if existing else None
            if sample is not None and "first_event_at" not in sample:
                raise _fail(f"--into {into}: the collection holds documents that are not runs")
            with _progress(tally) as (advance, total):
                rebuilt = await replay.rebuild(
                    settings,
                    target,
                    since=since,
                    tenant_id=tenant,
                    progress=advance,
                    on_total=total,
                )
            await history_store.ensure_indexes(target)
            tally.not_events = rebuilt.rejected
            return rebuilt.applied, existing

    applied, existing = run(rebuild())
    console.print(tally.summary(f"applied {applied:,} events to {into}"), soft_wrap=True)
    if existing:
        console.print(f"note: {into} already held {existing:,} runs; the events were merged in")


def _verify(settings: Settings, since: datetime | None, tenant: str | None) -> None:
    tally = _Tally()
    compared = _Tally()

    async def check() -> replay.Comparison:
        async with open_database(settings) as db:
            scratch = replay.scratch_collection(db)
            try:
                with _progress(tally) as (advance, total):
                    rebuilt = await replay.rebuild(
                        settings,
                        scratch,
                        since=since,
                        tenant_id=tenant,
                        progress=advance,
                        on_total=total,
                    )
                tally.not_events = rebuilt.rejected
                console.print(tally.summary("replayed"), soft_wrap=True)
                compared.started = time.monotonic()
                kept = timedelta(days=settings.retention.runs_days)
                doing = "comparing with the live history"
                with _progress(compared, doing, "runs") as (advance, total):
                    total(None)  # FerretDB would count the live runs by reading them all
                    return await replay.compare(
                        db[history_store.RUNS],
                        scratch,
                        tenant_id=tenant,
                        since=since,
                        expired_before=datetime.now(UTC) - kept,
                        replayed_runs=rebuilt.created,
                        progress=advance,
                    )
            finally:
                await scratch.drop()

    comparison = run(check())
    console.print(compared.summary("compared", "live runs"), soft_wrap=True)
    for difference in comparison.differences:
        console.print(_describe(difference), markup=False, soft_wrap=True)
    found = len(comparison.differences)
    verdict = "no difference" if not found else f"{found} difference(s)"
    console.print(f"checked {comparison.compared:,} runs against the log: {verdict}")
    if found:
        raise typer.Exit(1)


def _export(settings: Settings, path: Path, since: datetime | None, tenant: str | None) -> None:
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise _fail(f"--export {path}: the file name must end in .jsonl or .csv")
    tally = _Tally()

    async def write(out: IO[str]) -> int:
        rows = csv.DictWriter(out, _CSV_COLUMNS) if suffix == ".csv" else None
        if rows is not None:
            rows.writeheader()
        written = 0
        with _progress(tally) as (advance, total):
            async for item in replay.read_events(settings, since, on_total=total):
                advance(1)
                if isinstance(item, replay.NotAnEvent):
                    tally.not_events.append(item)
                    continue
                if tenant is not None and item.tenant_id != tenant:
                    continue
                if rows is None:
                    out.write(item.model_dump_json() + "\n")
                else:
                    rows.writerow({k: _cell(v) for k, v in item.model_dump(mode="json").items()})
                written += 1
        return written

    try:
        out = path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise _fail(f"--export {path}: {exc}") from exc
    try:
        with out:
            written = run(write(out))
    except BaseException:
        path.unlink(missing_ok=True)  # no half export that looks whole
        raise
    console.print(tally.summary(f"exported {written:,} events to {path}"), soft_wrap=True)


def _cell(value: Any) -> Any:
    """CSV cells: nested values (recipients, run details) as JSON, nothing as empty."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value
