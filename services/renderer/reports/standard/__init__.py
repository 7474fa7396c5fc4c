"""The 14 standard reports, one `ReportDefinition` each, by family.

`REPORTS` is the renderer's registry; `shared/contract/catalog.py` is the public
list of the same ids, titles and filters (a unit test holds the two together).
Adding a report: docs/reports.md, "Adding a standard report".
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from herald.services.renderer.reports.standard import activity, agents, cdr, money, service
from herald.services.renderer.reports.standard.cdr import CDR_COLUMNS
from herald.services.renderer.reports.standard.definition import ReportDefinition

_FAMILIES = (activity, agents, cdr, service, money)

REPORTS: Final[Mapping[str, ReportDefinition]] = MappingProxyType(
    {definition.id: definition for family in _FAMILIES for definition in family.DEFINITIONS}
)

__all__ = ["CDR_COLUMNS", "REPORTS", "ReportDefinition"]
