"""The platform's standard reports: stable ids and titles.

The scheduler validates schedules against this list; the renderer implements
each id. Saved custom reports are named by id instead and are resolved by the
renderer at run time.
"""

from __future__ import annotations

from typing import Final

STANDARD_REPORTS: Final[dict[str, str]] = {
    "campaign_summary": "Campaign Summary",
    "agent_performance": "Agent Performance",
    "agent_time": "Agent Time and Pauses",
    "team_performance": "Team Performance",
    "disposition_summary": "Disposition Summary",
    "hourly_activity": "Hourly Activity",
    "list_penetration": "List Penetration",
    "cdr": "CDR Report",
    "compliance": "Compliance and Abandonment",
    "hangup_causes": "Hangup Causes and Carriers",
    "callbacks": "Callbacks",
    "inbound_queues": "Inbound Queues",
    "roi": "ROI Report",
    "executive_dashboard": "Executive Dashboard",
}

#: The filters each standard report accepts beyond the date range, which all accept.
#: A filter a report cannot honour (agents on a queue report, whose abandoned calls
#: have no agent) is rejected when the schedule is saved rather than ignored.
CAMPAIGN: Final = "campaign"
AGENT: Final = "agent"
REPORT_FILTERS: Final[dict[str, frozenset[str]]] = {
    "campaign_summary": frozenset({CAMPAIGN, AGENT}),
    "agent_performance": frozenset({CAMPAIGN, AGENT}),
    "agent_time": frozenset({AGENT}),
    "team_performance": frozenset({CAMPAIGN, AGENT}),
    "disposition_summary": frozenset({CAMPAIGN, AGENT}),
    "hourly_activity": frozenset({CAMPAIGN, AGENT}),
    "list_penetration": frozenset({CAMPAIGN}),
    "cdr": frozenset({CAMPAIGN, AGENT}),
    "compliance": frozenset({CAMPAIGN}),
    "hangup_causes": frozenset({CAMPAIGN, AGENT}),
    "callbacks": frozenset({CAMPAIGN, AGENT}),
    "inbound_queues": frozenset({CAMPAIGN}),
    "roi": frozenset({CAMPAIGN, AGENT}),
    "executive_dashboard": frozenset({CAMPAIGN}),
}


def unaccepted_filters(report_id: str, campaigns: bool, agents: bool) -> list[str]:
    """Reasons a standard report cannot take the given filters (empty when it can)."""
    accepted = REPORT_FILTERS.get(report_id, frozenset({CAMPAIGN, AGENT}))
    title = STANDARD_REPORTS.get(report_id, report_id)
    return [
        f"{title} does not accept {'an' if name == AGENT else 'a'} {name} filter"
        for name, given in ((CAMPAIGN, campaigns), (AGENT, agents))
        if given and name not in accepted
    ]


#: The small report a `SendTestEmail` renders: it needs no data.
TEST_REPORT_ID: Final = "delivery_test"
