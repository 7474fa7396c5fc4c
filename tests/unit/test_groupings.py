"""The arithmetic roll-ups and reports share: cells, merging, filters, folding."""

from __future__ import annotations

from typing import Any

from herald.services.renderer.calldata.groupings import (
    DISPOSITIONS,
    HOURS,
    QUEUES,
    Cells,
    Grouped,
    add_calls,
    decode_day,
    encode_day,
    keep,
    read_group,
    sum_stage,
    within_hours,
)


def _call(**fields: Any) -> dict[str, Any]:
    base = {
        "day": "2026-11-02",
        "campaign_id": "c1",
        "agent_id": "a1",
        "hour": 9,
        "answered": 1,
        "abandoned": 0,
        "sale": 0,
        "wait_s": 4,
        "inbound": 0,
        "disposition": "",
        "handle_s": 0,
    }
    return base | fields


CALLS = [
    _call(),
    _call(hour=10, sale=1, wait_s=6),
    _call(agent_id=None, answered=0, abandoned=1, wait_s=30),
    _call(campaign_id="c2", agent_id="a2", hour=10, answered=0, wait_s=0),
]


def _cells() -> Cells:
    cells: Cells = {}
    add_calls(HOURS, cells, CALLS)
    return cells


def test_calls_fold_into_cells_by_day_campaign_agent_and_own_keys() -> None:
    cells = _cells()
    # sums: calls, answered, abandoned, sale, wait_s
    assert cells == {
        ("2026-11-02", "c1", "a1", 9): [1, 1, 0, 0, 4],
        ("2026-11-02", "c1", "a1", 10): [1, 1, 0, 1, 6],
        ("2026-11-02", "c1", None, 9): [1, 0, 1, 0, 30],
        ("2026-11-02", "c2", "a2", 10): [1, 0, 0, 0, 0],
    }


def test_inbound_only_groupings_skip_outbound_calls() -> None:
    cells: Cells = {}
    inbound = _call(inbound=1, queue_id="q", within_sl=1, answer_wait_s=4)
    add_calls(QUEUES, cells, [*CALLS, inbound])
    assert list(cells.values()) == [[1, 1, 0, 1, 4]]


def test_fold_sums_by_the_shown_keys_and_sorts_none_last() -> None:
    grouped = Grouped(HOURS, _cells())
    by_hour = grouped.fold("hour")
    assert list(by_hour) == [(9,), (10,)]
    assert by_hour[(10,)] == {"calls": 2, "answered": 1, "abandoned": 0, "sale": 1, "wait_s": 6}
    assert list(grouped.fold("agent_id")) == [("a1",), ("a2",), (None,)]
    assert grouped.total()["calls"] == 4
    assert Grouped(HOURS, {}).total() == dict.fromkeys(HOURS.sums, 0)


def test_filters_keep_matching_campaigns_and_agents() -> None:
    cells = _cells()
    assert len(keep(cells, ["c2"], [])) == 1
    assert len(keep(cells, ["c1"], ["a1"])) == 2
    assert keep(cells, [], []) is cells


def test_a_day_round_trips_through_its_stored_form() -> None:
    cells = _cells()
    assert decode_day(HOURS, "2026-11-02", encode_day(cells)) == cells


def test_cells_by_hour_fold_back_to_the_days_and_to_any_run_of_hours() -> None:
    """The hourly roll-up: the same cells with the hour last; [0, 24) is the whole day."""
    hourly: Cells = {}
    add_calls(DISPOSITIONS, hourly, CALLS, by_hour=True)
    # sums: calls, handle_s; k01 and k03 at 9, k02 and k04 at 10.
    assert hourly == {
        ("2026-11-02", "c1", "a1", "", 9): [1, 0],
        ("2026-11-02", "c1", "a1", "", 10): [1, 0],
        ("2026-11-02", "c1", None, "", 9): [1, 0],
        ("2026-11-02", "c2", "a2", "", 10): [1, 0],
    }
    daily: Cells = {}
    add_calls(DISPOSITIONS, daily, CALLS)
    assert within_hours(hourly, 0, 24) == daily
    assert within_hours(hourly, 10, 24) == {
        ("2026-11-02", "c1", "a1", ""): [1, 0],
        ("2026-11-02", "c2", "a2", ""): [1, 0],
    }
    assert within_hours(hourly, 0, 9) == {}
    assert decode_day(DISPOSITIONS, "2026-11-02", encode_day(hourly), by_hour=True) == hourly


def test_one_accumulator_groups_give_the_same_sums() -> None:
    """FerretDB 1.x's workaround: values join the key, a count multiplies them back."""
    keys, sums = ("hour",), ("calls", "wait_s")
    stage = sum_stage(keys, sums, one_accumulator=True)
    assert stage == {"$group": {"_id": {"k0": "$hour", "v0": "$wait_s"}, "n": {"$sum": 1}}}
    group = {"_id": {"k0": 9, "v0": 4}, "n": 3}
    assert read_group(keys, sums, group, one_accumulator=True) == ((9,), [3, 12])
    plain = sum_stage(keys, sums, one_accumulator=False)
    assert plain["$group"]["s1"] == {"$sum": "$wait_s"}
    found = {"_id": {"k0": 9}, "s0": 3, "s1": 12}
    assert read_group(keys, sums, found, one_accumulator=False) == ((9,), [3, 12])
