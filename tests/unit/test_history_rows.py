"""How `herald history` and `schedules show` print a run: a waiting run says when it goes next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from herald.cli.support import RUN_COLUMNS, mongo_hosts, run_row
from herald.services.scheduler.firing import run_details
from herald.shared.contract.messages import DeliveryStatus, RunStatus
from herald.shared.history.fold import fold
from tests.samples import DAILY_SPEC

T0 = datetime(2026, 11, 27, 8, tzinfo=UTC)
SPEC = DAILY_SPEC


def _event(status: RunStatus, **fields: object) -> DeliveryStatus:
    return DeliveryStatus.model_validate(
        {
            "tenant_id": "acme",
            "schedule_id": "s1",
            "run_id": "s1@x",
            "attempt": 1,
            "status": status,
            "stage": "mailer",
            "occurred_at": T0,
            **fields,
        }
    )


def test_a_pending_retry_shows_its_next_attempt_and_deadline() -> None:
    details = run_details("s1@x", SPEC, "UTC", T0, next_firing=T0 + timedelta(days=1))
    record = fold(
        [
            _event(RunStatus.DUE, run=details),
            _event(
                RunStatus.PENDING_RETRY,
                reason="451 later",
                next_attempt_at=T0 + timedelta(minutes=1),
            ),
        ]
    )
    row = dict(zip(RUN_COLUMNS, run_row(record), strict=True))
    assert row["status"] == "pending_retry"
    assert row["next attempt"] == "2026-11-27T08:01:00+00:00 (retried until 2026-11-28 08:00)"


def test_a_final_run_has_no_next_attempt() -> None:
    record = fold([_event(RunStatus.DELIVERED)])
    assert dict(zip(RUN_COLUMNS, run_row(record), strict=True))["next attempt"] == ""


@pytest.mark.parametrize(
    ("url", "hosts"),
    [
        (
            "mongodb://herald:s3cret@db1:27017,db2:27017/herald?authSource=admin",
            "db1:27017,db2:27017",
        ),
        (
            "mongodb+srv://u:p@cluster0.example.net/?authMechanismProperties=AWS_SESSION_TOKEN:t0k",
            "cluster0.example.net",
        ),
        ("mongodb://127.0.0.1:27117", "127.0.0.1:27117"),
        ("mongodb://u:p@w@rd@h:1/?x=1", "h:1"),
    ],
)
def test_an_error_names_the_mongodb_servers_alone(url: str, hosts: str) -> None:
    """Never the user, password, database or options: an AWS session token is one."""
    assert mongo_hosts(url) == hosts
