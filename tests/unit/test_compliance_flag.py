"""The abandon-rate flag reaches every reader: in words in the PDF, the HTML email and the CSV.

The renderer takes the tenant's compliance settings from its tenant table and
hands them to the report; at a 20 % ceiling, Solar's trailing 22.2 % is above
it and Insurance's 14.3 % is not (tests/unit/test_standard_reports.py).
"""

from __future__ import annotations

import pytest

from herald.services.renderer.render import Renderer
from herald.services.renderer.reports.model import ReportData, ReportRequest
from herald.shared.contract.messages import DataWindow, TenantSettings
from herald.shared.contract.schedule_spec import ReportFormat, ReportRef
from herald.shared.contract.tenant_settings import TenantCompliance
from herald.shared.runtime.settings import Settings
from tests.fakes.artifacts import MemoryArtifacts
from tests.fakes.renderer import FakePrinter
from tests.report_dataset import END, START, TENANT, ZONE, computed
from tests.samples import run_details

AT_20 = TenantCompliance(abandon_threshold_pct=20)


class DatasetSource:
    """`ReportSource` computing from the hand-checked dataset; keeps what it was asked."""

    def __init__(self) -> None:
        self.requests: list[ReportRequest] = []

    async def fetch(self, request: ReportRequest) -> ReportData:
        self.requests.append(request)
        return await computed(request)

    async def close(self) -> None:
        """Nothing to release."""


class Tenants:
    """`TenantDirectory` of one tenant whose ceiling is 20 %."""

    def settings(self, tenant_id: str) -> TenantSettings | None:
        if tenant_id != TENANT:
            return None
        return TenantSettings(tenant_id=TENANT, version=1, compliance=AT_20)


async def rendered(report_id: str, fmt: ReportFormat) -> tuple[str, DatasetSource]:
    source, artifacts = DatasetSource(), MemoryArtifacts()
    renderer = Renderer(source, artifacts, FakePrinter(), Settings(), tenants=Tenants())
    run = run_details(
        report=ReportRef(id=report_id),
        window=DataWindow(start=START, end=END, timezone=ZONE),
        format=fmt,
    )
    result = await renderer.render(TENANT, "s-1", run)
    assert result.artifact is not None
    return (await artifacts.read(result.artifact.artifact_id)).decode(), source


@pytest.mark.parametrize("fmt", [ReportFormat.PDF, ReportFormat.HTML, ReportFormat.CSV])
@pytest.mark.parametrize("report_id", ["campaign_summary", "compliance"])
async def test_the_flag_is_in_words_in_every_format(report_id: str, fmt: ReportFormat) -> None:
    text, source = await rendered(report_id, fmt)
    assert [request.compliance for request in source.requests] == [AT_20]
    assert "Flag" in text
    assert "above 20 %" in text
    assert "above 3 %" not in text


async def test_a_tenant_without_the_section_gets_the_default_ceiling() -> None:
    renderer = Renderer(DatasetSource(), MemoryArtifacts(), FakePrinter(), Settings())
    assert renderer.compliance(TENANT) == TenantCompliance()
    assert Renderer(
        DatasetSource(), MemoryArtifacts(), FakePrinter(), Settings(), tenants=Tenants()
    ).compliance("other") == TenantCompliance(abandon_period="30d", abandon_threshold_pct=3.0)
