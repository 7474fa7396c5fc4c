"""Group commit: writes asked for by concurrent tasks go to the database together.

A service handles many records at once (`batches.py`), each asking for its own
small write; sent one by one, each pays a round trip and a command's fixed
cost on the server (FerretDB's is high). `GroupCommit` hands each caller its
own result or error while the writes go out in as few commands as `limit`
allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """Items submitted while a write is in flight go out together in the next write.

    No timer: an item submitted to an idle writer goes out once the tasks
    already ready have run (one turn of the loop), and under load the batch
    grows with the write's own latency. The writes run in a
    task of their own, so an item whose submitter is cancelled is written all
    the same (a reply read from the server is recorded even then).
    """

    def __init__(
        self, write: Callable[[list[Item]], Awaitable[Sequence[Result]]], limit: int
    ) -> None:
        self._write = write
        self._limit = limit
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._pending.append((item, future))
        writer = self._writer
        if writer is None or writer.done() or writer.get_loop() is not loop:
            self._writer = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        batch: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while self._pending:
                # The tasks the loop has ready may submit too: with a fast database a
                # mailer's claims and replies went out about three to a write without it.
                await asyncio.sleep(0)
                batch, self._pending = self._pending[: self._limit], self._pending[self._limit :]
                try:
                    results = await self._write([item for item, _ in batch])
                except Exception as exc:  # every submitter of the batch sees it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        except asyncio.CancelledError:  # shutting down: nothing more is written
            stranded, self._pending = batch + self._pending, []
            for _, future in stranded:
                future.cancel()
            raise
