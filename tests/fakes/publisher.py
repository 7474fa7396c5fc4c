"""The `Publisher` port as a list: what a use case published, in order."""

from __future__ import annotations

from typing import TypeVar

from herald.shared.contract.messages import Envelope

M = TypeVar("M", bound=Envelope)


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[Envelope] = []
        #: Raised by the next publish, once (a broker that refuses).
        self.fail_next: Exception | None = None

    async def publish(self, *messages: Envelope) -> None:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        self.published.extend(messages)

    def of(self, kind: type[M]) -> list[M]:
        return [m for m in self.published if isinstance(m, kind)]
