"""The HTTP report source against a real HTTP server that each test scripts."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from herald.services.renderer.reports.http_source import HttpSource
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
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting, as the timeout tests intend

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
