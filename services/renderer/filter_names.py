"""The filter line of a run's email and PDF: campaigns and agents by name, not by id.

Users pick campaigns and agents by name in the platform; a schedule keeps
their ids, which mean nothing to whoever reads the email. The names come from
the tenant's reference data (`campaigns`, `agents`, as `calldata.store` keeps
it); an id without a name there (data not loaded yet, or a platform on the
HTTP source that loads none) is shown as it is. The ids themselves travel in
the link back to the platform (`shared.runs.text.platform_link`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from herald.services.renderer.calldata.records import Agent, Campaign, Dimension
from herald.shared.contract.schedule_spec import Filters


class Dimensions(Protocol):
    """A tenant's reference data by id (`calldata.store.CallStore`)."""

    async def dimension(
        self, kind: type[Dimension], tenant_id: str
    ) -> Mapping[str, Mapping[str, Any]]: ...


def filters_line(campaigns: Sequence[str], agents: Sequence[str]) -> str:
    """`Campaigns: Rückgewinnung Zürich, Care; Agents: Maya Chen`, or all of them."""
    parts = [
        f"{label}: {', '.join(names)}"
        for label, names in (("Campaigns", campaigns), ("Agents", agents))
        if names
    ]
    return "; ".join(parts) or "All campaigns and agents"


async def named_filters(filters: Filters, tenant_id: str, dimensions: Dimensions | None) -> str:
    """The filter line with each id the tenant's data names replaced by its name."""

    async def names(kind: type[Dimension], ids: Sequence[str]) -> list[str]:
        if not ids or dimensions is None:
            return list(ids)
        known = await dimensions.dimension(kind, tenant_id)
        return [str(known.get(i, {}).get("name") or i) for i in ids]

    return filters_line(
        await names(Campaign, filters.campaign_ids), await names(Agent, filters.agent_ids)
    )
