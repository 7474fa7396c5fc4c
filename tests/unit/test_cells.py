"""The precision rule: how many places each kind of figure shows, and the rounding footnote.

One rule for every report and format (`model.PLACES`): a rate per hour to two
decimals, a percentage to one, money to the cent, a duration to the second.
A total is worked out from the unrounded figures, so where a summed column's
rounded rows do not add up to it, the table says why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

import pytest

from herald.services.renderer.formats.cells import display, plain, rounding_note
from herald.services.renderer.reports.figures import minutes, money, pct, per_hour
from herald.services.renderer.reports.model import Cell, Column, Figure, Row, Table
from herald.services.renderer.reports.model import ColumnKind as K

D = Decimal
RATE = Column("sales_per_hour", "Sales per logged-in hour", K.RATE)
PERCENT = Column("share_pct", "Share %", K.PERCENT, summed=True)
MONEY = Column("labour_cost", "Labour cost", K.MONEY, summed=True)
MINUTES = Column("talk_minutes", "Talk minutes", K.DECIMAL, summed=True)
NAME = Column("campaign", "Campaign")


def test_a_rate_per_hour_shows_two_decimals_in_every_format() -> None:
    figure = per_hour(1, 8 * 3600)  # 0.125
    assert (display(RATE, figure), plain(RATE, figure)) == ("0.13", "0.13")
    # A rate from elsewhere (the HTTP source) is rounded once, half up, to the same places.
    assert display(RATE, 0.125) == "0.13"
    assert plain(RATE, D("1234.5")) == "1234.50"
    assert display(RATE, D("1234.5")) == "1,234.50"
    assert RATE.places == 2


@pytest.mark.parametrize("decimals", [0, 1, 2, 3])
def test_every_percentage_shows_one_decimal_whatever_its_column_says(decimals: int) -> None:
    column = Column("p", "P %", K.PERCENT, decimals=decimals)
    assert column.places == 1
    assert display(column, pct(1, 16)) == "6.3 %"  # 6.25 rounded once, half up
    assert plain(column, D("66.666")) == "66.7"
    assert display(column, 100) == "100.0 %"


def test_money_shows_cents_and_a_duration_whole_seconds() -> None:
    assert (display(MONEY, money(123456)), plain(MONEY, money(123456))) == ("1,234.56", "1234.56")
    assert plain(MONEY, D("3.845")) == "3.85"  # a fraction of a cent: half up
    assert plain(MONEY, 7) == "7.00"
    duration = Column("aht", "AHT", K.DURATION)
    assert duration.places == 0
    assert (display(duration, D("240.5")), plain(duration, 3725)) == ("0:04:01", "1:02:05")


def test_a_decimal_column_keeps_the_places_it_declares() -> None:
    assert Column("a", "A", K.DECIMAL).places == 1
    assert Column("a", "A", K.DECIMAL, decimals=2).places == 2
    assert display(MINUTES, minutes(1300)) == "21.7"


def test_a_figure_reads_by_its_own_column_in_a_column_of_several_kinds() -> None:
    """The Executive Dashboard's headline figures: a percentage shows one decimal and money
    two whatever the column they share, and the CSV has plain numbers."""
    shared = Column("this_period", "This period", K.DECIMAL)
    percent = Column("contact_rate", "Contact rate %", K.PERCENT)
    count = Column("calls", "Calls", K.INTEGER)
    assert display(shared, Figure(percent, pct(6, 11))) == "54.5 %"
    assert plain(shared, Figure(percent, pct(6, 11))) == "54.5"
    assert (display(shared, Figure(MONEY, money(130000))), plain(shared, Figure(MONEY, 7))) == (
        "1,300.00",
        "7.00",
    )
    assert (display(shared, Figure(count, 1204)), plain(shared, Figure(count, 1204))) == (
        "1,204",
        "1204",
    )
    assert (display(shared, Figure(MONEY, None)), plain(shared, Figure(MONEY, None))) == ("", "")


def _table(column: Column, rows: Sequence[Cell], total: Cell) -> Table:
    return Table(
        (NAME, column), [(f"row {n}", value) for n, value in enumerate(rows)], ("Total", total)
    )


def test_talk_minutes_rounded_per_row_miss_the_total_and_the_table_says_why() -> None:
    # 3 campaigns of 87 s talk each: 1.45 min each shows 1.5, three show 4.5; the
    # total 261 s is 4.35 min and shows 4.4 (the 146.3 against 146.4).
    talk = [87, 87, 87]
    table = _table(MINUTES, [minutes(s) for s in talk], minutes(sum(talk)))
    assert rounding_note(table) == (
        "Totals are computed from unrounded values, so the rounded rows of "
        "Talk minutes do not add up to them exactly."
    )


def test_shares_of_a_three_way_split_miss_one_hundred() -> None:
    shares = _table(PERCENT, [pct(1, 3)] * 3, pct(3, 3))  # 33.3 x 3 = 99.9, total 100.0
    note = rounding_note(shares)
    assert note is not None
    assert "rows of Share % do not add up" in note


def test_money_from_fractions_of_a_cent_misses_its_total_by_a_cent() -> None:
    # Labour of two agents at 18.00 an hour: 1445 s is 722.5 cents, 845 s 422.5 cents;
    # rounded each 7.23 + 4.23 = 11.46, the total from the unrounded 1145 cents 11.45.
    rows = [money(D(1445) * 1800 / 3600), money(D(845) * 1800 / 3600)]
    table = _table(MONEY, rows, money(D(1445 + 845) * 1800 / 3600))
    assert rows == [D("7.23"), D("4.23")]
    assert rounding_note(table) is not None


def test_no_footnote_when_the_rows_add_up() -> None:
    assert rounding_note(_table(MINUTES, [D("19.5"), D("21.7")], D("41.2"))) is None
    assert rounding_note(_table(MONEY, [money(12345), money(55)], money(12400))) is None
    assert rounding_note(_table(PERCENT, [pct(1, 4), pct(3, 4)], pct(4, 4))) is None
    # An empty figure adds nothing.
    assert rounding_note(_table(MONEY, [money(100), None], money(100))) is None


def test_only_summed_columns_are_held_to_their_total() -> None:
    # A ratio's total is the ratio of the sums, not the sum of the ratios.
    rate = _table(Column("c", "Conversion %", K.PERCENT), [D("50.0"), D("60.0")], D("54.5"))
    assert rounding_note(rate) is None
    several = Table(
        (NAME, MINUTES, PERCENT),
        [("a", D("1.5"), D("33.3")), ("b", D("1.5"), D("66.7"))],
        ("Total", D("2.9"), D("100.0")),
    )
    note = rounding_note(several)
    assert note is not None
    assert "rows of Talk minutes do not" in note  # the shares add up: only one is named


async def test_a_table_without_totals_or_streamed_needs_no_footnote() -> None:
    assert rounding_note(Table((NAME, MINUTES), [("a", D("1.5"))])) is None

    async def rows() -> AsyncIterator[Row]:
        yield ("a", D("1.5"))

    assert rounding_note(Table((NAME, MINUTES), rows(), ("Total", D("9.9")))) is None
