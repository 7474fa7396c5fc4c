"""The chaos suite's SMTP server process: records what it accepts, refuses a seeded fraction.

Run as `python -m tests.chaos.mail_sink_server --port P --record FILE [--flaky F --seed S]`.
Every accepted message appends one line to FILE, `accepted <Message-ID> <recipient>`,
flushed at once, so the record survives the server being killed and started
again on the same port. With `--flaky`, that fraction of DATA attempts is
answered 421 or 451 (a line `refused ...` is written): decided by a hash of
the seed, the Message-ID and the attempt number, so a rerun with the same
seed refuses the same attempts, and a retried message is eventually taken.
Only the standard library and aiosmtpd are imported: it restarts quickly.
"""

from __future__ import annotations

import argparse
import hashlib
import signal
import threading
from collections import Counter
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _Handler:
    def __init__(self, record: Path, flaky: float, seed: int) -> None:
        self._record = record.open("a", buffering=1)
        self._flaky = flaky
        self._seed = seed
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _refusal(self, message_id: str) -> str | None:
        with self._lock:
            self._attempts[message_id] += 1
            attempt = self._attempts[message_id]
        digest = hashlib.sha256(f"{self._seed}|{message_id}|{attempt}".encode()).digest()
        if int.from_bytes(digest[:4], "big") / 2**32 >= self._flaky:
            return None
        return (
            "421 4.3.2 Service shutting down, try later"
            if digest[4] % 2
            else "451 4.3.0 Local error, try again"
        )

    def _write(self, line: str) -> None:
        with self._lock:
            self._record.write(line + "\n")

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = message_from_bytes(envelope.content, policy=default)
        message_id = str(headers.get("Message-ID", "(none)")).strip()
        refusal = self._refusal(message_id)
        if refusal is not None:
            self._write(f"refused {message_id} {refusal[:3]}")
            return refusal
        for recipient in envelope.rcpt_tos:
            self._write(f"accepted {message_id} {recipient}")
        return "250 2.0.0 Queued"


def main() -> None:
    parser = argparse.ArgumentParser(description="Herald chaos suite: recording SMTP server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--flaky", type=float, default=0.0, help="fraction answered 421/451")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not 0 <= args.flaky < 1:
        parser.error("--flaky must be at least 0 and below 1")
    handler = _Handler(args.record, args.flaky, args.seed)
    controller = Controller(handler, hostname="127.0.0.1", port=args.port)
    controller.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(f"listening on 127.0.0.1:{args.port}", flush=True)
    stopped.wait()
    controller.stop()


if __name__ == "__main__":
    main()
