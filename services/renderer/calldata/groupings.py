"""The few groupings of calls every standard report is folded from, and their arithmetic.

A grouping is one `$group` over calls: keys (always the local day, campaign
and agent, so the filters still apply afterwards, plus its own) and integer
sums. Because every figure is a sum of integers, the same cells come out of
the raw calls (`$match` + `$group` on the server) and out of the daily
roll-ups kept at ingest (these functions, in Python), exactly. Reports fold
the cells further by the keys they show and derive ratios from the sums.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Key = tuple[Any, ...]
Document = dict[str, Any]
#: Summed figures by name, for one group of calls.
Sums = dict[str, int]
#: Cells of a grouping: (day, campaign_id, agent_id, *keys) -> sums in the grouping's order.
Cells = dict[Key, list[int]]

#: Every grouping keeps these, so campaign and agent filters apply to any of its cells.
BASE_KEYS: tuple[str, ...] = ("day", "campaign_id", "agent_id")
#: Bumped when roll-ups are stored differently (2: one cells document per grouping; 3: the
#: same cells by local hour beside them).
ROLLUP_LAYOUT = 3
#: A sum named so counts calls instead of adding a field.
COUNT = "calls"


@dataclass(frozen=True, slots=True)
class Grouping:
    name: str
    keys: tuple[str, ...]
    sums: tuple[str, ...]
    #: Only inbound calls are grouped (queues exist only for them).
    inbound_only: bool = False

    @property
    def all_keys(self) -> tuple[str, ...]:
        return BASE_KEYS + self.keys

    @property
    def signature(self) -> str:
        """Changes whenever the definition or the storage layout does: stale roll-ups go unread."""
        text = repr((ROLLUP_LAYOUT, self.all_keys, self.sums, self.inbound_only))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def match(self) -> dict[str, Any]:
        return {"inbound": 1} if self.inbound_only else {}


def sum_stage(keys: Sequence[str], sums: Sequence[str], *, one_accumulator: bool) -> Document:
    """A `$group` summing `sums` per distinct `keys`.

    FerretDB 1.x computes only the first accumulator of a `$group` (its bug
    #4616: the accumulators share one pass over the group). There, the summed
    values join the group key and a single count accumulates; `read_group`
    multiplies them back. Same result, one pass; MongoDB gets the plain stage.
    """
    ids = {f"k{i}": f"${key}" for i, key in enumerate(keys)}
    if one_accumulator:
        fields = [name for name in sums if name != COUNT]
        ids.update({f"v{i}": f"${name}" for i, name in enumerate(fields)})
        return {"$group": {"_id": ids, "n": {"$sum": 1}}}
    group: Document = {"_id": ids}
    group.update(
        {f"s{i}": {"$sum": 1 if name == COUNT else f"${name}"} for i, name in enumerate(sums)}
    )
    return {"$group": group}


def read_group(
    keys: Sequence[str], sums: Sequence[str], group: Mapping[str, Any], *, one_accumulator: bool
) -> tuple[Key, list[int]]:
    """A `sum_stage` output document as a key and its sums."""
    ids = group["_id"]
    key = tuple(ids.get(f"k{i}") for i in range(len(keys)))
    if not one_accumulator:
        return key, [int(group[f"s{i}"]) for i in range(len(sums))]
    count, values, field = int(group["n"]), [], 0
    for name in sums:
        if name == COUNT:
            values.append(count)
        else:
            values.append(count * int(ids.get(f"v{field}") or 0))
            field += 1
    return key, values


def add_calls(
    grouping: Grouping, cells: Cells, calls: Iterable[Mapping[str, Any]], *, by_hour: bool = False
) -> None:
    """Fold stored call documents into cells: the roll-up computed at ingest.

    `by_hour`: each cell's key ends with the calls' local hour too (`within_hours`).
    """
    keys, sums = (*grouping.all_keys, *(("hour",) if by_hour else ())), grouping.sums
    for call in calls:
        if grouping.inbound_only and not call["inbound"]:
            continue
        key = tuple(call.get(k) for k in keys)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = [0] * len(sums)
        for i, name in enumerate(sums):
            cell[i] += 1 if name == COUNT else call[name]


def _add(into: Cells, key: Key, values: list[int]) -> None:
    cell = into.get(key)
    if cell is None:
        into[key] = list(values)
    else:
        for i, value in enumerate(values):
            cell[i] += value


def merge(into: Cells, other: Cells) -> None:
    for key, values in other.items():
        _add(into, key, values)


def encode_day(cells: Cells) -> list[list[Any]]:
    """One day's cells for storage: the day is the document's, so it is left out."""
    return [[*key[1:], *values] for key, values in cells.items()]


def decode_day(
    grouping: Grouping, day: str, rows: Sequence[Sequence[Any]], *, by_hour: bool = False
) -> Cells:
    width = len(grouping.all_keys) - 1 + by_hour
    return {(day, *row[:width]): list(row[width:]) for row in rows}


def within_hours(cells: Cells, first: int, end: int) -> Cells:
    """Cells by hour (`add_calls(by_hour=True)`) of the local hours [first, end), the hour
    folded away: a day cut at whole hours, read from its roll-up."""
    kept: Cells = {}
    for key, values in cells.items():
        if first <= key[-1] < end:
            _add(kept, key[:-1], values)
    return kept


def keep(cells: Cells, campaign_ids: Sequence[str], agent_ids: Sequence[str]) -> Cells:
    """The cells a report's campaign and agent filters let through."""
    if not campaign_ids and not agent_ids:
        return cells
    campaigns, agents = set(campaign_ids), set(agent_ids)
    return {
        key: values
        for key, values in cells.items()
        if (not campaigns or key[1] in campaigns) and (not agents or key[2] in agents)
    }


@dataclass(frozen=True, slots=True)
class Grouped:
    """The cells of one grouping over a report's window and filters."""

    grouping: Grouping
    cells: Cells

    def fold(self, *by: str, ordered: bool = True) -> dict[Key, Sums]:
        """Sums per distinct value of the `by` keys, in key order (None last) if `ordered`.

        A month of lead cells is half a million of them: this loop stays lean.
        """
        positions = [self.grouping.all_keys.index(name) for name in by]
        folded: dict[Key, list[int]] = {}
        for key, values in self.cells.items():
            short = tuple([key[p] for p in positions])
            cell = folded.get(short)
            if cell is None:
                folded[short] = list(values)
            else:
                for i, value in enumerate(values):
                    cell[i] += value
        names = self.grouping.sums
        keys = sorted(folded, key=_sort_key) if ordered else folded
        return {key: dict(zip(names, folded[key], strict=True)) for key in keys}

    def total(self) -> Sums:
        return self.fold().get((), dict.fromkeys(self.grouping.sums, 0))


def _sort_key(key: Key) -> tuple[tuple[bool, Any], ...]:
    return tuple((part is None, "" if part is None else part) for part in key)


CALLS = Grouping(
    "calls",
    # Inbound (1) or outbound (0): Campaign Summary and Compliance keep the two apart.
    keys=("team_id", "inbound"),
    sums=(
        COUNT,
        "answered",
        "no_answer",
        "busy_failed",
        "abandoned",
        "sale",
        "revenue_cents",
        "cost_cents",
        "talk_s",
        "hold_s",
        "wrap_s",
        "handle_s",
        "wait_s",
        "callback_scheduled",
        "callback_completed",
        "dnc_hit",
        "outside_hours",
        "within_sl",
    ),
)
DISPOSITIONS = Grouping("dispositions", keys=("disposition",), sums=(COUNT, "handle_s"))
HOURS = Grouping("hours", keys=("hour",), sums=(COUNT, "answered", "abandoned", "sale", "wait_s"))
LEADS = Grouping("leads", keys=("list_id", "lead_id"), sums=(COUNT, "answered", "sale"))
HANGUPS = Grouping(
    "hangups", keys=("carrier", "hangup_cause"), sums=(COUNT, "duration_s", "cost_cents")
)
QUEUES = Grouping(
    "queues",
    keys=("queue_id", "wait_s"),
    sums=(COUNT, "answered", "abandoned", "within_sl", "answer_wait_s"),
    inbound_only=True,
)

GROUPINGS: tuple[Grouping, ...] = (CALLS, DISPOSITIONS, HOURS, LEADS, HANGUPS, QUEUES)
