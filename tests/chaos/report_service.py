"""A platform report endpoint (Herald's HTTP report source) that is too slow for some reports.

Each schedule of the herd filters on a campaign of its own, so the server
tells the reports apart by `campaign_id`. A report listed in `slow_first`
answers its first N requests only after `delay_s` (past the renderer's
timeout), then at once; a report in `always_slow` never answers in time.
Every other report answers at once with a small table.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

REPORT = {
    "title": "Chaos Summary",
    "columns": [
        {"key": "campaign", "label": "Campaign", "kind": "text"},
        {"key": "calls", "label": "Calls", "kind": "integer"},
    ],
    "rows": [["Spring promo", 1200], ["Renewals", 310]],
    "totals": ["Total", 1510],
}


@dataclass
class SlowReports:
    #: campaign id -> how many requests are answered too late before one is answered in time.
    slow_first: dict[str, int] = field(default_factory=dict)
    always_slow: set[str] = field(default_factory=set)
    delay_s: float = 3.0
    requests: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Set at the end, so a delayed answer does not hold the server's shutdown.
    closing: threading.Event = field(default_factory=threading.Event)

    def delay_for(self, campaign: str) -> float:
        with self.lock:
            self.requests[campaign] += 1
            seen = self.requests[campaign]
        slow = campaign in self.always_slow or seen <= self.slow_first.get(campaign, 0)
        return self.delay_s if slow else 0.0


def _handler(reports: SlowReports) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            campaign = (query.get("campaign_id") or ["(none)"])[0]
            delay = reports.delay_for(campaign)
            if delay and reports.closing.wait(delay):
                return
            body = json.dumps(REPORT).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the renderer gave up waiting and closed the connection

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serving(reports: SlowReports) -> Iterator[str]:
    """The endpoint's URL while the server runs in a thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(reports))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="report-service", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/reports/data"
    finally:
        reports.closing.set()
        server.shutdown()
        server.server_close()
