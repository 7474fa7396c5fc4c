"""The arithmetic every report shares: ratios, percentages, money and labour cost.

Sums are exact integers; these turn them into the figures people read, with
one rounding rule for all (half up), so a figure worked out by hand matches.
Each figure is rounded once, to the places its kind is shown with
(`model.PLACES`): a percentage to one, a rate per hour and money to two, an
average of seconds to the second. A part of a total (labour cost) stays
exact and unrounded, so the total is worked out before anything is rounded.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from herald.services.renderer.reports.model import PLACES, ColumnKind

_PERCENT = PLACES[ColumnKind.PERCENT]
_RATE = PLACES[ColumnKind.RATE]
_MONEY = PLACES[ColumnKind.MONEY]
_SECONDS = PLACES[ColumnKind.DURATION]
#: An amount of cents: whole, a Decimal, or exact with thirds of a cent (`labour_cents`).
Amount = int | Decimal | Fraction


def _round(value: Decimal, places: int) -> Decimal:
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    # A small negative value rounds to zero: show 0.0, never "-0.0".
    return rounded.copy_abs() if rounded.is_zero() else rounded


def _quotient(part: Amount, whole: Amount) -> Decimal:
    """part / whole in one division, so a quotient that is a finite decimal (a half cent,
    12.25 %) comes out exact and rounds up as it should, never as 0.4999... down: a
    Fraction (labour cost) is divided exactly first."""
    if isinstance(part, Fraction) or isinstance(whole, Fraction):
        exact = Fraction(part) / Fraction(whole)
        return Decimal(exact.numerator) / exact.denominator
    return Decimal(part) / Decimal(whole)


def ratio(part: int | Decimal, whole: int | Decimal, places: int = 1) -> Decimal | None:
    """part / whole, or None (shown empty) when there is nothing to divide by."""
    if not whole:
        return None
    return _round(Decimal(part) / Decimal(whole), places)


def pct(part: Amount, whole: Amount) -> Decimal | None:
    """part as a percentage of whole."""
    if not whole:
        return None
    return _round(_quotient(100 * part, whole), _PERCENT)


def money(cents: Amount) -> Decimal:
    return _round(_quotient(cents, 100), _MONEY)


def average_s(seconds: int, count: int) -> Decimal | None:
    """Seconds per call (AHT, a wait), rounded once, to the whole second a duration shows:
    to 0.1 s first, 90.45 s would become 90.5 s and show 0:01:31, not 0:01:30."""
    return ratio(seconds, count, _SECONDS)


def labour_cents(handle_s: int, cents_per_hour: int) -> Fraction:
    """Agent time at an hourly rate, in cents, unrounded: `money` rounds it once, where it
    is shown, so a total adds up the campaigns' exact labour, not their rounded cents.
    Exact, not a Decimal: held as 0.333...3, thirds of a cent can add up to a hair under a
    total ending in half a cent, which would then round down instead of up."""
    return Fraction(handle_s * cents_per_hour, 3600)


def change_pct(now: int | Decimal | None, before: int | Decimal | None) -> Decimal | None:
    """(now - before) / |before|: positive means the figure went up, even from a loss."""
    if now is None or before is None or before == 0:
        return None
    return _round(Decimal(100) * (Decimal(now) - Decimal(before)) / abs(Decimal(before)), _PERCENT)


def minutes(seconds: int) -> Decimal:
    return _round(Decimal(seconds) / 60, 1)


def per_hour(count: int, seconds: int) -> Decimal | None:
    """count per hour of `seconds` (sales per logged-in hour): a RATE column's figure."""
    if not seconds:
        return None
    return _round(Decimal(count) * 3600 / Decimal(seconds), _RATE)
