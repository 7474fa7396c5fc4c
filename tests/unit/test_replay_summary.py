"""`herald replay`'s closing line names where each record that was no event is."""

from __future__ import annotations

from herald.cli.replay import SHOWN_NOT_EVENTS, _Tally
from herald.shared.history.replay import NotAnEvent


def test_each_record_that_is_no_event_is_named_by_its_place_up_to_a_limit() -> None:
    tally = _Tally()
    tally.read = 30
    tally.not_events = [
        NotAnEvent(n % 3, 100 + n, "1 validation error for DeliveryStatus\n  Invalid JSON", b"x")
        for n in range(SHOWN_NOT_EVENTS + 2)
    ]
    lines = tally.summary("replayed").splitlines()
    assert lines[0].endswith(
        f"{SHOWN_NOT_EVENTS + 2} records were not delivery events and were left out:"
    )
    assert lines[1] == "  partition 0 offset 100: 1 validation error for DeliveryStatus"
    assert len(lines) == 1 + SHOWN_NOT_EVENTS + 1
    assert lines[-1] == "  and 2 more"


def test_no_such_record_no_list() -> None:
    tally = _Tally()
    assert "\n" not in tally.summary("replayed")
