"""A report's headline figures as tiles people read: the figure, the previous one, the change.

The renderer formats them once; the PDF shows them above the tables and the
`ReportRendered` event carries the same text to the mailer, which puts them at
the top of every email body. Colour follows the metric: a rise in sales is
good news, a rise in the abandon rate is bad news.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from herald.services.renderer.formats.cells import display
from herald.services.renderer.reports.figures import change_pct
from herald.services.renderer.reports.model import Headline
from herald.shared.contract.messages import HeadlineTile, Tone
from herald.shared.runs.text import MINUS


def _number(value: object) -> int | Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return Decimal(str(value)) if isinstance(value, float) else value


#: The largest change a tile spells out; past it, "over" it (a day's net going from 0.01
#: to 150 million is 1.5 trillion per cent, which says no more and fits no tile).
CHANGE_SHOWN_UP_TO = Decimal(999_999)


def _change_text(change: Decimal) -> str:
    sign = "+" if change > 0 else MINUS if change < 0 else ""
    if abs(change) > CHANGE_SHOWN_UP_TO:
        return f">{sign}{CHANGE_SHOWN_UP_TO:,} %"
    return f"{sign}{abs(change):,} %"


def tone(headline: Headline, change: Decimal | None) -> Tone:
    if change is None or change == 0 or headline.up_is_good is None:
        return Tone.NEUTRAL
    return Tone.GOOD if (change > 0) == headline.up_is_good else Tone.BAD


def tile(headline: Headline) -> HeadlineTile:
    now, before = _number(headline.value), _number(headline.previous)
    change = change_pct(now, before)
    return HeadlineTile(
        label=headline.label,
        value=display(headline.column, headline.value) or "\u2013",
        previous=None if before is None else display(headline.column, headline.previous),
        change=None if change is None else _change_text(change),
        tone=tone(headline, change),
    )


def tiles(headlines: Sequence[Headline]) -> list[HeadlineTile]:
    return [tile(headline) for headline in headlines]
