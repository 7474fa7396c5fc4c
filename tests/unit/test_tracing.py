"""Tracing (issue 17): off by default; on, a run's trace context travels in Kafka headers,
its spans carry the run's ids, and log lines written inside a span carry its ids.

On a tracer provider of the test's own (an in-memory exporter), never the process's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from herald.services.scheduler.firing import due_messages, run_details
from herald.shared.contract.identity import ScheduleRef, fired_run_id
from herald.shared.contract.messages import CommandAccepted, Envelope
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.contract.topics import Topics
from herald.shared.runtime import tracing
from herald.shared.runtime.kafka import make_broker
from herald.shared.runtime.logs import JsonFormatter
from herald.shared.runtime.settings import Settings

SPEC = ScheduleSpec.model_validate(
    {
        "name": "Brief",
        "report": {"id": "campaign_summary"},
        "frequency": "daily",
        "time_of_day": "08:00",
        "timezone": "UTC",
        "recipients": ["a@example.com"],
    }
)
DUE = datetime(2026, 11, 27, 8, tzinfo=UTC)
BASE = [("content-type", b"application/json")]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, for this test, on a provider of its own."""
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(tracing.RunAttributes())
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracing.use(provider)
    try:
        yield exported
    finally:
        tracing.use(None)
        provider.shutdown()


def _fired(schedule_id: str) -> list[Envelope]:
    run = run_details(fired_run_id(ScheduleRef("acme", schedule_id), DUE), SPEC, "UTC", DUE)
    return list(due_messages("acme", schedule_id, run))


def _named(exported: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exported.get_finished_spans() if s.name == name]


def test_tracing_is_off_unless_an_exporter_is_named() -> None:
    assert not tracing.wanted({})
    assert not tracing.wanted({"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"})
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "otlp"})
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "false"})


def test_off_by_default_nothing_is_set_up() -> None:
    assert not tracing.configure("probe", environ={})
    assert not tracing.enabled()
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    broker = make_broker(Settings(), "probe")
    assert not any(isinstance(m, KafkaTelemetryMiddleware) for m in broker.middlewares)
    # Off, a message's headers are left alone and no span is made.
    with tracing.consuming(
        "t", [("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")], {}
    ):
        assert not trace.get_current_span().get_span_context().is_valid
    with tracing.span("herald.render") as span:
        assert not span.is_recording()


def test_an_exporter_herald_cannot_use_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="over HTTP only"):
        tracing._exporter("otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    with pytest.raises(ValueError, match="otlp, console and none"):
        tracing._exporter("zipkin", {})


def test_a_json_log_line_written_inside_a_span_carries_its_trace_and_span_ids() -> None:
    formatter = JsonFormatter("renderer")
    logger = logging.getLogger("herald.tests")

    def line() -> dict[str, str]:
        record = logger.makeRecord("herald.tests", logging.INFO, __file__, 1, "hi", (), None)
        return dict(json.loads(formatter.format(record)))

    assert "trace_id" not in line()
    with TracerProvider().get_tracer("t").start_as_current_span("work") as span:
        inside = line()
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert "trace_id" not in line()


def _traceparent(headers: list[tuple[str, bytes]]) -> tuple[str, str]:
    _version, trace_id, span_id, _flags = dict(headers)["traceparent"].decode().split("-")
    return trace_id, span_id


def test_each_run_of_a_herd_has_a_trace_of_its_own_its_messages_carry(
    spans: InMemorySpanExporter,
) -> None:
    messages = [m for n in range(130) for m in _fired(f"s{n}")]  # ReportDue, due status
    headers = tracing.run_headers(messages, BASE)
    assert all(h[: len(BASE)] == BASE for h in headers)
    runs = [_traceparent(h) for h in headers]
    assert runs[0::2] == runs[1::2]  # a run's ReportDue and its status: one context
    assert len({trace_id for trace_id, _ in runs}) == 130  # a trace per run

    # One span per batch of runs (not per run: the herd stays cheap), linked to each run.
    batches = _named(spans, tracing.FIRE_BATCH)
    assert [b.attributes["herald.runs"] for b in batches if b.attributes] == [128, 2]
    assert all(b.parent is None and b.kind is SpanKind.PRODUCER for b in batches)
    linked = [
        (format(link.context.trace_id, "032x"), format(link.context.span_id, "016x"))
        for b in batches
        for link in b.links
    ]
    assert linked == runs[0::2]
    assert _named(spans, tracing.FIRE) == []

    # Consumed: handled in the run's trace, under its firing; spans inside carry its ids.
    ids = {"tenant_id": "acme", "run_id": fired_run_id(ScheduleRef("acme", "s1"), DUE)}
    with tracing.consuming("report.due", headers[2], ids), tracing.span("herald.render"):
        pass
    [consumed] = _named(spans, "report.due process")
    [rendered] = _named(spans, "herald.render")
    assert consumed.parent is not None
    assert (
        format(consumed.context.trace_id, "032x"),
        format(consumed.parent.span_id, "016x"),
    ) == runs[2]
    assert rendered.parent is not None
    assert rendered.parent.span_id == consumed.context.span_id
    for span in (consumed, rendered):
        assert span.attributes is not None
        assert span.attributes[tracing.RUN_ID] == ids["run_id"]
        assert span.attributes[tracing.TENANT_ID] == "acme"


def test_a_run_now_starts_its_runs_trace_and_its_reply_goes_out_in_it(
    spans: InMemorySpanExporter,
) -> None:
    topics = Topics("herald")
    command_id = uuid4()
    run_id = fired_run_id(ScheduleRef("acme", "s1"), DUE)
    fired = due_messages("acme", "s1", run_details(run_id, SPEC, "UTC", DUE), command_id)
    reply = CommandAccepted(
        tenant_id="acme", schedule_id="s1", command_id=command_id, command_type="RunNow"
    )
    bodies = [
        (topics.for_message(m), "s1", m.model_dump_json())
        for m in [*fired, reply.model_copy(update={"run_id": run_id}), reply]
    ]
    contexts = tracing.fired_bodies(bodies, topics.report_due)
    [fire] = _named(spans, tracing.FIRE)
    assert fire.attributes is not None
    assert fire.attributes["herald.trigger"] == "command"
    in_run = [trace.get_current_span(c).get_span_context() if c else None for c in contexts]
    assert [c.span_id if c else None for c in in_run] == [fire.context.span_id] * 3 + [None]


def test_a_command_outside_any_span_is_not_sampled() -> None:
    sampler = tracing._NoLoneCommands(TracerProvider().sampler)
    lone = sampler.should_sample(None, 1, "herald.find", SpanKind.CLIENT)
    assert not lone.decision.is_sampled()
    assert sampler.should_sample(None, 1, tracing.FIRE, SpanKind.PRODUCER).decision.is_sampled()
