"""The platform's data enters through `herald data import`, and `herald reports show` reads it."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from typer.testing import CliRunner

from herald.cli.main import app
from herald.services.renderer.calldata import store as call_store
from herald.shared.runtime.leases import LeaseLost, LeaseStore
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.helpers import settings_env, unwrapped

DAY_2 = ("--from", "2026-11-02", "--to", "2026-11-02")
DAY_3 = ("--from", "2026-11-03", "--to", "2026-11-03")
CAMPAIGN = {"tenant_id": "acme", "campaign_id": "renewals", "name": "Renewals Q4"}


def _call(n: int, **fields: object) -> dict[str, object]:
    return {
        "tenant_id": "acme",
        "call_id": f"c{n}",
        "started_at": f"2026-11-02T0{n}:15:00Z",
        "direction": "outbound",
        "campaign_id": "renewals",
        "agent_id": "a1",
        "status": "answered",
        "talk_s": 60,
    } | fields


def _jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    return CliRunner()


def test_bad_lines_are_named_and_skipped_good_ones_land_in_the_report(
    cli: CliRunner, tmp_path: Path
) -> None:
    campaigns = _jsonl(tmp_path / "campaigns.jsonl", [json.dumps(CAMPAIGN)])
    assert cli.invoke(app, ["data", "import", "campaigns", str(campaigns)]).exit_code == 0
    calls = _jsonl(
        tmp_path / "calls.jsonl",
        [
            json.dumps(_call(1)),
            json.dumps(_call(2, sale=1, revenue_cents=9900)),
            json.dumps(_call(3, status="no_answer", agent_id=None, talk_s=0)),
            "{not json",
            json.dumps(_call(5, agent_id=None)),
        ],
    )
    result = cli.invoke(app, ["data", "import", "calls", str(calls)])
    assert result.exit_code == 1, result.output
    assert "line 4: not JSON" in result.output
    assert "line 5" in result.output
    assert "an answered call needs agent_id" in result.output
    assert "3 new calls stored; 2 bad line(s)" in result.output

    again = cli.invoke(app, ["data", "import", "calls", str(calls)])
    assert "0 new calls stored" in again.output  # the same calls are not counted twice

    shown = cli.invoke(
        app,
        ["reports", "show", "campaign_summary", "--tenant", "acme", "--csv", *DAY_2],
    )
    assert shown.exit_code == 0, shown.output
    rows = list(csv.reader(io.StringIO(shown.stdout, newline="")))
    # The outbound table: 3 dialed, 2 answered, 1 no answer; contact rate 2/3 = 66.7 %;
    # nothing abandoned, 0.0 % over the day and over its trailing 30 days (not flagged);
    # 1 sale of 2 answered = 50.0 %; 120 s of talk = 2.0 minutes; AHT 120 s / 2 = 1:00.
    assert rows[0] == ["Outbound"]
    expected = ["3", "2", "1", "0", "0", "66.7", "0.0", "0.0", "", "1", "50.0", "2.0"]
    assert rows[2] == ["Renewals Q4", *expected, "0:01:00"]
    assert rows[3] == ["Total", *expected[:7], "", "", *expected[9:], "0:01:00"]

    table = cli.invoke(
        app,
        ["reports", "show", "campaign_summary", "--tenant", "acme", *DAY_3],
    )
    assert table.exit_code == 0, table.output
    assert "Campaign Summary  2026-11-03 to 2026-11-03" in table.output


def _session(agent: str, start: str, end: str) -> dict[str, object]:
    """An hour ready on 2 November, spent from `start` to `end`."""
    span = {"state": "ready", "start": start, "end": end}
    return {
        "tenant_id": "acme",
        "agent_id": agent,
        "day": "2026-11-02",
        "login_s": 3600,
        "ready_s": 3600,
        "spans": [span],
    }


def test_a_session_outside_its_day_is_a_named_bad_line_and_the_others_load(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session is a local day of the data's zone: spans outside it are bad input, named by
    line and session, never a traceback."""
    monkeypatch.setenv("HERALD_REPORTS__DATA_TIMEZONE", "Europe/Berlin")  # UTC+1 in November
    sessions = _jsonl(
        tmp_path / "sessions.jsonl",
        [
            json.dumps(_session("a1", "2026-11-02T08:00:00+01:00", "2026-11-02T09:00:00+01:00")),
            # 23:30 UTC on the 2nd is 00:30 on the 3rd in Berlin.
            json.dumps(_session("a2", "2026-11-02T23:30:00Z", "2026-11-03T00:30:00Z")),
            json.dumps(_session("a3", "2026-11-02T10:00:00+01:00", "2026-11-02T11:00:00+01:00")),
        ],
    )
    result = cli.invoke(app, ["data", "import", "sessions", str(sessions)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # typer's exit, not an error raised
    said = unwrapped(result.output)
    assert "line 2: (whole record): Value error, session acme/2026-11-02/a2: its spans" in said
    assert "lie outside 2026-11-02 in Europe/Berlin" in said
    assert "2 new sessions stored; 1 bad line(s)" in result.output

    shown = cli.invoke(
        app,
        [
            "reports", "show", "agent_time", "--tenant", "acme", "--csv", *DAY_2,
            "--timezone", "Europe/Berlin",
        ],
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    rows = list(csv.reader(io.StringIO(shown.stdout, newline="")))
    assert [row[:3] for row in rows[1:]] == [
        ["a1", "(no team)", "1:00:00"],
        ["a3", "(no team)", "1:00:00"],
        ["Total", "", "2:00:00"],
    ]


def test_a_filter_the_report_refuses_is_a_clear_error(cli: CliRunner) -> None:
    result = cli.invoke(
        app,
        ["reports", "show", "inbound_queues", "--tenant", "acme", "--agent", "a1", *DAY_2],
    )
    assert result.exit_code == 1
    assert "Inbound Queues does not accept an agent filter" in result.output


def test_rollup_rebuild_rejects_a_bad_day(cli: CliRunner) -> None:
    result = cli.invoke(app, ["data", "rollup", "--tenant", "acme", "--day", "2026-13-01"])
    assert result.exit_code == 1
    assert "--day" in result.output


async def test_an_import_into_a_day_another_writer_holds_says_so_and_runs_again(
    cli: CliRunner, tmp_path: Path, db: AsyncDatabase[Document], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_store, "ROLLUP_LEASE_WAIT_S", 1.0)
    other = LeaseStore(db[call_store.ROLLUP_LEASES], timedelta(minutes=5))
    held = await other.acquire(call_store.rollup_lease("acme", date(2026, 11, 2)))
    assert held is not None
    calls = _jsonl(tmp_path / "calls.jsonl", [json.dumps(_call(1)), json.dumps(_call(2))])
    command = ["data", "import", "calls", str(calls)]

    busy = await asyncio.to_thread(cli.invoke, app, command)  # the CLI runs its own loop
    assert busy.exit_code == 1, busy.output
    said = unwrapped(busy.output)
    assert "'acme' for 2026-11-02 was held by another writer" in said
    assert "Run it again" in said
    assert "Traceback" not in said

    await other.release(held)
    again = await asyncio.to_thread(cli.invoke, app, command)
    assert again.exit_code == 0, again.output
    assert "2 new calls stored" in again.output


def test_an_import_whose_day_another_writer_took_over_says_so(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `CallStore` raises when the lease's renewal finds a newer holder (its own test
    is in test_rollups.py): a message naming the day, not a traceback."""

    async def taken_over(store: call_store.CallStore, calls: object) -> int:
        raise LeaseLost(call_store.rollup_lease("acme", date(2026, 11, 2)))

    monkeypatch.setattr(call_store.CallStore, "ingest", taken_over)
    calls = _jsonl(tmp_path / "calls.jsonl", [json.dumps(_call(1))])
    result = cli.invoke(app, ["data", "import", "calls", str(calls)])
    assert result.exit_code == 1, result.output
    said = unwrapped(result.output)
    assert "held rollup:acme/2026-11-02 for over 120 s" in said
    assert "Run it again" in said
    assert "Traceback" not in said
