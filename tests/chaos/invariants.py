"""The invariants every chaos scenario ends with, checked the same way for all of them.

- every run of the herd ended as the scenario expected: `delivered`, or
  `failed` with the expected words in its reason;
- every recipient of a delivered run got exactly one email (counted by
  Message-ID in the SMTP server's record), and no run that was not
  delivered sent any;
- `herald replay --verify` (the CLI, as a process) finds the history equal to
  the event log;
- no run is left in a non-final state (`wait_until_quiet` saw to that).

A mailer killed between claiming a recipient and recording the server's reply
leaves a claim whose outcome nobody knows; once its lease runs out another
mailer sends the message again, logging a `reply unknown` warning. That is the
one window SMTP cannot close (the server may have accepted the first copy), so
a duplicate is tolerated only where such a case explains it: duplicates beyond
the count of `reply unknown` cases fail the scenario, and the count of those
cases (and of the duplicates they caused) is printed for every scenario.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pymongo.asynchronous.database import AsyncDatabase

from herald.services.mailer.compose import message_id
from herald.shared.contract.messages import RunStatus
from herald.shared.history import store as history_store
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.chaos.fleet import Fleet
from tests.chaos.herd import Herd
from tests.chaos.mail_sink import MailSink
from tests.helpers import settings_env
from tests.infra import REPO

HERALD = Path(sys.executable).parent / "herald"


@dataclass
class Outcome:
    scenario: str
    runs: int
    by_status: Counter[str]
    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    wrong_end: list[str] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)
    ambiguous: int = 0
    #: From the herd's import to the last run's final event.
    herd_s: float = 0.0
    #: From the end of the faults until the system was quiet.
    quiet_s: float = 0.0
    replay_exit: int = 0
    replay_output: str = ""
    replay_s: float = 0.0
    #: The scenario's steps and the replicas' fates, in order.
    timeline: list[str] = field(default_factory=list)

    def table(self) -> str:
        rows = [
            ("runs", self.runs),
            ("delivered", self.by_status.get(RunStatus.DELIVERED.value, 0)),
            ("failed", self.by_status.get(RunStatus.FAILED.value, 0)),
            ("skipped", sum(n for s, n in self.by_status.items() if s.startswith("skipped"))),
            ("ended otherwise than expected", len(self.wrong_end)),
            ("duplicate emails", len(self.duplicates)),
            ("lost emails", len(self.lost)),
            ("emails of runs not delivered", len(self.unexpected)),
            ("replicas that died on their own", len(self.crashed)),
            ("ambiguous-window cases (reply unknown)", self.ambiguous),
            ("replay --verify exit", self.replay_exit),
            ("replay --verify seconds", f"{self.replay_s:.1f}"),
            ("seconds from the herd to its last final run", f"{self.herd_s:.1f}"),
            ("seconds to quiet after the faults", f"{self.quiet_s:.1f}"),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"== chaos scenario: {self.scenario} =="]
        lines += [f"{name:<{width}}  {value:>8}" for name, value in rows]
        said = [line for line in self.replay_output.splitlines() if line.strip()]
        lines += [f"replay: {said[-1].strip()}"] if said else []
        lines += [f"- {event}" for event in self.timeline]
        return "\n".join(lines)

    def problems(self) -> list[str]:
        found = []
        unexplained = self.duplicates[self.ambiguous :]
        for what, items in (
            ("runs ended otherwise than expected", self.wrong_end),
            ("recipients got more than one email beyond the reply-unknown cases", unexplained),
            ("recipients of delivered runs got no email", self.lost),
            ("emails were sent for runs that were not delivered", self.unexpected),
            ("replicas died on their own", self.crashed),
        ):
            if items:
                found.append(f"{len(items)} {what}, e.g. {items[:5]}")
        if found and self.ambiguous:
            found.append(
                f"{self.ambiguous} 'reply unknown' case(s) in the mailer logs: a mailer killed "
                "between its claim and the server's reply (tests/chaos/README.md)"
            )
        if self.replay_exit != 0:
            found.append(f"herald replay --verify exited {self.replay_exit}:\n{self.replay_output}")
        return found


async def replay_verify(settings: Settings) -> tuple[int, str]:
    """`herald replay --verify` as an operator would run it, against this scenario's names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env |= settings_env(settings) | {"COLUMNS": "200"}
    done = await asyncio.to_thread(
        subprocess.run,
        [str(HERALD), "replay", "--verify"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout + done.stderr


async def check(
    scenario: str,
    settings: Settings,
    db: AsyncDatabase[Document],
    herd: Herd,
    sink: MailSink,
    fleet: Fleet,
    quiet_s: float,
) -> Outcome:
    docs = {
        doc["_id"]: doc
        async for doc in db[history_store.RUNS].find(
            {}, {"status": 1, "reason": 1, "updated_at": 1}
        )
    }
    ends = [doc["updated_at"] for run, doc in docs.items() if run in herd.runs]
    record = sink.record()
    sender = settings.smtp.from_address
    outcome = Outcome(
        scenario,
        runs=len(herd.runs),
        by_status=Counter(docs.get(r, {}).get("status", "(no record)") for r in herd.runs),
        ambiguous=fleet.count_lines("mailer", "reply unknown"),
        crashed=fleet.crashed(),
        herd_s=(max(ends) - herd.imported_at).total_seconds() if ends else 0.0,
        quiet_s=quiet_s,
    )
    expected_mail: set[tuple[str, str]] = set()
    for run in herd.runs.values():
        doc = docs.get(run.run_id, {})
        status, reason = doc.get("status"), doc.get("reason") or ""
        wanted = run.expected
        if status != wanted.status.value or (wanted.reason and wanted.reason not in reason):
            outcome.wrong_end.append(f"{run.run_id}: {status} ({reason[:200]})")
        if status != RunStatus.DELIVERED.value:
            continue
        for recipient in run.recipients:
            key = (message_id(run.run_id, recipient, sender), recipient)
            expected_mail.add(key)
            count = record.accepted.get(key, 0)
            if count == 0:
                outcome.lost.append(f"{run.run_id} -> {recipient}")
            elif count > 1:
                outcome.duplicates.append(f"{run.run_id} -> {recipient} x{count}")
    outcome.unexpected = [
        f"{mid} -> {to}" for mid, to in record.accepted if (mid, to) not in expected_mail
    ]
    started = time.monotonic()
    outcome.replay_exit, outcome.replay_output = await replay_verify(settings)
    outcome.replay_s = time.monotonic() - started
    return outcome
