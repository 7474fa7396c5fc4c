"""The arithmetic every report shares: ratios, percentages, money and labour cost.

Sums are exact integers; these turn them into the figures people read, with
one rounding rule for all (half up), so a figure worked out by hand matches.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def _round(value: Decimal, places: int) -> Decimal:
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    # A small negative value rounds to zero: show 0.0, never "-0.0".
    return rounded.copy_abs() if rounded.is_zero() else rounded


def ratio(part: int | Decimal, whole: int | Decimal, places: int = 1) -> Decimal | None:
    """part / whole, or None (shown empty) when there is nothing to divide by."""
    if not whole:
        return None
    return _round(Decimal(part) / Decimal(whole), places)


def pct(part: int | Decimal, whole: int | Decimal, places: int = 1) -> Decimal | None:
    """part as a percentage of whole."""
    if not whole:
        return None
    return _round(Decimal(100) * Decimal(part) / Decimal(whole), places)


def money(cents: int | Decimal) -> Decimal:
    return _round(Decimal(cents) / 100, 2)


def labour_cents(handle_s: int, cents_per_hour: int) -> int:
    """Agent time at an hourly rate, to the nearest cent."""
    return int(_round(Decimal(handle_s) * cents_per_hour / 3600, 0))


def change_pct(now: int | Decimal | None, before: int | Decimal | None) -> Decimal | None:
    """(now - before) / |before|: positive means the figure went up, even from a loss."""
    if now is None or before is None or before == 0:
        return None
    return _round(Decimal(100) * (Decimal(now) - Decimal(before)) / abs(Decimal(before)), 1)


def minutes(seconds: int) -> Decimal:
    return _round(Decimal(seconds) / 60, 1)


def per_hour(count: int, seconds: int, places: int = 1) -> Decimal | None:
    """count per hour of `seconds` (sales per logged-in hour)."""
    if not seconds:
        return None
    return _round(Decimal(count) * 3600 / Decimal(seconds), places)
