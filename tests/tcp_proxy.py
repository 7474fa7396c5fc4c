"""A TCP proxy a test starts and stops, to take a server away from a service and give it back.

The shared Kafka and MongoDB are never stopped (other tests use them): a service
is pointed at the proxy instead. Stopped, nothing listens on its port and every
connection through it is cut, as when the server itself goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from tests.smtp_server import free_port


class TcpProxy:
    """Forwards `127.0.0.1:port` to `host:target_port` while started."""

    def __init__(self, host: str, target_port: int) -> None:
        self.port = free_port()
        self._target = (host, target_port)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for connection in list(self._connections):
            connection.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
            try:
                await asyncio.gather(_pump(reader, upstream_writer), _pump(upstream_reader, writer))
            finally:
                upstream_writer.close()
        except OSError:
            pass  # the server itself refused: the client sees its connection closed
        finally:
            writer.close()
            self._connections.discard(task)


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copies until either side closes; the other direction then ends with it."""
    with contextlib.suppress(ConnectionError):
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    sink.close()
