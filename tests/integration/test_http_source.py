"""The HTTP report source against a real HTTP server that each test scripts."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from herald.services.renderer.reports.http_source import HttpSource, ServerAskedToWait
from herald.services.renderer.reports.model import (
    ColumnKind,
    ReportRequest,
    ReportUnavailable,
    SourceUnavailable,
)
from herald.shared.contract.messages import DataWindow
from herald.shared.contract.schedule_spec import Filters, ReportRef
from herald.shared.runtime.settings import HttpSourceSettings

pytestmark = pytest.mark.integration

BERLIN = ZoneInfo("Europe/Berlin")
TOKEN = "s3cret-token-value"
REQUEST = ReportRequest(
    tenant_id="acme",
    report=ReportRef(kind="standard", id="cdr"),
    window=DataWindow(
        start=datetime(2024, 5, 1, tzinfo=BERLIN),
        end=datetime(2024, 5, 2, tzinfo=BERLIN),
        timezone="Europe/Berlin",
    ),
    filters=Filters(campaign_ids=["c1", "c2"], agent_ids=["a7"]),
)

MULTI_TABLE: dict[str, Any] = {
    "title": "Calls",
    "notes": ["Times are local to Europe/Berlin."],
    "generated_by": "an unknown field, ignored",
    "tables": [
        {
            "title": "By call",
            "columns": [
                {"key": "agent", "label": "Agent", "kind": "text"},
                {"key": "calls", "label": "Calls", "kind": "integer"},
                {"key": "rate", "label": "Rate %", "kind": "percent", "decimals": 2},
                {"key": "talk", "label": "Talk", "kind": "duration"},
                {"key": "cost", "label": "Cost", "kind": "money"},
                {"key": "day", "label": "Day", "kind": "date"},
                {"key": "at", "label": "Started", "kind": "datetime"},
                {"key": "sale", "label": "Sale", "kind": "flag"},
            ],
            "rows": [
                ["Ann", 3, 12.25, 95, "1.10", "2024-05-01", "2024-05-01T08:30:00Z", True],
                [None, None, None, 7.5, 2, None, "2024-05-01T12:00:00", False],
            ],
            "totals": ["Total", 3, 12.25, 102.5, "3.10", None, None, None],
        },
        {
            "title": None,
            "columns": [{"key": "n", "label": "N", "kind": "decimal", "decimals": 0}],
            "rows": [],
            "totals": None,
        },
    ],
}


@dataclass(frozen=True)
class Reply:
    status: int = 200
    #: Sent as JSON unless already bytes.
    body: Any = b""
    delay_s: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    #: Sends `Retry-After` as the HTTP date this many seconds after the reply goes out.
    retry_after_date_s: float | None = None
    #: Without it the body ends when the connection closes (the server speaks HTTP/1.0).
    content_length: bool = True
    #: The body is streamed this many times over.
    repeat: int = 1


@dataclass(frozen=True)
class Seen:
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


@dataclass
class ReportServer:
    """Answers GETs with its scripted replies in turn, repeating the last one."""

    url: str = ""
    replies: list[Reply] = field(default_factory=lambda: [Reply()])
    seen: list[Seen] = field(default_factory=list)
    #: Body bytes written per reply, counted as the client takes them.
    written: list[int] = field(default_factory=list)
    #: Set at teardown, so a delayed reply does not outlive its test.
    stop: threading.Event = field(default_factory=threading.Event)

    def script(self, *replies: Reply) -> None:
        self.replies = list(replies)

    def next_reply(self, seen: Seen) -> Reply:
        self.seen.append(seen)
        return self.replies[min(len(self.seen), len(self.replies)) - 1]


def _handler(server: ReportServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            reply = server.next_reply(
                Seen(
                    path=parts.path,
                    query=parse_qsl(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                )
            )
            if reply.delay_s:
                server.stop.wait(reply.delay_s)
            body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            server.written.append(0)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                if reply.content_length:
                    self.send_header("Content-Length", str(len(body) * reply.repeat))
                for name, value in reply.headers:
                    self.send_header(name, value)
                if reply.retry_after_date_s is not None:
                    when = time.time() + reply.retry_after_date_s
                    self.send_header("Retry-After", formatdate(when, usegmt=True))
                self.end_headers()
                for _ in range(reply.repeat):
                    self.wfile.write(body)
                    server.written[-1] += len(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as the timeout and size tests intend

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read what the server saw from `ReportServer.seen`."""

    return Handler


@pytest.fixture
def report_server() -> Iterator[ReportServer]:
    server = ReportServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}/reports/data"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.stop.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _settings(url: str, **overrides: Any) -> HttpSourceSettings:
    values: dict[str, Any] = {
        "url": url,
        "token": SecretStr(TOKEN),
        "timeout_s": 2.0,
        "retries": 2,
        "retry_base_s": 0.01,
    }
    return HttpSourceSettings(**(values | overrides))


@pytest.fixture
async def source(report_server: ReportServer) -> AsyncIterator[HttpSource]:
    http = HttpSource(_settings(report_server.url))
    yield http
    await http.close()


async def test_a_multi_table_report_arrives_typed_and_the_request_carries_everything(
    report_server: ReportServer, source: HttpSource
) -> None:
    report_server.script(Reply(body=MULTI_TABLE))

    report = await source.fetch(REQUEST)

    (seen,) = report_server.seen
    assert seen.path == "/reports/data"
    assert sorted(seen.query) == sorted(
        [
            ("tenant_id", "acme"),
            ("report_kind", "standard"),
            ("report_id", "cdr"),
            ("start", "2024-04-30T22:00:00Z"),
            ("end", "2024-05-01T22:00:00Z"),
            ("timezone", "Europe/Berlin"),
            ("campaign_id", "c1"),
            ("campaign_id", "c2"),
            ("agent_id", "a7"),
        ]
    )
    assert seen.headers["accept"] == "application/json"
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["x-herald-tenant"] == "acme"

    assert report.title == "Calls"
    assert report.notes == ("Times are local to Europe/Berlin.",)
    first, second = report.tables
    assert first.title == "By call"
    assert [(c.key, c.label, c.kind, c.decimals) for c in first.columns] == [
        ("agent", "Agent", ColumnKind.TEXT, 1),
        ("calls", "Calls", ColumnKind.INTEGER, 1),
        ("rate", "Rate %", ColumnKind.PERCENT, 2),
        ("talk", "Talk", ColumnKind.DURATION, 1),
        ("cost", "Cost", ColumnKind.MONEY, 1),
        ("day", "Day", ColumnKind.DATE, 1),
        ("at", "Started", ColumnKind.DATETIME, 1),
        ("sale", "Sale", ColumnKind.FLAG, 1),
    ]
    assert first.rows == (
        (
            "Ann",
            3,
            Decimal("12.25"),
            95,
            Decimal("1.10"),
            date(2024, 5, 1),
            datetime(2024, 5, 1, 10, 30),  # 08:30 UTC, local to the window's zone
            True,
        ),
        (None, None, None, Decimal("7.5"), Decimal(2), None, datetime(2024, 5, 1, 12), False),
    )
    row_types = [type(cell) for cell in first.rows[0]]
    assert row_types == [str, int, Decimal, int, Decimal, date, datetime, bool]
    assert first.totals == (
        "Total",
        3,
        Decimal("12.25"),
        Decimal("102.5"),
        Decimal("3.10"),
        None,
        None,
        None,
    )
    assert second.title is None
    assert [c.decimals for c in second.columns] == [0]
    assert second.rows == ()
    assert second.totals is None


async def test_the_single_table_shorthand_and_no_token_means_no_authorization(
    report_server: ReportServer,
) -> None:
    report_server.script(
        Reply(
            body={
                "title": "Dispositions",
                "columns": [
                    {"key": "d", "label": "Disposition", "kind": "text"},
                    {"key": "n", "label": "Calls", "kind": "integer"},
                ],
                "rows": [["Sale", 4], ["No answer", 9]],
                "totals": ["Total", 13],
            }
        )
    )
    source = HttpSource(_settings(report_server.url, token=None))
    try:
        report = await source.fetch(REQUEST)
    finally:
        await source.close()

    assert report.title == "Dispositions"
    assert report.notes == ()
    (table,) = report.tables
    assert table.title is None
    assert [c.key for c in table.columns] == ["d", "n"]
    assert table.rows == (("Sale", 4), ("No answer", 9))
    assert table.totals == ("Total", 13)
    assert "authorization" not in report_server.seen[0].headers


async def test_a_404_is_permanent_at_once(report_server: ReportServer, source: HttpSource) -> None:
    report_server.script(Reply(status=404, body=b"no such report\x1b[31m\r\nfor this tenant"))

    with pytest.raises(ReportUnavailable) as raised:
        await source.fetch(REQUEST)

    assert len(report_server.seen) == 1
    message = str(raised.value)
    assert "HTTP 404" in message
    assert "no such report [31m for this tenant" in message
    assert report_server.url in message


@pytest.mark.parametrize("status", [500, 429])
async def test_a_server_error_or_rate_limit_is_retried_and_the_next_answer_used(
    report_server: ReportServer, source: HttpSource, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    report_server.script(Reply(status=status, body=b"boom"), Reply(body=MULTI_TABLE))

    with caplog.at_level(logging.DEBUG):
        report = await source.fetch(REQUEST)

    assert report.title == "Calls"
    assert len(report_server.seen) == 2
    assert f"HTTP {status}" in caplog.text
    assert TOKEN not in caplog.text


async def test_a_lasting_503_is_transient_after_every_retry_with_doubling_delays(
    report_server: ReportServer,
) -> None:
    report_server.script(Reply(status=503, body=b"maintenance"))
    source = HttpSource(_settings(report_server.url, retries=2, retry_base_s=0.1))
    try:
        with pytest.raises(SourceUnavailable) as raised:
            await source.fetch(REQUEST)
    finally:
        await source.close()

    first, second, third = report_server.seen  # 1 + 2 retries
    assert 0.1 <= second.at - first.at < 0.2
    assert third.at - second.at >= 0.2
    assert "HTTP 503" in str(raised.value)
    assert "maintenance" in str(raised.value)


async def test_an_answer_slower_than_the_timeout_is_transient(
    report_server: ReportServer,
) -> None:
    report_server.script(Reply(body=MULTI_TABLE, delay_s=2.0))
    source = HttpSource(_settings(report_server.url, timeout_s=0.3, retries=1))
    try:
        with pytest.raises(SourceUnavailable, match=r"within 0\.3 s"):
            await source.fetch(REQUEST)
    finally:
        await source.close()

    assert len(report_server.seen) == 2


async def test_a_server_that_is_not_there_is_transient() -> None:
    source = HttpSource(_settings("http://127.0.0.1:9/reports", retries=1))
    try:
        with pytest.raises(SourceUnavailable, match="ConnectError"):
            await source.fetch(REQUEST)
    finally:
        await source.close()


@pytest.mark.parametrize(
    ("body", "place"),
    [
        pytest.param(b"<html>Bad gateway</html>", "body: not JSON", id="not-json"),
        pytest.param(
            {"tables": MULTI_TABLE["tables"]}, "title: Field required", id="missing-title"
        ),
        pytest.param(
            {**MULTI_TABLE, "tables": [{**MULTI_TABLE["tables"][0], "rows": [["Ann", 3]]}]},
            "tables.0.rows.0: expected 8 cells, got 2",
            id="short-row",
        ),
        pytest.param(
            {
                "title": "Days",
                "columns": [{"key": "day", "label": "Day", "kind": "date"}],
                "rows": [["2024-05-01"], ["31/05/2024"]],
            },
            "rows.1.0 (column 'day', date): expected an ISO 8601 date",
            id="bad-date",
        ),
    ],
)
async def test_a_malformed_body_is_permanent_and_says_where(
    report_server: ReportServer, source: HttpSource, body: Any, place: str
) -> None:
    report_server.script(Reply(body=body))

    with pytest.raises(ReportUnavailable) as raised:
        await source.fetch(REQUEST)

    assert str(raised.value).startswith(
        f"report service at {report_server.url} returned a malformed body: {place}"
    )
    assert len(report_server.seen) == 1


def _waits(server: ReportServer) -> list[float]:
    return [b.at - a.at for a, b in zip(server.seen, server.seen[1:], strict=False)]


@pytest.mark.parametrize(
    ("reply", "least", "most"),
    [
        pytest.param(
            Reply(status=503, body=b"down", headers=(("Retry-After", "1"),)), 1.0, 1.5, id="503-s"
        ),
        pytest.param(
            Reply(status=429, body=b"slow down", headers=(("Retry-After", " 2 "),)),
            2.0,
            2.5,
            id="429-s",
        ),
        # An HTTP date has whole seconds: two seconds ahead is a wait of one to two.
        pytest.param(Reply(status=503, retry_after_date_s=2.0), 0.9, 2.5, id="503-date"),
        pytest.param(Reply(status=502, retry_after_date_s=-60.0), 0.0, 0.3, id="date-passed"),
    ],
)
async def test_retry_after_is_waited_out_instead_of_the_backoff(
    report_server: ReportServer,
    caplog: pytest.LogCaptureFixture,
    reply: Reply,
    least: float,
    most: float,
) -> None:
    report_server.script(reply, Reply(body=MULTI_TABLE))
    source = HttpSource(_settings(report_server.url, retry_base_s=0.01, max_retry_after_s=2.0))
    try:
        with caplog.at_level(logging.WARNING):
            report = await source.fetch(
                replace(REQUEST, deadline=datetime.now(UTC) + timedelta(hours=1))
            )
    finally:
        await source.close()

    assert report.title == "Calls"
    (wait,) = _waits(report_server)
    assert least <= wait < most
    assert "Retry-After: " in caplog.text
    assert "as it asked" in caplog.text


async def test_retry_after_replaces_each_backoff_and_the_last_one_is_in_the_reason(
    report_server: ReportServer,
) -> None:
    report_server.script(Reply(status=503, body=b"maintenance", headers=(("Retry-After", "0"),)))
    source = HttpSource(_settings(report_server.url, retries=2, retry_base_s=1.0))
    try:
        with pytest.raises(SourceUnavailable) as raised:
            await source.fetch(REQUEST)
    finally:
        await source.close()

    assert len(report_server.seen) == 3
    assert all(wait < 0.3 for wait in _waits(report_server))  # not 1 s, then 2 s
    assert str(raised.value).endswith("HTTP 503 Service Unavailable: maintenance (Retry-After: 0)")


@pytest.mark.parametrize(
    ("reply", "deadline_s", "why"),
    [
        pytest.param(
            Reply(status=503, body=b"back later", headers=(("Retry-After", "3600"),)),
            7200.0,
            "; it asks for 3600 s, more than the 2 s the source waits in place",
            id="seconds-over-the-cap",
        ),
        pytest.param(
            Reply(status=429, body=b"quota", retry_after_date_s=600.0),
            7200.0,
            "s, more than the 2 s the source waits in place",
            id="date-over-the-cap",
        ),
        pytest.param(
            Reply(status=503, body=b"back soon", headers=(("Retry-After", "2"),)),
            1.0,
            "; a wait of 2 s would pass the run's retry deadline ",
            id="past-the-deadline",
        ),
    ],
)
async def test_a_retry_after_the_source_may_not_wait_out_is_transient_at_once_with_it(
    report_server: ReportServer, reply: Reply, deadline_s: float, why: str
) -> None:
    report_server.script(reply, Reply(body=MULTI_TABLE))
    source = HttpSource(_settings(report_server.url, retries=3, max_retry_after_s=2.0))
    started = time.monotonic()
    try:
        with pytest.raises(ServerAskedToWait) as raised:
            await source.fetch(
                replace(REQUEST, deadline=datetime.now(UTC) + timedelta(seconds=deadline_s))
            )
    finally:
        await source.close()

    assert time.monotonic() - started < 0.5  # no wait at all
    assert len(report_server.seen) == 1
    message = str(raised.value)
    assert isinstance(raised.value, SourceUnavailable)  # so the run goes to pending_retry
    assert message.startswith(
        f"report service at {report_server.url} failed 1 time(s) for report standard/cdr "
        f"of tenant acme; last: HTTP {reply.status} "
    )
    assert "(Retry-After: " in message
    assert why in message
    if reply.retry_after_date_s is None:
        header = dict(reply.headers)["Retry-After"]
        assert f"(Retry-After: {header})" in message
        asked = float(header)
    else:
        asked = reply.retry_after_date_s
    expected = datetime.now(UTC) + timedelta(seconds=asked)
    assert abs((raised.value.retry_at - expected).total_seconds()) < 2


async def test_the_own_backoff_does_not_wait_past_the_deadline_either(
    report_server: ReportServer,
) -> None:
    report_server.script(Reply(status=500, body=b"boom"), Reply(body=MULTI_TABLE))
    source = HttpSource(_settings(report_server.url, retry_base_s=1.0))
    try:
        with pytest.raises(
            SourceUnavailable, match="would pass the run's retry deadline"
        ) as raised:
            await source.fetch(
                replace(REQUEST, deadline=datetime.now(UTC) + timedelta(seconds=0.5))
            )
    finally:
        await source.close()

    assert not isinstance(raised.value, ServerAskedToWait)
    assert len(report_server.seen) == 1


LIMIT = 1000


def _padded(size: int) -> bytes:
    """A valid report body of exactly `size` bytes."""
    body = json.dumps({**MULTI_TABLE, "padding": ""}).encode()
    assert len(body) <= size
    return body.replace(b'"padding": ""', b'"padding": "' + b"x" * (size - len(body)) + b'"')


@pytest.mark.parametrize("content_length", [True, False], ids=["content-length", "streamed"])
async def test_a_body_up_to_the_limit_is_read(
    report_server: ReportServer, content_length: bool
) -> None:
    report_server.script(Reply(body=_padded(LIMIT), content_length=content_length))
    source = HttpSource(_settings(report_server.url, max_response_bytes=LIMIT))
    try:
        report = await source.fetch(REQUEST)
    finally:
        await source.close()

    assert report.title == "Calls"


@pytest.mark.parametrize(
    ("content_length", "size"),
    [(True, "1001 bytes"), (False, "at least 1001 bytes")],
    ids=["content-length", "streamed"],
)
async def test_a_body_over_the_limit_is_permanent_and_says_both_sizes(
    report_server: ReportServer, content_length: bool, size: str
) -> None:
    report_server.script(Reply(body=_padded(LIMIT + 1), content_length=content_length))
    source = HttpSource(_settings(report_server.url, max_response_bytes=LIMIT))
    try:
        with pytest.raises(ReportUnavailable) as raised:
            await source.fetch(REQUEST)
    finally:
        await source.close()

    assert str(raised.value) == (
        f"report service at {report_server.url} answered report standard/cdr of tenant acme "
        f"with {size}, more than the allowed 1000 (HERALD_REPORTS__HTTP__MAX_RESPONSE_BYTES)"
    )
    assert len(report_server.seen) == 1


MIB = 1024 * 1024
LIMIT_HUGE = 4 * MIB


@pytest.mark.parametrize(
    ("status", "content_length", "failure"),
    [
        (200, False, ReportUnavailable),
        (200, True, ReportUnavailable),
        (503, False, SourceUnavailable),  # only the start of an error's body is read
    ],
    ids=["streamed", "content-length", "error-body"],
)
async def test_a_huge_body_is_not_read_past_the_limit(
    report_server: ReportServer, status: int, content_length: bool, failure: type[Exception]
) -> None:
    """The server offers 256 MiB; the source holds at most the 4 MiB limit, and stops reading."""
    chunk = b"[" * (64 * 1024)
    report_server.script(
        Reply(status=status, body=chunk, content_length=content_length, repeat=4096)
    )
    source = HttpSource(_settings(report_server.url, retries=0, max_response_bytes=LIMIT_HUGE))
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        started = time.monotonic()
        with pytest.raises(failure) as raised:
            await source.fetch(REQUEST)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await source.close()

    # The body so far, and the chunks httpx and the event loop hold meanwhile (1 to 1.2 MiB
    # measured); reading on would hold the 256 MiB.
    assert peak - base < 2 * LIMIT_HUGE
    assert elapsed < 1.5
    if status == 200:
        assert f"more than the allowed {LIMIT_HUGE}" in str(raised.value)
    await asyncio.sleep(0.5)  # had the source gone on reading, 256 MiB would be gone by now
    assert report_server.written[0] < 64 * MIB
