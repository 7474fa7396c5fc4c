"""The period every subject, heading and PDF names: dates for whole days, times otherwise."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from herald.shared.contract.messages import DataWindow
from herald.shared.runs.text import period_text

BERLIN = ZoneInfo("Europe/Berlin")


def _window(start: tuple[int, ...], end: tuple[int, ...], zone: ZoneInfo = BERLIN) -> DataWindow:
    return DataWindow(
        start=datetime(*start, tzinfo=zone), end=datetime(*end, tzinfo=zone), timezone=zone.key
    )


@pytest.mark.parametrize(
    ("window", "text"),
    [
        (_window((2026, 11, 26), (2026, 11, 27)), "2026-11-26"),
        (_window((2026, 11, 20), (2026, 11, 27)), "2026-11-20 to 2026-11-26"),
        # The day the clocks go back is 25 hours, still one whole day.
        (_window((2026, 10, 25), (2026, 10, 26)), "2026-10-25"),
        # An hourly report names its hour: each of the day's emails had the same subject.
        (_window((2026, 12, 6, 8), (2026, 12, 6, 9)), "2026-12-06 08:00\u201309:00"),
        (_window((2026, 12, 6), (2026, 12, 6, 8, 30)), "2026-12-06 00:00\u201308:30"),
        # Month to date, up to the firing: its last day is not whole.
        (_window((2026, 12, 1), (2026, 12, 6, 8)), "2026-12-01 to 2026-12-06 08:00"),
        (_window((2026, 12, 5, 22), (2026, 12, 6)), "2026-12-05 22:00 to 2026-12-06 00:00"),
    ],
)
def test_the_period_reads_in_the_windows_own_zone(window: DataWindow, text: str) -> None:
    assert period_text(window) == text


def test_an_instant_is_read_in_the_windows_zone_whatever_the_zone_it_came_in() -> None:
    utc = ZoneInfo("UTC")
    window = DataWindow(
        start=datetime(2026, 12, 6, 7, tzinfo=utc),
        end=datetime(2026, 12, 6, 8, tzinfo=utc),
        timezone="Europe/Berlin",
    )
    assert period_text(window) == "2026-12-06 08:00\u201309:00"
