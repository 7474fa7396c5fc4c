"""A chart as data, kept apart from the report model so a render worker unpickles it without
importing pydantic (`services/renderer/worker.py`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ChartKind(enum.StrEnum):
    #: Values over an ordered axis (days): a line per series.
    TREND = "trend"
    #: One bar per category (campaigns, agents, hours of the day), a bar per series.
    BARS = "bars"
    #: Shares of a whole (dispositions): horizontal bars, largest first, labelled with %.
    SHARE = "share"


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    #: One value per category; None where there is nothing to show (no calls that day).
    values: tuple[float | None, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart as data: drawn as SVG for the PDF and PNG for the email (`formats/charts.py`)."""

    title: str
    kind: ChartKind
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    #: What the values count, for the axis and the text alternative ("calls", "%").
    unit: str = ""
