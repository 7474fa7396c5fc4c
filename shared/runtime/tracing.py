"""Tracing: one OpenTelemetry trace per run, across the three services.

Off unless `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, exported over
HTTP, or `console`) and `OTEL_SDK_DISABLED` is not `true`; the rest is the SDK's
own `OTEL_*` variables (endpoint, headers, sampler, batch sizes, service
name). Off, nothing is set up: no span is made, no header written or read.

On, a run's trace starts where the scheduler fires it (`herald.fire` for a
command's run; a herd's runs, each in a trace of its own, are fired by one
`herald.fire.batch` span per `LINKS_PER_FIRE` runs, linked to each: see
`run_headers`), travels in the W3C `traceparent` Kafka header of its
`ReportDue` and of every later message of the run, and each consumed
record is handled in a span whose parent is the one in its headers (the
services' batch subscribers are beyond the reach of FastStream's telemetry
middleware, which on a batch starts a trace of its own). Every span made
inside a run's span carries its `herald.run_id` and `herald.tenant_id`
(`RunAttributes`), MongoDB commands (`PymongoInstrumentor`) and FastStream's
publish spans included. Call `configure` before any MongoDB client or broker
is made: both take tracing into account when they are built.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import INVALID_SPAN, Link, SpanKind
from opentelemetry.trace import Span as Span  # re-exported: the services' spans
from opentelemetry.trace import StatusCode as StatusCode
from opentelemetry.util.types import Attributes, AttributeValue

from herald.shared.contract.messages import DeliveryStatus, Envelope, ReportDue

log = logging.getLogger("herald.tracing")

RUN_ID = "herald.run_id"
TENANT_ID = "herald.tenant_id"
SCHEDULE_ID = "herald.schedule_id"
#: Copied from a span to the spans made inside it.
INHERITED = (RUN_ID, TENANT_ID, SCHEDULE_ID)
#: The span that starts a run's trace (scheduler: a RunNow, a command's run) ...
FIRE = "herald.fire"
#: ... and the one that fires up to `LINKS_PER_FIRE` runs of a herd, each in a trace of its own.
FIRE_BATCH = "herald.fire.batch"
#: The SDK keeps 128 links per span by default (`OTEL_SPAN_LINK_COUNT_LIMIT`).
LINKS_PER_FIRE = 128

_OTLP = ("otlp", "otlp_proto_http")


@dataclass(slots=True)
class _State:
    enabled: bool = False
    configured: bool = False
    provider: TracerProvider | None = None


_state = _State()
_ids = RandomIdGenerator()
#: Herald's own spans; a no-op tracer while tracing is off.
_tracer: trace.Tracer = trace.NoOpTracer()


def _exporters(environ: Mapping[str, str]) -> list[str]:
    """The exporters asked for; none when tracing is off (the default)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = environ.get("OTEL_TRACES_EXPORTER", "none").split(",")
    return [name.strip().lower() for name in names if name.strip().lower() not in ("", "none")]


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the `OTEL_*` variables turn tracing on."""
    return bool(_exporters(os.environ if environ is None else environ))


def enabled() -> bool:
    """Tracing was set up in this process (`configure`)."""
    return _state.enabled


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter:
    if name in _OTLP:
        protocol = environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
        ).strip()
        if protocol not in ("", "http/protobuf"):
            raise ValueError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: Herald exports OTLP over HTTP only "
                "(http/protobuf)"
            )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "console":
        return ConsoleSpanExporter()
    raise ValueError(f"OTEL_TRACES_EXPORTER={name}: Herald knows otlp, console and none")


class RunAttributes(SpanProcessor):
    """Gives a span its parent's run ids: every span of a run says which run and tenant."""

    def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
        parent = trace.get_current_span(parent_context)
        # A local parent only (a remote one has no attributes): a run's root sets its own.
        inherited = getattr(parent, "attributes", None)
        if not inherited:
            return
        attributes = span.attributes or {}
        for key in INHERITED:
            if key not in attributes and key in inherited:
                span.set_attribute(key, inherited[key])

    def on_end(self, span: ReadableSpan) -> None:
        pass


class _NoLoneCommands(Sampler):
    """Drops a MongoDB command made outside any span (a ticker's poll, a lease renewed).

    Background round trips every second would otherwise each be a trace of their own.
    """

    def __init__(self, delegate: Sampler) -> None:
        self._delegate = delegate

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        lone = not trace.get_current_span(parent_context).get_span_context().is_valid
        if lone and kind is SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"NoLoneCommands{{{self._delegate.get_description()}}}"


def configure(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Set up tracing for this process as the `OTEL_*` variables say; once. Whether it is on."""
    if _state.configured:
        return _state.enabled
    env = os.environ if environ is None else environ
    names = _exporters(env)
    _state.configured = True
    if not names:
        return False
    exporters = [_exporter(name, env) for name in names]
    own = {} if env.get("OTEL_SERVICE_NAME") else {"service.name": f"herald-{service}"}
    provider = TracerProvider(resource=Resource.create(own))
    # The sampler the variables chose (`OTEL_TRACES_SAMPLER`), lone commands left out.
    provider.sampler = _NoLoneCommands(provider.sampler)
    provider.add_span_processor(RunAttributes())
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    PymongoInstrumentor().instrument(tracer_provider=provider)
    use(provider)
    log.info("tracing on: exporting spans to %s", ", ".join(names))
    return True


def use(provider: TracerProvider | None) -> None:
    """Herald's spans from `provider` from now on; None: tracing off (a test's own provider).

    `configure` calls it; it neither installs the provider globally nor instruments PyMongo.
    """
    global _tracer
    _tracer = provider.get_tracer("herald") if provider else trace.NoOpTracer()
    _state.provider, _state.enabled = provider, provider is not None


def shutdown() -> None:
    """Export what is left; at the process's end."""
    if _state.provider is not None:
        _state.provider.shutdown()


def run_attributes(
    tenant_id: object, run_id: object, schedule_id: object = None
) -> dict[str, AttributeValue]:
    found = {TENANT_ID: tenant_id, RUN_ID: run_id, SCHEDULE_ID: schedule_id}
    return {key: value for key, value in found.items() if isinstance(value, str)}


@contextmanager
def span(name: str, attributes: Mapping[str, AttributeValue] | None = None) -> Iterator[Span]:
    """A span inside the current one (a no-op span when tracing is off)."""
    if not _state.enabled:
        yield INVALID_SPAN
        return
    with _tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current


def _carrier(headers: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    return {key: (value or b"").decode("utf-8", "replace") for key, value in headers}


@contextmanager
def consuming(
    topic: str, headers: Iterable[tuple[str, bytes | None]], ids: Mapping[str, str]
) -> Iterator[Span]:
    """Handling one consumed record, in the trace its headers carry (a new one without)."""
    if not _state.enabled:
        yield INVALID_SPAN
        return
    parent = propagate.extract(_carrier(headers), context=Context())
    attributes: dict[str, AttributeValue] = {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.operation": "process",
    }
    attributes |= run_attributes(ids.get("tenant_id"), ids.get("run_id"), ids.get("schedule_id"))
    with _tracer.start_as_current_span(
        f"{topic} process", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as current:
        yield current


def _fire(
    tenant_id: object,
    schedule_id: object,
    run: Mapping[str, Any],
    command: object,
) -> Context:
    """A run's first span, the root of its trace, ended at once; the context to publish in."""
    attempt = run.get("attempt", 1)
    attributes = run_attributes(tenant_id, run.get("run_id"), schedule_id)
    attributes |= {"herald.attempt": attempt, "herald.trigger": _trigger(command, attempt != 1)}
    # Linked to what was handled when it fired (a batch of commands), not inside it:
    # one trace per run.
    current = trace.get_current_span().get_span_context()
    links = [Link(current)] if current.is_valid else None
    fired = _tracer.start_span(
        FIRE, context=Context(), kind=SpanKind.PRODUCER, attributes=attributes, links=links
    )
    fired.end()
    return trace.set_span_in_context(fired, Context())


def run_headers(
    messages: Sequence[Envelope], base: list[tuple[str, bytes]]
) -> list[list[tuple[str, bytes]]]:
    """Each message's Kafka headers, for a herd (`BulkPublisher`): each `ReportDue`
    starts its run's own trace, and the run's other messages (its `due` status)
    travel in it.

    A span per run cost the scheduler about 50 µs each (half a second of a
    10,000-run herd's event loop), so the firing is one span per
    `LINKS_PER_FIRE` runs (`herald.fire.batch`), linked to each run's context:
    a context of the run's own trace (its parent in the renderer) that is not
    exported as a span.
    """
    fired = [m for m in messages if isinstance(m, ReportDue)]
    traced: dict[str, list[tuple[str, bytes]]] = {}
    for start in range(0, len(fired), LINKS_PER_FIRE):
        group = fired[start : start + LINKS_PER_FIRE]
        runs = [(m.run.run_id, _new_context(trace.TraceFlags.SAMPLED)) for m in group]
        retry = all(m.run.attempt > 1 for m in group)
        batch = _tracer.start_span(
            FIRE_BATCH,
            context=Context(),
            kind=SpanKind.PRODUCER,
            attributes={"herald.runs": len(group), "herald.trigger": _trigger(None, retry)},
            # No attributes on the links: they cost a third of it all. A linked trace
            # is its run's: its spans carry the run's ids.
            links=[Link(context) for _, context in runs],
        )
        batch.end()
        # The runs are sampled as their batch is (`OTEL_TRACES_SAMPLER`).
        flags = batch.get_span_context().trace_flags
        for run_id, context in runs:
            carrier: dict[str, str] = {}
            run = trace.NonRecordingSpan(_new_context(flags, context))
            propagate.inject(carrier, context=trace.set_span_in_context(run, Context()))
            traced[run_id] = base + [(k, v.encode()) for k, v in carrier.items()]
    return [traced.get(_run_id_of(message) or "", base) for message in messages]


def _new_context(flags: int, ids: trace.SpanContext | None = None) -> trace.SpanContext:
    """A fresh trace's first context (the ids of `ids` if given): a run's firing in a
    herd, not exported as a span."""
    return trace.SpanContext(
        trace_id=ids.trace_id if ids else _ids.generate_trace_id(),
        span_id=ids.span_id if ids else _ids.generate_span_id(),
        is_remote=False,
        trace_flags=trace.TraceFlags(flags),
    )


def _trigger(command: object, retry: bool) -> str:
    return "command" if command else ("retry" if retry else "schedule")


def _run_id_of(message: Envelope) -> str | None:
    if isinstance(message, ReportDue):
        return message.run.run_id
    if isinstance(message, DeliveryStatus):
        return message.run_id
    return None


def fired_bodies(
    bodies: Sequence[tuple[str, str, str]], report_due_topic: str
) -> list[Context | None]:
    """Per (topic, key, JSON body), the context to publish it in: a `ReportDue` starts
    its run's trace, and every body of the same run (its status, the command's reply)
    goes out in it; the rest in the current context (None)."""
    contexts: dict[str, Context] = {}
    documents: list[dict[str, Any]] = []
    for topic, _key, body in bodies:
        document = json.loads(body)
        documents.append(document if isinstance(document, dict) else {})
        run = document.get("run") if isinstance(document, dict) else None
        if topic == report_due_topic and isinstance(run, dict) and "run_id" in run:
            contexts[str(run["run_id"])] = _fire(
                document.get("tenant_id"),
                document.get("schedule_id"),
                run,
                document.get("correlation_id"),
            )
    return [contexts.get(str(_body_run_id(document))) for document in documents]


def _body_run_id(document: dict[str, Any]) -> object:
    run = document.get("run")
    if isinstance(run, dict) and "run_id" in run:
        return run["run_id"]
    return document.get("run_id")


def failed(current: Span, exc: BaseException) -> None:
    """`current` ended in `exc` (caught, not raised through the span)."""
    current.record_exception(exc)
    current.set_status(StatusCode.ERROR, type(exc).__name__)


@contextmanager
def within(context: Context | None) -> Iterator[None]:
    """`context` current inside (a no-op for None)."""
    if context is None:
        yield
        return
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)
