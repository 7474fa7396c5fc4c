"""A consumer that dies (os._exit) while handling a message, for the at-least-once test.

Run as `python -m tests.integration.crashing_consumer JOURNAL [--crash]`: each
message received is appended to JOURNAL as `received <body>`; without --crash
the handler finishes and appends `handled <body>`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from faststream import FastStream
from faststream.kafka.annotations import KafkaMessage

from herald.shared.runtime.kafka import group_id, make_broker
from herald.shared.runtime.settings import Settings


def _note(journal: Path, line: str) -> None:
    with journal.open("a") as out:
        out.write(line + "\n")


def main() -> None:
    journal = Path(sys.argv[1])
    crash = "--crash" in sys.argv
    settings = Settings()
    broker = make_broker(settings, "crashy")

    @broker.subscriber(
        f"{settings.kafka.topic_prefix}.crashy",
        group_id=group_id(settings, "crashy"),
        auto_offset_reset="earliest",
    )
    async def handle(message: KafkaMessage) -> None:
        body = message.body.decode()
        _note(journal, f"received {body}")
        if crash:
            os._exit(17)  # dies mid-handler: nothing may have been committed
        _note(journal, f"handled {body}")

    asyncio.run(FastStream(broker).run())


if __name__ == "__main__":
    main()
