"""The platform's standard reports: stable ids, titles and the filters each accepts.

The scheduler validates schedules against this list; the renderer implements
each id (`services/renderer/reports/standard`, whose definitions a unit test
holds to this list). Saved custom reports are named by id instead and are
resolved by the renderer at run time.
"""

from __future__ import annotations

from typing import Final

#: The filters a standard report may accept beyond the date range, which all accept.
#: A filter a report cannot honour (agents on a queue report, whose abandoned calls
#: have no agent) is rejected when the schedule is saved rather than ignored.
CAMPAIGN: Final = "campaign"
AGENT: Final = "agent"
_BOTH = frozenset({CAMPAIGN, AGENT})

#: One line per report: id, title, accepted filters.
_CATALOG: Final = (
    ("campaign_summary", "Campaign Summary", _BOTH),
    ("agent_performance", "Agent Performance", _BOTH),
    ("agent_time", "Agent Time and Pauses", frozenset({AGENT})),
    ("team_performance", "Team Performance", _BOTH),
    ("disposition_summary", "Disposition Summary", _BOTH),
    ("hourly_activity", "Hourly Activity", _BOTH),
    ("list_penetration", "List Penetration", frozenset({CAMPAIGN})),
    ("cdr", "CDR Report", _BOTH),
    ("compliance", "Compliance and Abandonment", frozenset({CAMPAIGN})),
    ("hangup_causes", "Hangup Causes and Carriers", _BOTH),
    ("callbacks", "Callbacks", _BOTH),
    ("inbound_queues", "Inbound Queues", frozenset({CAMPAIGN})),
    ("roi", "ROI Report", _BOTH),
    ("executive_dashboard", "Executive Dashboard", frozenset({CAMPAIGN})),
)
STANDARD_REPORTS: Final[dict[str, str]] = {id_: title for id_, title, _ in _CATALOG}
REPORT_FILTERS: Final[dict[str, frozenset[str]]] = {id_: f for id_, _, f in _CATALOG}


def refused_filters(
    title: str, accepted: frozenset[str], campaigns: bool, agents: bool
) -> list[str]:
    """Reasons a report accepting `accepted` cannot take the given filters."""
    return [
        f"{title} does not accept {'an' if name == AGENT else 'a'} {name} filter"
        for name, given in ((CAMPAIGN, campaigns), (AGENT, agents))
        if given and name not in accepted
    ]


def unaccepted_filters(report_id: str, campaigns: bool, agents: bool) -> list[str]:
    """Reasons a standard report cannot take the given filters (empty when it can)."""
    accepted = REPORT_FILTERS.get(report_id, _BOTH)
    return refused_filters(STANDARD_REPORTS.get(report_id, report_id), accepted, campaigns, agents)


#: The small report a `SendTestEmail` renders: it needs no data.
TEST_REPORT_ID: Final = "delivery_test"
