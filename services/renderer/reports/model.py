"""What a report is to the renderer: a title, typed columns and rows, independent of format."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

Cell = str | int | float | Decimal | datetime | None


class ColumnKind(enum.StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    PERCENT = "percent"
    SECONDS = "seconds"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    kind: ColumnKind = ColumnKind.TEXT


@dataclass(frozen=True, slots=True)
class ReportData:
    """A report ready to format; `rows` is streamed so large reports stay in constant memory."""

    title: str
    columns: tuple[Column, ...]
    rows: AsyncIterator[tuple[Cell, ...]]


class ReportUnavailable(Exception):
    """A permanent failure: the report cannot be produced, retrying will not help."""
