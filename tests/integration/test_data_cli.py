"""The platform's data enters through `herald data import`, and `herald reports show` reads it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from herald.cli.main import app
from herald.shared.runtime.settings import Settings
from tests.helpers import settings_env

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
    # 3 dialed, 2 answered, 1 no answer; contact rate 2/3 = 66.7 %; 1 sale of 2 answered
    # = 50.0 %; 120 s of talk = 2.0 minutes; AHT 120 s / 2 answered = 1:00.
    expected = ["3", "2", "1", "0", "0", "0.0", "66.7", "1", "50.0", "2.0", "0:01:00"]
    assert rows[1] == ["Renewals Q4", *expected]
    assert rows[2] == ["Total", *expected]

    table = cli.invoke(
        app,
        ["reports", "show", "campaign_summary", "--tenant", "acme", *DAY_3],
    )
    assert table.exit_code == 0, table.output
    assert "Campaign Summary  2026-11-03 to 2026-11-03" in table.output


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
