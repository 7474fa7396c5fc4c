"""One trace per run, across the three services as processes (issue 17).

Tracing on through the standard `OTEL_*` variables, exporting OTLP over HTTP
to a receiver in this test that decodes the `ExportTraceServiceRequest`
protobufs: a RunNow of a schedule with two recipients, delivered to an SMTP
server of the test's own, is one connected trace from the scheduler's firing
through the renderer to each recipient's SMTP transaction; every span carries
the run and tenant ids, none the addresses; the services' JSON log lines
written for the run carry its trace id.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from pymongo.asynchronous.database import AsyncDatabase

from herald.cli import demo
from herald.shared.contract.messages import RunStatus
from herald.shared.history import store as history_store
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import Settings
from tests.e2e.test_mail_delivery import _schedule, _with_smtp
from tests.helpers import three_services, wait_until
from tests.smtp_server import SmtpServer, free_port

pytestmark = pytest.mark.e2e


@dataclass(frozen=True, slots=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@dataclass
class OtlpReceiver:
    """An OTLP/HTTP endpoint on a free port: keeps every span the services export."""

    port: int = field(default_factory=free_port)
    spans: list[Span] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def received(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        found = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append(
                        Span(
                            service=str(resource.get("service.name")),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                        )
                    )
        with self.lock:
            self.spans += found

    def of_trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def named(self, name: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.name == name]

    @contextmanager
    def running(self) -> Iterator[OtlpReceiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.received(body)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


def _log_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict):
            lines.append(document)
    return lines


async def test_a_run_is_one_trace_from_its_firing_to_each_smtp_reply(
    topics_ready: Settings, db: AsyncDatabase[Document], recipient: str, log_dir: Path
) -> None:
    await demo.seed(db, tenant_id="acme", calls=200, days=3, anchor=date.today())
    port = free_port()
    settings = _with_smtp(topics_ready, port)
    second = recipient.replace("@", ".two@")
    server = SmtpServer(port=port).start()
    receiver = OtlpReceiver()
    tracing_on = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }

    async def delivered() -> bool:
        record = await history_store.get_run(db[history_store.RUNS], "acme", run_id)
        return record is not None and record.status is RunStatus.DELIVERED

    async def both_replies() -> list[Span] | None:
        sends = [
            s
            for s in receiver.named("herald.smtp.send")
            if s.attributes.get("herald.run_id") == run_id
        ]
        return sends if len(sends) == 2 else None

    try:
        with receiver.running():
            async with three_services(settings, log_dir, tracing_on) as services:
                run_id = await _schedule(settings, "acme-traced", [recipient, second])
                await wait_until(delivered, 60, f"run {run_id} to be delivered")
                sends = await wait_until(both_replies, 20, "both SMTP spans to be exported")
            # Stopped: each process exported what it still held.
            logs = {service.name: _log_lines(service.log()) for service in services}
            trace_id = sends[0].trace_id
            spans = receiver.of_trace(trace_id)
    finally:
        server.stop()

    # One trace: both recipients' SMTP transactions in it, its spans one tree.
    assert {s.trace_id for s in sends} == {trace_id}
    by_id = {s.span_id: s for s in spans}
    roots = [s for s in spans if not s.parent_id]
    assert [(r.service, r.name) for r in roots] == [("herald-scheduler", "herald.fire")]
    assert roots[0].attributes["herald.trigger"] == "command"
    orphans = [s for s in spans if s.parent_id and s.parent_id not in by_id]
    assert orphans == []
    # Each SMTP span descends from the firing, through the renderer and the mailer.
    for send in sends:
        chain, at = [], send
        while at.parent_id:
            at = by_id[at.parent_id]
            chain.append((at.service, at.name))
        assert chain[-1] == ("herald-scheduler", "herald.fire")
        services_passed = [service for service, _ in chain]
        assert "herald-renderer" in services_passed
        assert services_passed[0] == "herald-mailer"
    assert {s.service for s in spans} == {"herald-scheduler", "herald-renderer", "herald-mailer"}

    # The spans the issue names, each with the run's ids.
    names = {s.name for s in spans}
    assert {"herald.fire", "herald.render", "herald.report.query", "herald.artifact.write"} <= names
    assert any(s.attributes.get("db.system") == "mongodb" for s in spans)
    for span in spans:
        assert span.attributes.get("herald.run_id") == run_id, span
        assert span.attributes.get("herald.tenant_id") == "acme", span
    # The SMTP replies: code and stage, the recipient by its place, never its address.
    assert sorted(s.attributes["herald.recipient_index"] for s in sends) == [0, 1]
    for send in sends:
        assert send.attributes["herald.smtp.reply_code"] == 250
        assert send.attributes["herald.smtp.stage"] == "data"
    everything = json.dumps([s.attributes for s in spans], default=str)
    assert recipient not in everything
    assert second not in everything

    # The services' JSON log lines about the run carry its trace id.
    for name in ("renderer", "mailer"):
        traced = [line for line in logs[name] if line.get("trace_id") == trace_id]
        assert traced, f"no {name} log line with trace_id {trace_id}"
        assert all(line.get("run_id") == run_id for line in traced)
        assert all(len(line["span_id"]) == 16 for line in traced)
