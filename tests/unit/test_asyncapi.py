"""docs/asyncapi.yaml is the document FastStream generates from the message models today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.infra import REPO

COMMITTED = REPO / "docs" / "asyncapi.yaml"
FASTSTREAM_GEN = (sys.executable, "-m", "faststream", "docs", "gen", "--factory", "--yaml")


def test_the_committed_asyncapi_document_is_up_to_date(tmp_path: Path) -> None:
    generated = tmp_path / "asyncapi.yaml"
    out = subprocess.run(
        [
            *FASTSTREAM_GEN,
            "--app-dir",
            str(REPO),
            "-o",
            str(generated),
            "herald.shared.contract.asyncapi:contract",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    # Compared as data: FastStream lists channels in no fixed order.
    assert yaml.safe_load(generated.read_text()) == yaml.safe_load(COMMITTED.read_text()), (
        "docs/asyncapi.yaml is stale: run `make asyncapi` and commit the result"
    )


def test_every_topic_and_message_is_described() -> None:
    text = COMMITTED.read_text()
    for topic in ("schedule.commands", "schedule.events", "report.due", "report.rendered"):
        assert f"herald.{topic}" in text
    assert "herald.delivery.status" in text
    for message in ("CreateSchedule", "RunNow", "SendTestEmail", "CommandRejected", "ReportDue"):
        assert f"    {message}:" in text
