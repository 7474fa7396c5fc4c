"""The test's side of the chaos SMTP server (`mail_sink_server.py`): start, stop, read counts.

The server runs in a process of its own, so it can be stopped (SIGTERM) or
killed (SIGKILL) and started again on the same port; what it accepted is read
from its record file, one line per accepted message and recipient.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.chaos.cluster import port_open, wait_port_closed
from tests.helpers import wait_until
from tests.infra import REPO
from tests.smtp_server import free_port


@dataclass(frozen=True, slots=True)
class Record:
    """What the server has accepted so far, from its record file."""

    #: (Message-ID, recipient) -> how many times it was accepted.
    accepted: Counter[tuple[str, str]]
    refused: int


def read_record(path: Path) -> Record:
    accepted: Counter[tuple[str, str]] = Counter()
    refused = 0
    if path.exists():
        for line in path.read_text().splitlines():
            kind, _, rest = line.partition(" ")
            if kind == "accepted":
                message_id, _, recipient = rest.partition(" ")
                accepted[(message_id, recipient)] += 1
            elif kind == "refused":
                refused += 1
    return Record(accepted, refused)


class MailSink:
    """The recording SMTP server seen from the test: one port, one record, many lives."""

    def __init__(self, directory: Path, *, flaky: float = 0.0, seed: int = 0) -> None:
        self.port = free_port()
        self.record_path = directory / "smtp-record.txt"
        self.log_path = directory / "smtp.log"
        self.flaky = flaky
        self.seed = seed
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    async def start(self) -> None:
        if self.running:
            return
        process = self._process = self._launch()

        async def listening() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the SMTP server exited:\n{self.log_path.read_text()}")
            return port_open(self.port)

        await wait_until(listening, 30, f"the SMTP server on port {self.port}", interval_s=0.1)

    def _launch(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "tests.chaos.mail_sink_server", "--port", str(self.port)]
        command += ["--record", str(self.record_path), "--flaky", str(self.flaky)]
        command += ["--seed", str(self.seed)]
        with self.log_path.open("ab") as log:
            return subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)

    async def stop(self, *, kill: bool = False) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        await asyncio.to_thread(process.wait, 30)
        await wait_port_closed(self.port)

    def record(self) -> Record:
        return read_record(self.record_path)
