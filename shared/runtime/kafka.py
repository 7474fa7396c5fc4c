"""Kafka wiring shared by the services: broker, consumer groups, topics and the DLQ.

Delivery guarantees live here so every service gets the same ones:
producers use `acks=all` with idempotence; subscribers commit only after the
handler finished (FastStream's `NACK_ON_ERROR`, not its at-most-once default);
a message that cannot be parsed or processed goes to the DLQ with its
original bytes and the error in headers, and the partition moves on; an
outage of Kafka or MongoDB is retried in place, so nothing is lost or skipped.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError, for_code
from faststream import AckPolicy, BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.message import StreamMessage
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from opentelemetry.context import Context
from pymongo.errors import ConnectionFailure

from herald.shared.contract.messages import Envelope
from herald.shared.contract.topics import ERROR_HEADER as ERROR_HEADER
from herald.shared.contract.topics import ERROR_TYPE_HEADER as ERROR_TYPE_HEADER
from herald.shared.contract.topics import ORIGIN_HEADER as ORIGIN_HEADER
from herald.shared.contract.topics import Topics
from herald.shared.runtime import tracing
from herald.shared.runtime.logs import LogContext
from herald.shared.runtime.metrics import DEAD_LETTERS, REGISTRY, TRANSIENT_FAILURES
from herald.shared.runtime.settings import KafkaSecurity, KafkaSettings, SaslMechanism, Settings
from herald.shared.runtime.turns import in_turns

log = logging.getLogger("herald.kafka")

#: Failures of the outside world rather than of the message: retried in place.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionFailure,
    KafkaError,
    ConnectionError,
    TimeoutError,
)
#: Pause before a message that hit a transient error is read again.
RETRY_PAUSE_S = 2.0
#: A batch consumer's fetch waits at the broker for this many bytes, or for
#: `TRICKLE_WAIT_MS`: records that trickle in (a PDF rendered every 60 ms, its
#: status after it) come a few to a batch instead of one, and share the batch's
#: database round trips and offset commit. In 3,000 unshared renders
#: (`bench/e2e.py`) the mailer then used 21 s of CPU instead of 27. An idle
#: consumer asks every `TRICKLE_WAIT_MS` (Kafka's default: 500); a burst fills
#: the bytes at once and waits for nothing.
TRICKLE_MIN_BYTES = 64 * 1024
TRICKLE_WAIT_MS = 100


def handling_again(service: str, topic: str, exc: BaseException) -> None:
    """Counted and logged alike wherever a message is handled again after a transient
    failure: the HandlerErrors alert reads the count, its runbook quotes the line."""
    TRANSIENT_FAILURES.labels(service, topic).inc()
    log.warning("transient failure on %s, handling the message again: %r", topic, exc)


class PoisonMessage(Exception):
    """Raised by a handler for a message that can never be processed: it goes to the DLQ."""


def _ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    if kafka.security_protocol not in (KafkaSecurity.SSL, KafkaSecurity.SASL_SSL):
        return None
    cafile = str(kafka.tls_ca_file) if kafka.tls_ca_file else None
    return ssl.create_default_context(cafile=cafile)


def _sasl_credentials(kafka: KafkaSettings) -> tuple[str, str]:
    """The SASL user and password; a clear error, not a failure deep in aiokafka, if unset."""
    if kafka.sasl_username is None or kafka.sasl_password is None:
        raise ValueError(
            f"HERALD_KAFKA__SECURITY_PROTOCOL={kafka.security_protocol.value} needs "
            "HERALD_KAFKA__SASL_USERNAME and HERALD_KAFKA__SASL_PASSWORD"
        )
    return kafka.sasl_username, kafka.sasl_password.get_secret_value()


def broker_security(kafka: KafkaSettings) -> BaseSecurity | None:
    context = _ssl_context(kafka)
    if kafka.security_protocol in (KafkaSecurity.PLAINTEXT, KafkaSecurity.SSL):
        return BaseSecurity(ssl_context=context) if context else None
    username, password = _sasl_credentials(kafka)
    sasl = {
        SaslMechanism.PLAIN: SASLPlaintext,
        SaslMechanism.SCRAM_SHA_256: SASLScram256,
        SaslMechanism.SCRAM_SHA_512: SASLScram512,
    }[kafka.sasl_mechanism]
    return sasl(username, password, ssl_context=context, use_ssl=context is not None)


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for plain aiokafka clients (admin, replay), same security as the broker."""
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol.value,
    }
    if context := _ssl_context(kafka):
        options["ssl_context"] = context
    if kafka.security_protocol in (KafkaSecurity.SASL_PLAINTEXT, KafkaSecurity.SASL_SSL):
        options["sasl_mechanism"] = kafka.sasl_mechanism.value
        options["sasl_plain_username"], options["sasl_plain_password"] = _sasl_credentials(kafka)
    return options


def group_id(settings: Settings, service: str) -> str:
    """One consumer group per service and deployment: replicas share the work."""
    return f"{settings.kafka.topic_prefix}.{service}"


#: A consumed Kafka record.
Record: TypeAlias = ConsumerRecord[bytes, bytes]


def _dead_letter_headers(record: Record, exc: BaseException) -> dict[str, str]:
    origin = f"{record.topic}/{record.partition}@{record.offset}"
    error = " ".join(str(exc).split())[:2000]
    headers = {
        key: (value or b"").decode("utf-8", "backslashreplace") for key, value in record.headers
    }
    headers |= {ERROR_HEADER: error, ERROR_TYPE_HEADER: type(exc).__name__, ORIGIN_HEADER: origin}
    return headers


async def dead_letter(
    broker: KafkaBroker, dlq_topic: str, record: Record, exc: BaseException
) -> None:
    """Send one consumed record to the DLQ with its original bytes and the error in headers."""
    headers = _dead_letter_headers(record, exc)
    log.error(
        "message from %s sent to the DLQ: %s: %s",
        headers[ORIGIN_HEADER],
        headers[ERROR_TYPE_HEADER],
        headers[ERROR_HEADER],
    )
    DEAD_LETTERS.labels(record.topic).inc()
    await broker.publish(record.value or b"", dlq_topic, key=record.key, headers=headers)


async def undecoded(msg: StreamMessage[Any], _default: Callable[..., Any]) -> Any:
    """A batch subscriber's decoder: the bodies as they are, for the handler to parse.

    FastStream's own decodes every body of a batch as JSON before the handler
    runs: one bad body then failed the whole batch, good records included.
    """
    return msg.body


def records_of(msg: StreamMessage[Any]) -> tuple[Record, ...]:
    """The consumed records behind a message: one, or a batch subscriber's many.

    aiokafka hands a batch as a tuple, FastStream's in-memory test broker as a list.
    """
    raw = msg.raw_message
    return tuple(raw) if isinstance(raw, tuple | list) else (raw,)


def dead_letter_middleware(
    broker: Callable[[], KafkaBroker], dlq_topic: str, service: str
) -> Callable[..., BaseMiddleware]:
    """A FastStream middleware that turns a poisoned message into a DLQ record.

    `broker` is a callable because the middleware is registered on the broker
    it publishes with. A batch handler dead-letters its bad records itself; a
    batch that still fails as a whole goes to the DLQ record by record.
    """

    class DeadLetter(BaseMiddleware):
        async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
            try:
                return await call_next(msg)
            except TRANSIENT_ERRORS as exc:
                handling_again(service, records_of(msg)[0].topic, exc)
                await asyncio.sleep(RETRY_PAUSE_S)
                raise
            except Exception as exc:
                for record in records_of(msg):
                    await dead_letter(broker(), dlq_topic, record, exc)
                return None

    return DeadLetter


async def lenient_headers(
    record: Record | tuple[Record, ...] | list[Record],
    parse: Callable[[Any], Awaitable[StreamMessage[Any]]],
) -> StreamMessage[Any]:
    """FastStream's parser with header values that are not UTF-8, or null, made readable.

    FastStream decodes every header value as UTF-8 before any middleware runs:
    one bad or null value raised outside the DLQ path, so the message was
    neither handled nor dead-lettered, only logged. Bad bytes become
    backslash escapes, a null value an empty string; the record is mended in place.
    """
    for each in record if isinstance(record, tuple | list) else (record,):
        if any(value is None or not _is_utf8(value) for _, value in each.headers):
            each.headers = [
                (key, (value or b"").decode("utf-8", "backslashreplace").encode())
                for key, value in each.headers
            ]
    return await parse(record)


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True


class RebalancedCommit(logging.Filter):
    """Tells a commit refused after a rebalance for what it is: routine, not critical.

    FastStream logs any failed commit as CRITICAL with a traceback. After a
    rebalance (a replica leaving or joining) the refused message is simply handled
    again by the partition's new owner, and every handler is idempotent.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], CommitFailedError):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = (
                "offset commit refused after a rebalance: the partition's new owner "
                "handles the message again"
            )
            record.args = ()
            record.exc_info = record.exc_text = None
        return True


_REBALANCED_COMMIT = RebalancedCommit()


def make_broker(settings: Settings, service: str) -> KafkaBroker:
    topics = Topics(settings.kafka.topic_prefix)
    broker: KafkaBroker | None = None

    def current() -> KafkaBroker:
        assert broker is not None
        return broker

    log.addFilter(_REBALANCED_COMMIT)  # once: the same filter is never added twice
    # Tracing on (`tracing.configure`): the trace context travels in each message's
    # headers. Off, the broker has no telemetry middleware at all.
    traced = [KafkaTelemetryMiddleware()] if tracing.enabled() else []
    broker = KafkaBroker(
        settings.kafka.bootstrap_servers,
        security=broker_security(settings.kafka),
        client_id=f"herald-{service}",
        acks="all",
        enable_idempotence=True,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        parser=lenient_headers,
        middlewares=[
            *traced,
            LogContext,
            KafkaPrometheusMiddleware(registry=REGISTRY, app_name=f"herald-{service}"),
            dead_letter_middleware(current, topics.dlq, service),
        ],
        # On SIGTERM, in-flight handlers get this long; an unfinished one is not
        # committed, so its message goes to another consumer: nothing is lost.
        graceful_timeout=settings.ops.shutdown_grace_s,
        logger=log,
        # A herd of firings goes out in large batches; replies wait 5 ms at most.
        linger_ms=5,
        max_batch_size=512 * 1024,
    )
    return broker


async def ensure_topics(settings: Settings) -> None:
    """Create Herald's topics if missing; safe to run from every replica at start."""
    admin = AIOKafkaAdminClient(**client_options(settings.kafka))
    await admin.start()
    topics = Topics(settings.kafka.topic_prefix)
    # The audit log is retained for good and never compacted (docs/architecture.md); the
    # other topics keep the broker's retention.
    audit = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
    # Each tenant's latest settings, for good: the mailers and renderers read it whole.
    latest = {"cleanup.policy": "compact", "retention.ms": "-1"}
    configs = {topics.delivery_status: audit, topics.tenant_settings: latest}
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name,
                num_partitions=settings.kafka.partitions,
                replication_factor=settings.kafka.replication_factor,
                topic_configs=configs.get(name, {}),
            )
            for name in topics.all()
            if name not in existing
        ]
        if wanted:
            created = await admin.create_topics(wanted)
            # The broker answers each topic's error rather than raising it.
            for name, code, *message in created.topic_errors:
                error = for_code(code) if code else None
                # Another replica may win the race; its topics are as good as ours.
                if error is not None and error is not TopicAlreadyExistsError:
                    raise error(f"topic {name}: {message[0] if message else error.description}")
    finally:
        await admin.close()


async def publish_many(broker: KafkaBroker, topics: Topics, messages: Sequence[Envelope]) -> None:
    """Publish a batch without a round trip per message; returns once all are acknowledged."""
    await publish_bodies(
        broker,
        [(topics.for_message(m), m.key().decode(), m.model_dump_json()) for m in messages],
    )


async def publish_bodies(
    broker: KafkaBroker,
    bodies: Sequence[tuple[str, str, str]],
    traces: Sequence[Context | None] | None = None,
) -> None:
    """Publish (topic, schedule id, JSON body) triples together; wait for all acknowledgements.

    `traces`: per body, the trace context to publish it in (`tracing.fired_bodies`).
    """

    async def publish(n: int, topic: str, schedule_id: str, body: str) -> Any:
        with tracing.within(traces[n] if traces else None):
            return await broker.publish(
                body.encode(),
                topic,
                key=schedule_id.encode(),
                headers={"content-type": "application/json"},
                no_confirm=True,
            )

    pending = [await publish(n, *triple) for n, triple in enumerate(bodies)]
    # FastStream's in-memory test broker delivers at once and hands back None.
    await asyncio.gather(*(confirmation for confirmation in pending if confirmation is not None))


class KafkaPublisher:
    """The `Publisher` port on the service's broker."""

    def __init__(self, broker: KafkaBroker, topics: Topics) -> None:
        self._broker = broker
        self._topics = topics

    async def publish(self, *messages: Envelope) -> None:
        await publish_many(self._broker, self._topics, messages)


#: Messages a `BulkPublisher` serialises between two turns of the event loop (`turns.py`).
_YIELD_EVERY = 50


class BulkPublisher:
    """A plain aiokafka producer for herds: no per-message framework work.

    Same guarantees as the broker's producer (`acks=all`, idempotence); used
    where thousands of messages go out at once and each microsecond counts.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topics = Topics(settings.kafka.topic_prefix)
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Called again after an outage at start: a producer that failed is closed."""
        producer = AIOKafkaProducer(
            **client_options(self._settings.kafka),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=512 * 1024,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def publish(self, messages: Sequence[Envelope]) -> None:
        """Publish all, then wait until every one is acknowledged."""
        if not messages:
            return
        if self._producer is None:
            raise RuntimeError("BulkPublisher.publish before start")
        headers = [("content-type", b"application/json")]
        # Tracing on, each run's trace starts here, in its messages' headers.
        traced = tracing.run_headers(messages, headers) if tracing.enabled() else None
        producer = self._producer
        pending = []
        async for n, m in in_turns(enumerate(messages), _YIELD_EVERY):
            pending.append(
                await producer.send(
                    self._topics.for_message(m),
                    m.model_dump_json().encode(),
                    key=m.key(),
                    headers=traced[n] if traced else headers,
                )
            )
        await asyncio.gather(*pending)
