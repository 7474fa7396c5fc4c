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

#: The small report a `SendTestEmail` renders: it needs no data.
TEST_REPORT_ID: Final = "delivery_test"
