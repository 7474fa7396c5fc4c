"""The report arithmetic: half-up rounding, empty ratios, money, labour cost and change %.

Each expectation is worked out by hand; where half up and half to even differ,
the case is chosen so that only half up passes.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from herald.services.renderer.reports.figures import (
    average_s,
    change_pct,
    labour_cents,
    minutes,
    money,
    pct,
    per_hour,
    ratio,
)

D = Decimal
F = Fraction


def test_ratio_rounds_half_up_to_one_decimal_by_default() -> None:
    assert str(ratio(49, 4)) == "12.3"  # 12.25: half to even would give 12.2
    assert str(ratio(981, 4)) == "245.3"  # 245.25
    assert str(ratio(1445, 6)) == "240.8"  # 240.833...
    assert str(ratio(1680, 5)) == "336.0"  # exact, still one decimal
    assert str(ratio(0, 5)) == "0.0"
    assert str(ratio(7, 6, 2)) == "1.17"  # 1.1666...
    assert str(ratio(1, 8, 2)) == "0.13"  # 0.125: half to even would give 0.12
    assert str(ratio(D("384.5"), 1, 0)) == "385"


def test_ratio_and_pct_are_empty_with_nothing_to_divide_by() -> None:
    assert ratio(0, 0) is None
    assert ratio(5, 0) is None
    assert ratio(5, D(0)) is None
    assert pct(0, 0) is None
    assert pct(3, 0) is None


def test_pct_is_a_percentage_rounded_half_up() -> None:
    assert str(pct(1, 16)) == "6.3"  # 6.25
    assert str(pct(3, 16)) == "18.8"  # 18.75
    assert str(pct(1, 8)) == "12.5"
    assert str(pct(2, 3)) == "66.7"
    assert str(pct(6, 11)) == "54.5"  # 54.545...: only the first dropped digit counts
    assert str(pct(15, 25)) == "60.0"
    assert str(pct(5, 5)) == "100.0"
    assert str(pct(1, 3)) == "33.3"  # every percentage has one decimal (model.PLACES)


def test_negative_values_round_half_away_from_zero_and_never_show_minus_zero() -> None:
    assert str(pct(-1, 16)) == "-6.3"  # -6.25
    assert str(pct(-354, 354)) == "-100.0"
    tiny_loss = pct(-1, 100_000)  # -0.001 % rounds to zero
    assert tiny_loss is not None
    assert str(tiny_loss) == "0.0"
    assert not tiny_loss.is_signed()


def test_money_turns_cents_into_currency_units_with_two_places() -> None:
    assert money(12345) == D("123.45")
    assert str(money(12345)) == "123.45"
    assert str(money(0)) == "0.00"
    assert str(money(130000)) == "1300.00"
    assert str(money(-354)) == "-3.54"
    # Fractions of a cent (a cost per acquisition) round half up.
    assert str(money(D(2307) / 6)) == "3.85"  # 384.5 cents: half to even gives 3.84
    assert str(money(D(625) / 2)) == "3.13"  # 312.5 cents
    assert str(money(D(775) / 3)) == "2.58"  # 258.33 cents


def test_labour_cost_is_handle_hours_at_the_hourly_rate_exact_to_a_fraction_of_a_cent() -> None:
    assert labour_cents(3600, 2400) == 2400  # one hour at 24.00
    assert labour_cents(1680, 2400) == 1120  # 1680 s = 0.4667 h x 2400
    assert labour_cents(1445, 1800) == F(1445, 2)  # 722.5 cents, not yet rounded
    assert labour_cents(181, 1200) == F(181, 3)  # 60.333... cents
    assert labour_cents(1800, 1) == F(1, 2)
    assert labour_cents(1, 1) == F(1, 3600)
    assert labour_cents(0, 2400) == 0
    assert labour_cents(3600, 0) == 0
    # Rounded once, where it is shown: 722.5 cents is 7.23, 60.33 cents 0.60.
    assert (money(labour_cents(1445, 1800)), money(labour_cents(181, 1200))) == (
        D("7.23"),
        D("0.60"),
    )


def test_labour_of_several_campaigns_adds_up_exactly_before_it_is_rounded() -> None:
    """Rounded per campaign, 722.5 and 490.5 cents would be 7.23 + 4.91 = 11.46; the
    total of the unrounded cents, 1213, is 12.13. Held as Decimals, the thirds of a cent
    of these three add up to a hair under the half cent they make: 34460 s at 10.00/h
    is 9572.22 cents, 100102 s at 13.00/h 36147.94, 33959 s at 24.00/h 22639.33, in all
    68359.5 exactly, so 683.60, not 683.59."""
    assert money(labour_cents(1445, 1800) + labour_cents(981, 1800)) == D("12.13")
    parts = [labour_cents(34460, 1000), labour_cents(100102, 1300), labour_cents(33959, 2400)]
    assert sum(parts) == F(136719, 2)
    assert money(sum(parts, F(0))) == D("683.60")
    assert money(sum(Decimal(p.numerator) / p.denominator for p in parts)) == D("683.59")


def test_money_and_percentages_of_exact_fractions_of_a_cent_round_once_half_up() -> None:
    assert money(F(1, 2)) == D("0.01")  # half a cent
    assert money(F(-1, 2)) == D("-0.01")
    assert money(F(2306 * 2 + 1, 2) / 6) == D("3.84")  # 2306.5 / 6 = 384.42 cents
    # 12.25 % exactly, from two amounts in thirds of a cent: half up gives 12.3.
    assert pct(F(49, 3), F(400, 3)) == D("12.3")
    assert pct(F(-1, 3), F(1, 3)) == D("-100.0")


def test_change_pct_is_the_relative_change_against_the_previous_period() -> None:
    assert str(change_pct(25, 4)) == "525.0"
    assert str(change_pct(8, 9)) == "-11.1"
    assert str(change_pct(2, 2)) == "0.0"
    assert str(change_pct(D("3.85"), D("2.51"))) == "53.4"  # 1.34 / 2.51 = 0.53386
    assert str(change_pct(D("62.5"), D("66.7"))) == "-6.3"  # -4.2 / 66.7 = -0.06297
    assert str(change_pct(0, 4)) == "-100.0"
    assert str(change_pct(1, 8)) == "-87.5"


def test_change_pct_divides_by_the_size_of_the_previous_value() -> None:
    """(this - previous) / |previous| (docs/reports.md, report 14): a deeper loss is down."""
    assert str(change_pct(D("-3.54"), D("-0.01"))) == "-35300.0"  # -3.53 / 0.01
    assert str(change_pct(-50, -100)) == "50.0"  # +50 / 100: the loss halved
    same = change_pct(D("-100.0"), D("-100.0"))
    assert same is not None
    assert str(same) == "0.0"
    assert not same.is_signed()


def test_change_pct_is_empty_when_it_cannot_be_computed() -> None:
    assert change_pct(5, 0) is None
    assert change_pct(D("57.1"), D("0.0")) is None
    assert change_pct(None, 5) is None
    assert change_pct(5, None) is None
    assert change_pct(None, None) is None


def test_an_average_of_seconds_rounds_once_to_the_second_it_is_shown_with() -> None:
    """90.45 s: rounded to 0.1 s first it would be 90.5 and show 0:01:31; it is 90."""
    assert average_s(1809, 20) == D("90")  # 90.45
    assert average_s(1445, 6) == D("241")  # 240.83
    assert average_s(981, 4) == D("245")  # 245.25
    assert average_s(815, 2) == D("408")  # 407.5: half up
    assert average_s(0, 3) == D("0")
    assert average_s(5, 0) is None


def test_minutes() -> None:
    assert str(minutes(1170)) == "19.5"
    assert str(minutes(1300)) == "21.7"  # 21.666...
    assert str(minutes(3)) == "0.1"  # 0.05
    assert str(minutes(0)) == "0.0"


def test_a_rate_per_hour_has_two_decimals_so_one_sale_is_not_four() -> None:
    """Over a day's logged-in time 1 to 4 sales all read 0.1 with one decimal (issue 19)."""
    day = 8 * 3600
    assert [str(per_hour(sales, 4 * day)) for sales in (1, 2, 3, 4)] == [
        "0.03",  # 1 / 32 h = 0.03125
        "0.06",  # 0.0625
        "0.09",  # 0.09375
        "0.13",  # 0.125: half up
    ]
    assert str(per_hour(2, 36000)) == "0.20"  # 2 sales in 10 h
    assert str(per_hour(1, 28800)) == "0.13"  # 0.125
    assert str(per_hour(1, 3 * 3600)) == "0.33"  # 0.333...
    assert str(per_hour(0, 3600)) == "0.00"
    assert per_hour(3, 0) is None
