from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from herald.shared.contract.schedule_spec import ScheduleChanges, ScheduleSpec
from herald.shared.contract.tolerance import TOLERANT

BASE: dict[str, Any] = {
    "name": "Weekly Scorecard",
    "report": {"id": "agent_performance"},
    "frequency": "weekly",
    "weekday": 0,
    "recipients": ["lead@example.com"],
}


def _errors(**changes: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        ScheduleSpec.model_validate(BASE | changes)
    return {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors()}


def test_a_valid_spec_normalises_and_dedupes_recipients() -> None:
    spec = ScheduleSpec.model_validate(
        BASE | {"recipients": ["Lead@Example.com", "lead@example.com", "b@example.org"]}
    )
    assert spec.recipients == ["Lead@example.com", "b@example.org"]
    assert spec.format.value == "pdf"


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"report": {"id": "sales_magic"}}, "report", "unknown report type"),
        ({"timezone": "Europe/Atlantis"}, "timezone", "unknown IANA time zone"),
        ({"recipients": []}, "recipients", "at least 1"),
        ({"recipients": ["not-an-address"]}, "recipients.0", "invalid email address"),
        ({"name": "Evil\r\nBcc: x@example.com"}, "name", "control characters"),
        ({"weekday": None}, "", "weekly schedules need weekday"),
        (
            {
                "frequency": "custom",
                "weekday": None,
                "cron": "61 * * * *",
                "window": {"kind": "previous_day"},
            },
            "cron",
            "invalid cron",
        ),
        (
            {"frequency": "custom", "weekday": None, "cron": "0 8 * * *"},
            "",
            "need both cron and window",
        ),
        ({"format": "docx"}, "format", "Input should be"),
        (
            {"report": {"id": "inbound_queues"}, "filters": {"agent_ids": ["a1"]}},
            "",
            "Inbound Queues does not accept an agent filter",
        ),
        (
            {"report": {"id": "agent_time"}, "filters": {"campaign_ids": ["c1"]}},
            "",
            "Agent Time and Pauses does not accept a campaign filter",
        ),
    ],
)
def test_each_rule_names_its_field(changes: dict[str, Any], field: str, fragment: str) -> None:
    errors = _errors(**changes)
    assert field in errors, errors
    assert fragment in errors[field]


def test_window_n_matches_kind() -> None:
    custom = BASE | {"frequency": "custom", "weekday": None, "cron": "0 * * * *"}
    with pytest.raises(ValidationError, match="needs n"):
        ScheduleSpec.model_validate(custom | {"window": {"kind": "last_hours"}})
    spec = ScheduleSpec.model_validate(custom | {"window": {"kind": "last_hours", "n": 4}})
    assert spec.window is not None
    assert spec.window.n == 4


def test_a_counted_window_is_a_year_at_most_and_one_stored_before_still_reads() -> None:
    """n days cost a report about 6 database commands each: 24 years were a minute of the
    database's at every firing (security audit)."""
    custom = BASE | {"frequency": "custom", "weekday": None, "cron": "0 8 * * *"}
    year = ScheduleSpec.model_validate(custom | {"window": {"kind": "last_days", "n": 366}})
    assert year.window is not None
    hours = {"kind": "last_hours", "n": 366 * 24}
    assert ScheduleSpec.model_validate(custom | {"window": hours}).window is not None
    longer = custom | {"window": {"kind": "last_days", "n": 8784}}
    with pytest.raises(ValidationError, match="last_days takes at most 366 days"):
        ScheduleSpec.model_validate(longer)
    stored = ScheduleSpec.model_validate(longer, context=TOLERANT)
    assert stored.window is not None
    assert stored.window.n == 8784


def test_changes_are_revalidated_as_a_whole() -> None:
    spec = ScheduleSpec.model_validate(BASE)
    renamed = ScheduleChanges(name="Renamed").apply_to(spec)
    assert renamed.name == "Renamed"
    assert renamed.weekday == 0
    with pytest.raises(ValidationError, match="weekday is only for weekly"):
        ScheduleChanges(frequency="daily").apply_to(spec)


def test_changes_carry_only_the_given_fields_across_json() -> None:
    from herald.shared.contract.messages import COMMAND_ADAPTER, UpdateSchedule

    update = UpdateSchedule(
        command_id=uuid4(),
        tenant_id="acme",
        schedule_id="s-1",
        changes=ScheduleChanges(frequency="daily", weekday=None),  # type: ignore[arg-type]
        expected_version=1,
    )
    back = COMMAND_ADAPTER.validate_json(update.model_dump_json())
    assert isinstance(back, UpdateSchedule)
    assert back.changes.model_fields_set == {"frequency", "weekday"}
    daily = back.changes.apply_to(ScheduleSpec.model_validate(BASE))
    assert (daily.frequency.value, daily.weekday, daily.name) == ("daily", None, BASE["name"])
