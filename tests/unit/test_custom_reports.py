"""Custom report definitions: what validates, and the field-level reason for what does not."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from herald.cli.custom import custom_app
from herald.services.renderer.calldata.groupings import COUNT, GROUPINGS
from herald.services.renderer.calldata.records import AgentSession, Call, PauseReason
from herald.services.renderer.reports.custom_definitions import (
    CALLS,
    RATIOS,
    SESSIONS,
    CustomReport,
    reasons,
)
from herald.services.renderer.reports.custom_figures import calls_grouping

CALLS_REPORT: dict[str, Any] = {
    "tenant_id": "acme",
    "report_id": "inbound_by_queue",
    "title": "Inbound by queue",
    "dataset": "calls",
    "dimensions": ["queue_id", "day"],
    "metrics": [
        {"key": "offered", "label": "Offered", "kind": "count"},
        {"key": "talk", "label": "Talk", "kind": "sum", "field": "talk_s"},
        {"key": "sl", "label": "Service level %", "kind": "ratio", "ratio": "service_level"},
    ],
    "filters": {"direction": ["inbound"], "hour": [8, 9]},
    "sort": {"by": "sl", "descending": True},
    "limit": 50,
}
SESSIONS_REPORT: dict[str, Any] = {
    "tenant_id": "acme",
    "report_id": "team_time",
    "title": "Team time",
    "dataset": "agent_sessions",
    "dimensions": ["team_id"],
    "metrics": [
        {"key": "login", "label": "Login", "kind": "sum", "field": "login_s"},
        {"key": "utilisation", "label": "Utilisation %", "kind": "ratio", "ratio": "utilisation"},
    ],
}


def _errors(base: dict[str, Any], **changes: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        CustomReport.model_validate(base | changes)
    return {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors()}


def _metric(**fields: Any) -> dict[str, Any]:
    return {"key": "m", "label": "M"} | fields


def test_a_valid_calls_report_keeps_its_filters_and_sums_each_field_once() -> None:
    report = CustomReport.model_validate(CALLS_REPORT)
    assert report.grouped_by == ("queue_id", "day", "direction", "hour")
    assert report.summed == (COUNT, "talk_s", "within_sl")
    assert report.limit == 50


def test_a_valid_sessions_report_sums_the_ratio_fields() -> None:
    report = CustomReport.model_validate(SESSIONS_REPORT)
    assert report.summed == ("login_s", "talk_s", "wrap_s")
    assert report.sort is None
    assert report.limit == 1000


def test_the_allow_lists_name_stored_integer_fields() -> None:
    """Every dimension and summable field is a field of the stored documents."""
    call = Call(
        tenant_id="acme",
        call_id="c1",
        started_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
        direction="inbound",
        campaign_id="c",
        agent_id="a",
        status="answered",
    ).document(ZoneInfo("UTC"))
    session = AgentSession(
        tenant_id="acme", agent_id="a", day=date(2026, 3, 2), login_s=60
    ).document(ZoneInfo("UTC"))
    for dataset, doc in ((CALLS, call), (SESSIONS, session)):
        assert set(dataset.dimensions) <= set(doc)
        assert all(type(doc[name]) is int for name in dataset.sums)
    assert {f"pause_{reason.value}_s" for reason in PauseReason} <= set(SESSIONS.sums)
    for name, ratio in RATIOS.items():
        sums = CALLS.sums if ratio.dataset == "calls" else SESSIONS.sums
        assert set(ratio.formula.fields) <= {*sums, COUNT}, name


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"dataset": "queues"}, "dataset", "Input should be 'calls' or 'agent_sessions'"),
        ({"dimensions": []}, "dimensions", "group by at least one dimension: campaign_id"),
        ({"dimensions": ["talk_s"]}, "dimensions.0", "'talk_s' is not a dimension of calls"),
        ({"dimensions": ["day", "day"]}, "dimensions.1", "'day' is listed twice"),
        ({"metrics": []}, "metrics", "add at least one metric"),
        (
            {"metrics": [_metric(kind="sum", field="talk_minutes")]},
            "metrics.0.field",
            "'talk_minutes' is not a summable field of calls; choose one of answered,",
        ),
        ({"metrics": [_metric(kind="sum")]}, "metrics.0.field", "a sum metric needs field"),
        (
            {"metrics": [_metric(kind="count", field="talk_s")]},
            "metrics.0.field",
            "only a sum metric takes field",
        ),
        ({"metrics": [_metric(kind="ratio")]}, "metrics.0.ratio", "a ratio metric needs ratio"),
        (
            {"metrics": [_metric(kind="ratio", ratio="happiness")]},
            "metrics.0.ratio",
            "'happiness' is not a known ratio; ratios of calls: contact_rate,",
        ),
        (
            {"metrics": [_metric(kind="ratio", ratio="utilisation")]},
            "metrics.0.ratio",
            "ratio 'utilisation' is computed from agent_sessions, not calls",
        ),
        (
            {"metrics": [_metric(kind="count"), _metric(kind="sum", field="talk_s")]},
            "metrics.1.key",
            "metric key 'm' is used twice",
        ),
        (
            {"metrics": [_metric(kind="count", key="day")]},
            "metrics.0.key",
            "'day' is a dimension of this report",
        ),
        ({"metrics": [_metric(kind="count", key="Calls!")]}, "metrics.0.key", "should match"),
        ({"metrics": [_metric(kind="average")]}, "metrics.0.kind", "Input should be 'count'"),
        (
            {"filters": {"talk_s": [0]}},
            "filters.talk_s",
            "'talk_s' cannot be filtered on in calls",
        ),
        (
            {"filters": {"direction": ["outbound", "inbund"]}},
            "filters.direction.1",
            "'inbund' is not a direction; choose one of outbound, inbound",
        ),
        ({"filters": {"hour": [8, 24]}}, "filters.hour.1", "24 is not an hour"),
        ({"filters": {"hour": ["8"]}}, "filters.hour.0", "'8' is not an hour"),
        ({"filters": {"day": ["2026-02-30"]}}, "filters.day.0", "write days as YYYY-MM-DD"),
        ({"filters": {"campaign_id": [7]}}, "filters.campaign_id.0", "write '7' in quotes"),
        ({"filters": {"status": []}}, "filters.status", "at least 1 item"),
        (
            {"sort": {"by": "talk_s"}},
            "sort.by",
            "'talk_s' is neither a dimension nor a metric key of this report; sort by one of "
            "queue_id, day, offered, talk, sl",
        ),
        ({"limit": 0}, "limit", "greater than or equal to 1"),
        ({"limit": 10_001}, "limit", "less than or equal to 10000"),
        ({"title": ""}, "title", "at least 1 character"),
        ({"report_id": "a/b"}, "report_id", "should match"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ],
)
def test_each_invalid_calls_definition_names_its_field(
    changes: dict[str, Any], field: str, fragment: str
) -> None:
    errors = _errors(CALLS_REPORT, **changes)
    assert field in errors, errors
    assert fragment in errors[field]


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        (
            {"dimensions": ["campaign_id"]},
            "dimensions.0",
            "'campaign_id' is not a dimension of agent_sessions; choose one of agent_id, "
            "team_id, day",
        ),
        (
            {"metrics": [_metric(kind="sum", field="handle_s")]},
            "metrics.0.field",
            "'handle_s' is not a summable field of agent_sessions",
        ),
        (
            {"metrics": [_metric(kind="ratio", ratio="contact_rate")]},
            "metrics.0.ratio",
            "ratios of agent_sessions: utilisation, pause_share, ready_share",
        ),
        ({"filters": {"direction": ["inbound"]}}, "filters.direction", "cannot be filtered"),
    ],
)
def test_each_invalid_sessions_definition_names_its_field(
    changes: dict[str, Any], field: str, fragment: str
) -> None:
    errors = _errors(SESSIONS_REPORT, **changes)
    assert field in errors, errors
    assert fragment in errors[field]


def test_every_problem_is_reported_at_once() -> None:
    errors = _errors(
        CALLS_REPORT,
        dimensions=["queue", "day"],
        metrics=[_metric(kind="sum", field="talk_minutes"), _metric(kind="ratio")],
        filters={"direction": ["sideways"]},
    )
    assert set(errors) == {
        "dimensions.0",
        "metrics.0.field",
        "metrics.1.key",
        "metrics.1.ratio",
        "filters.direction.0",
        "sort.by",
    }


def test_reasons_read_as_field_then_reason() -> None:
    with pytest.raises(ValidationError) as caught:
        CustomReport.model_validate(CALLS_REPORT | {"metrics": []})
    assert reasons(caught.value) == [
        "metrics: add at least one metric (a count, a sum or a ratio)",
        "sort.by: 'sl' is neither a dimension nor a metric key of this report; "
        "sort by one of queue_id, day",
    ]


def test_formulas_read_as_written_in_the_docs() -> None:
    assert RATIOS["abandon_rate"].formula.text() == "abandoned / (answered + abandoned), in %"
    assert RATIOS["aht_s"].formula.text() == "handle_s / answered"
    assert RATIOS["utilisation"].formula.text() == "(talk_s + wrap_s) / login_s, in %"


def _report(**changes: Any) -> CustomReport:
    return CustomReport.model_validate(CALLS_REPORT | changes)


def test_a_report_a_registered_grouping_covers_is_read_from_it() -> None:
    by_agent = _report(
        dimensions=["agent_id"],
        metrics=[_metric(kind="ratio", ratio="conversion_rate")],
        filters={"campaign_id": ["c1"]},
        sort=None,
    )
    assert calls_grouping(by_agent).name == "calls"
    by_hour = _report(dimensions=["hour"], metrics=[_metric(kind="count")], sort=None, filters={})
    assert calls_grouping(by_hour).name == "hours"
    assert calls_grouping(by_hour) in GROUPINGS


def test_a_report_no_grouping_covers_gets_an_ad_hoc_one() -> None:
    grouping = calls_grouping(_report())
    assert grouping not in GROUPINGS
    assert grouping.keys == ("queue_id", "direction", "hour")
    assert grouping.sums == (COUNT, "talk_s", "within_sl")


def test_the_cli_rejects_an_invalid_file_with_its_reasons(tmp_path: Path) -> None:
    definition = tmp_path / "report.json"
    bad = CALLS_REPORT | {
        "dimensions": ["[/queue]"],
        "metrics": [_metric(kind="sum", field="talk_minutes")],
        "sort": None,
    }
    definition.write_text(json.dumps(bad))
    result = CliRunner().invoke(custom_app, ["save", str(definition), "--tenant", "acme"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("error: dimensions.0: '[/queue]' is not a dimension of calls")
    assert lines[1] == (
        "error: metrics.0.field: 'talk_minutes' is not a summable field of calls; choose one of "
        + ", ".join(CALLS.sums)
    )
    assert len(lines) == 2


def test_the_cli_rejects_a_file_of_another_tenant(tmp_path: Path) -> None:
    definition = tmp_path / "report.json"
    definition.write_text(json.dumps(CALLS_REPORT))
    result = CliRunner().invoke(custom_app, ["save", str(definition), "--tenant", "globex"])
    assert result.exit_code == 1
    assert "the file says 'acme' but --tenant is 'globex'" in result.output


def test_the_docs_list_every_field_and_ratio() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "reports.md").read_text(encoding="utf-8")
    section = docs[docs.index("## Custom reports") :]
    names = [*RATIOS, *CALLS.dimensions, *CALLS.sums, *SESSIONS.sums]
    assert [name for name in names if f"`{name}`" not in section] == []
