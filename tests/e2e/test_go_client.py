"""The Go client of examples/go, built from docs/asyncapi.yaml alone, against Herald.

The three services run as processes on real Kafka, FerretDB and Mailpit; the
client is built with the machine's Go (modules and build cache under
`~/.cache/herald/go`, so a second run builds nothing) and run as a subprocess:
it creates a schedule, runs it now, and waits for the run's `delivered` status.
Without Go, or when the build fails, these tests fail: they never skip.
"""

from __future__ import annotations

import asyncio
import email
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.helpers import Mailpit, running_scheduler, three_services
from tests.infra import REPO

pytestmark = pytest.mark.e2e

EXAMPLE = REPO / "examples" / "go"
CACHE = Path(os.environ.get("HERALD_CACHE", Path.home() / ".cache" / "herald")) / "go"


def _go() -> str:
    found = shutil.which("go") or next(
        (p for p in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go") if Path(p).is_file()), None
    )
    if found is None:
        pytest.fail(
            "no Go found: examples/go needs Go 1.26+, as deploy/local/infra does for Mailpit",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def go_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/go built into a temporary folder; its modules and compiled packages cached."""
    binary = tmp_path_factory.mktemp("go-client") / "herald-client"
    env = os.environ | {
        "GOMODCACHE": str(CACHE / "mod"),
        "GOCACHE": str(CACHE / "build"),
        # go.sum pins every module; -buildvcs=false: no VCS stamping (it would run git).
        "GOFLAGS": "-mod=mod -buildvcs=false",
    }
    started = time.monotonic()
    built = subprocess.run(
        [_go(), "build", "-o", str(binary), "."],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if built.returncode != 0:
        pytest.fail(f"go build of examples/go failed:\n{built.stdout}{built.stderr}", pytrace=False)
    print(f"examples/go built in {time.monotonic() - started:.1f} s")
    return binary


@dataclass(frozen=True)
class Ran:
    exit_code: int
    stdout: str
    stderr: str

    def summary(self) -> dict[str, Any]:
        lines = self.stdout.strip().splitlines()
        assert len(lines) == 1, f"want one line of JSON on stdout, got:\n{self.stdout}"
        parsed: dict[str, Any] = json.loads(lines[0])
        return parsed


async def run_client(
    binary: Path,
    settings: Settings,
    *,
    tenant: str,
    schedule_id: str,
    recipient: str,
    report: str | None = None,
    timeout_s: float = 120,
) -> Ran:
    """The client as its own process, configured by its flags alone."""
    args = ["-tenant", tenant, "-schedule-id", schedule_id, "-recipient", recipient]
    if report is not None:
        args += ["-report", report]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    done = await asyncio.to_thread(
        subprocess.run,
        [
            str(binary),
            "-brokers",
            settings.kafka.bootstrap_servers,
            "-prefix",
            settings.kafka.topic_prefix,
            "-timeout",
            f"{timeout_s:.0f}s",
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s + 30,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


async def test_go_clients_of_two_tenants_run_the_same_schedule_id_to_delivery(
    go_client: Path,
    topics_ready: Settings,
    db: AsyncDatabase[Document],
    mailpit: Mailpit,
    recipient: str,
    log_dir: Path,
) -> None:
    """Two tenants, one schedule id, two clients at once: their commands share a key, so
    a partition, and each client must pick its own replies by `command_id`."""
    settings = topics_ready
    to = {"globex": recipient, "initech": recipient.replace("@", ".initech@")}
    for tenant in to:
        await demo.seed(db, tenant_id=tenant, calls=500, days=3, anchor=date.today())
    async with three_services(settings, log_dir):
        runs = await asyncio.gather(
            *(
                run_client(
                    go_client, settings, tenant=tenant, schedule_id="daily-brief", recipient=address
                )
                for tenant, address in to.items()
            )
        )
    summaries: dict[str, dict[str, Any]] = {}
    for (tenant, address), ran in zip(to.items(), runs, strict=True):
        print(f"--- the client for {tenant}:\n{ran.stderr}{ran.stdout}")
        assert ran.exit_code == 0, f"{tenant}: exit {ran.exit_code}\n{ran.stderr}"
        summary = summaries[tenant] = ran.summary()
        assert summary["status"] == "delivered"
        assert summary["tenant_id"] == tenant
        assert summary["schedule_id"] == "daily-brief"
        assert summary["version"] == 1
        # The run's id is Herald's to choose (the document says nothing of its form).
        assert summary["run_id"]
        assert summary["recipients"] == [address]
        assert summary["create_command_id"] != summary["run_now_command_id"]

        # The email is in the SMTP sink already: delivered comes after SMTP accepted it.
        (received,) = mailpit.to(address)
        assert "Campaign Summary" in received["Subject"]
        parsed = email.message_from_bytes(mailpit.raw(received["ID"]), policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        (attachment,) = parsed.iter_attachments()
        assert attachment.get_content_type() == "text/csv"
        payload = attachment.get_payload(decode=True)
        assert isinstance(payload, bytes)
        assert b"Campaign" in payload  # the report's own layout is not this test's business
    assert summaries["globex"]["run_id"] != summaries["initech"]["run_id"]


async def test_go_client_prints_the_field_errors_of_a_rejection(
    go_client: Path, settings: Settings, log_dir: Path, recipient: str
) -> None:
    async with running_scheduler(settings, log_dir):
        ran = await run_client(
            go_client,
            settings,
            tenant="globex",
            schedule_id="bad-report",
            recipient=recipient,
            report="no_such_report",
            timeout_s=60,
        )
    print(f"--- the client:\n{ran.stderr}")
    assert ran.exit_code == 1, f"exit {ran.exit_code}\n{ran.stderr}"
    assert ran.stdout == ""
    assert "CreateSchedule" in ran.stderr
    assert "rejected" in ran.stderr
    assert "spec.report" in ran.stderr
    assert "no_such_report" in ran.stderr
