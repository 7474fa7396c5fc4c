"""The shared-render key: equal exactly when the artifact would be; one render in flight."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from herald.services.renderer.shares import InFlight, share_key
from herald.shared.contract.catalog import TEST_REPORT_ID
from herald.shared.contract.messages import DataWindow, RunDetails
from herald.shared.contract.schedule_spec import Filters, ReportFormat, ReportRef
from herald.shared.contract.tenant_settings import TenantCompliance
from herald.shared.runtime.settings import (
    BrandingSettings,
    RendererSettings,
    ReportSettings,
    Settings,
)

SETTINGS = Settings()
START = datetime(2026, 3, 4, tzinfo=UTC)


def _run(**changes: object) -> RunDetails:
    base = RunDetails(
        run_id="s-1@2026-03-05T08:00:00+00:00",
        scheduled_for=datetime(2026, 3, 5, 8, tzinfo=UTC),
        schedule_name="Morning brief",
        report=ReportRef(id="campaign_summary"),
        filters=Filters(campaign_ids=["c-1", "c-2"]),
        window=DataWindow(start=START, end=START + timedelta(days=1), timezone="UTC"),
        format=ReportFormat.PDF,
        recipients=["a@example.com"],
    )
    return base.model_copy(update=changes)


def _key(run: RunDetails, tenant: str = "acme", settings: Settings = SETTINGS) -> str | None:
    return share_key(tenant, run, settings)


def test_runs_differing_only_in_who_and_when_share_a_key() -> None:
    other = _run(
        run_id="s-2@2026-03-05T08:00:00+00:00",
        schedule_name="Another schedule",
        recipients=["b@example.com", "c@example.com"],
        scheduled_for=datetime(2026, 3, 5, 8, 0, 30, tzinfo=UTC),
        attempt=3,
    )
    key = _key(_run())
    assert key is not None
    assert len(key) == 64
    assert _key(other) == key


def test_the_same_instants_written_with_another_offset_share_a_key() -> None:
    plus_one = timezone(timedelta(hours=1))
    window = DataWindow(
        start=START.astimezone(plus_one),
        end=(START + timedelta(days=1)).astimezone(plus_one),
        timezone="UTC",
    )
    assert _key(_run(window=window)) == _key(_run())


@pytest.mark.parametrize(
    "changes",
    [
        {"report": ReportRef(id="agent_performance")},
        {"filters": Filters(campaign_ids=["c-1"])},
        {"filters": Filters(campaign_ids=["c-2", "c-1"])},  # shown in this order in the PDF
        {"filters": Filters(campaign_ids=["c-1", "c-2"], agent_ids=["a-1"])},
        {"window": DataWindow(start=START, end=START + timedelta(days=2), timezone="UTC")},
        {
            "window": DataWindow(
                start=START, end=START + timedelta(days=1), timezone="Europe/London"
            )
        },
        {"format": ReportFormat.CSV},
        {"format": ReportFormat.HTML},
        {"skip_if_empty": True},
    ],
    ids=lambda changes: "+".join(changes),
)
def test_any_input_that_shapes_the_artifact_changes_the_key(changes: dict[str, object]) -> None:
    assert _key(_run(**changes)) != _key(_run())


def test_tenants_never_share() -> None:
    assert _key(_run(), tenant="globex") != _key(_run())


@pytest.mark.parametrize(
    ("settings", "fmt"),
    [
        (Settings(renderer=RendererSettings(pdf_max_rows=10)), ReportFormat.PDF),
        (Settings(renderer=RendererSettings(html_max_rows=10)), ReportFormat.HTML),
        (Settings(branding=BrandingSettings(platform_name="Acme")), ReportFormat.PDF),
        (Settings(branding=BrandingSettings(logo_file=Path("logo.png"))), ReportFormat.PDF),
        (Settings(branding=BrandingSettings(platform_base_url="https://x")), ReportFormat.PDF),
        (Settings(default_timezone="America/New_York"), ReportFormat.CSV),
        (Settings(reports=ReportSettings(use_rollups=False)), ReportFormat.CSV),
    ],
)
def test_settings_that_appear_in_the_artifact_change_the_key(
    settings: Settings, fmt: ReportFormat
) -> None:
    run = _run(format=fmt)
    assert _key(run, settings=settings) != _key(run)


def test_settings_a_format_does_not_show_leave_its_key_alone() -> None:
    csv = _run(format=ReportFormat.CSV)
    other = Settings(
        renderer=RendererSettings(pdf_max_rows=10, html_max_rows=10),
        branding=BrandingSettings(platform_name="Acme"),
    )
    assert _key(csv, settings=other) == _key(csv)


def test_custom_reports_share_only_with_a_known_and_equal_definition_version() -> None:
    custom = _run(report=ReportRef(kind="custom", id="my-report"))
    assert share_key("acme", custom, SETTINGS, None) is None
    saved = share_key("acme", custom, SETTINGS, "2026-03-01T10:00:00+00:00")
    assert saved is not None
    assert share_key("acme", custom, SETTINGS, "2026-03-01T10:00:00+00:00") == saved
    assert share_key("acme", custom, SETTINGS, "2026-03-02T09:00:00+00:00") != saved


def test_a_tenants_own_compliance_ceiling_changes_the_key_the_defaults_do_not() -> None:
    """Campaign Summary flags its abandon rates against it: another ceiling, another render."""
    run = _run()
    plain = share_key("acme", run, SETTINGS)
    assert share_key("acme", run, SETTINGS, compliance=TenantCompliance()) == plain
    own = share_key("acme", run, SETTINGS, compliance=TenantCompliance(abandon_period="24h"))
    assert own not in (None, plain)


def test_the_smtp_test_report_is_never_shared() -> None:
    assert _key(_run(report=ReportRef(kind="test", id=TEST_REPORT_ID))) is None


async def test_identical_work_in_flight_runs_once() -> None:
    in_flight: InFlight[str] = InFlight()
    calls: list[str] = []
    release = asyncio.Event()

    async def work(name: str) -> str:
        calls.append(name)
        await release.wait()
        return f"render by {name}"

    tasks = [
        asyncio.create_task(in_flight.run(key, lambda n=name: work(n)))
        for key, name in (("k", "first"), ("k", "second"), ("other", "third"))
    ]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*tasks)
    assert sorted(calls) == ["first", "third"]
    assert results == [
        ("render by first", False),
        ("render by first", True),
        ("render by third", False),
    ]


async def test_a_failed_leader_leaves_its_waiters_to_work_themselves() -> None:
    in_flight: InFlight[str] = InFlight()
    calls: list[str] = []
    release = asyncio.Event()

    async def work(name: str) -> str:
        calls.append(name)
        await release.wait()
        if name == "first":
            raise RuntimeError("the source went away")
        return f"render by {name}"

    first = asyncio.create_task(in_flight.run("k", lambda: work("first")))
    await asyncio.sleep(0)
    second = asyncio.create_task(in_flight.run("k", lambda: work("second")))
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(RuntimeError):
        await first
    assert await second == ("render by second", False)
    assert calls == ["first", "second"]
