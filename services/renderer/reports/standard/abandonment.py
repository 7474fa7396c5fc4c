"""The compliance abandon rate: outbound abandoned calls over the outbound calls a person answered.

Regulators cap it per campaign over a trailing period: 3 % over 30 days in
the US, over 24 hours in the UK (the tenant's `TenantCompliance`). A call a
person answered was either put through to an agent (`answered`) or dropped
for want of one (`abandoned`), so the rate is abandoned / (answered +
abandoned), over outbound calls only: inbound queue abandons are callers
giving up, which no such ceiling covers. Pure, no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from herald.services.renderer.calldata.groupings import Grouped, Key, Sums
from herald.services.renderer.reports.figures import pct
from herald.shared.contract.messages import DataWindow
from herald.shared.contract.tenant_settings import TenantCompliance
from herald.shared.contract.wall_clock import to_utc, wall_time

_PERIODS = {"30d": "30 days", "24h": "24 hours"}


def outbound(grouped: Grouped, *by: str) -> dict[Key, Sums]:
    """The outbound calls' sums per distinct `by` keys (the grouping keeps `inbound`)."""
    return {key[1:]: sums for key, sums in grouped.fold("inbound", *by).items() if key[0] == 0}


def rate(s: Sums) -> Decimal | None:
    """Abandoned as a percentage of the calls a person answered; None when there were none."""
    return pct(s["abandoned"], s["answered"] + s["abandoned"])


def ceiling(compliance: TenantCompliance) -> str:
    """The threshold as written: 3, 2.5."""
    return f"{Decimal(str(compliance.abandon_threshold_pct)).normalize():f}"


def flag(s: Sums, compliance: TenantCompliance) -> str:
    """ "above 3 %" when the unrounded rate is above the ceiling (3.04 % shows as 3.0 % and
    is above it), else empty: words, so the flag reads the same without colour."""
    live = s["answered"] + s["abandoned"]
    if live and 100 * s["abandoned"] > Decimal(ceiling(compliance)) * live:
        return f"above {ceiling(compliance)} %"
    return ""


def period(compliance: TenantCompliance) -> str:
    """The trailing period in words: "30 days" or "24 hours"."""
    return _PERIODS[compliance.abandon_period]


def days(compliance: TenantCompliance) -> int:
    """Local days a day's trailing rate covers: the day and those before it."""
    return 30 if compliance.abandon_period == "30d" else 1


def trailing(
    window: DataWindow, zone: ZoneInfo, compliance: TenantCompliance
) -> tuple[datetime, datetime]:
    """The trailing period ending where the window ends: [start, end).

    30 days are counted on the window zone's calendar (the same wall-clock time
    30 days before, so a window ending at a local midnight starts at one); 24
    hours are 24 hours, counted in UTC: on a zoned time Python counts them on the
    wall clock, 25 hours across a clock change. `zone`, the data's, plays no part
    (it fits `Span`).
    """
    if compliance.abandon_period == "24h":
        end = window.end.astimezone(UTC)
        return end - timedelta(hours=24), end
    tz = ZoneInfo(window.timezone)
    return to_utc(wall_time(window.end, tz) - timedelta(days=30), tz), window.end
