"""Herald's Prometheus metrics, one registry per process (FastStream's Kafka metrics join it).

Names and meanings are listed in docs/operations.md; labels stay low-cardinality
(no run ids; a tenant only where an operator must act on that tenant).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

IN_FLIGHT = Gauge(
    "herald_messages_in_flight",
    "Consumed messages this process is handling now (at most the service's concurrency).",
    registry=REGISTRY,
)
FIRING_LATENESS = Histogram(
    "herald_firing_lateness_seconds",
    "How long after its due instant a run's ReportDue was published.",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
    registry=REGISTRY,
)
RUNS = Counter(
    "herald_runs_total",
    "Run status events projected into the history, by status.",
    ["status"],
    registry=REGISTRY,
)
DELIVERY_LATENESS = Histogram(
    "herald_delivery_lateness_seconds",
    "From a run's due time (scheduled_for) to its delivered status: on time means within 300 s.",
    buckets=(10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
    registry=REGISTRY,
)
HISTORY_LAG = Histogram(
    "herald_history_lag_seconds",
    "From a run status event occurring (occurred_at) to its run's record in the history having it.",
    ["status"],
    buckets=(0.5, 1, 2, 5, 10, 15, 20, 25, 30, 45, 60, 120, 300, 900, 3600),
    registry=REGISTRY,
)
HISTORY_HELD = Gauge(
    "herald_history_held_runs",
    "Runs under way the history projection holds in memory, not written yet (their offsets "
    "not committed): written with their next events, or after SCHEDULER__HISTORY_HOLD_S.",
    registry=REGISTRY,
)
STUCK_RUNS = Counter(
    "herald_stuck_runs_total",
    "Runs fired again because they sat in due or rendered past the stuck limit (a stage died).",
    registry=REGISTRY,
)
STUCK_RUNS_QUEUED = Counter(
    "herald_stuck_runs_queued_total",
    "Runs past the stuck limit not fired again: the next stage has yet to read their message "
    "(a backlog, not a loss), by the status they wait in.",
    ["status"],
    registry=REGISTRY,
)
RENDER_SECONDS = Histogram(
    "herald_render_seconds",
    "Time to render a run's artifacts, by format.",
    ["format"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
ARTIFACT_BYTES = Histogram(
    "herald_artifact_bytes",
    "Size of rendered artifacts, by format.",
    ["format"],
    buckets=(1e3, 1e4, 1e5, 1e6, 5e6, 1e7, 5e7, 1e8),
    registry=REGISTRY,
)
EMAILS = Counter(
    "herald_emails_total",
    "Emails by result (accepted, refused_permanent, refused_transient) and SMTP code.",
    ["result", "smtp_code"],
    registry=REGISTRY,
)
EMAILS_REPLY_UNKNOWN = Counter(
    "herald_emails_reply_unknown_total",
    "Recipients sent again after a mailer stopped between its claim and the reply.",
    registry=REGISTRY,
)
RETRIES = Counter(
    "herald_retries_total",
    "Runs sent to pending_retry, by the stage that failed.",
    ["stage"],
    registry=REGISTRY,
)
TRANSIENT_FAILURES = Counter(
    "herald_handler_transient_failures_total",
    "Consumed messages whose handling hit an outage (Kafka or MongoDB unreachable) and is "
    "tried again in place, by service and topic: HandlerErrors alerts on it.",
    ["service", "topic"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "herald_dead_letters_total",
    "Messages moved to the DLQ, by the topic they came from.",
    ["origin"],
    registry=REGISTRY,
)
MONGO_COMMANDS = Counter(
    "herald_mongo_commands_total",
    "MongoDB commands this process sent (each round trip, getMore included), by command name "
    "and collection.",
    ["command", "collection"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "herald_consumer_lag",
    "Messages on a partition not yet consumed by this process, when last scraped.",
    ["topic", "partition"],
    registry=REGISTRY,
)
TENANT_SETTINGS_FAILING = Gauge(
    "herald_tenant_email_settings_failing",
    "1 while a tenant's own SMTP server refuses its settings (login, TLS, sender, sealed "
    "password) or its host is not allowed; its runs wait in pending_retry for a fix.",
    ["tenant"],
    registry=REGISTRY,
)
VOLUME_WAIT = Histogram(
    "herald_volume_wait_seconds",
    "How long an email waited for its tenant's allowed volume (per minute, per day), "
    "counted across replicas; only emails that waited.",
    buckets=(0.1, 1, 5, 15, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600),
    registry=REGISTRY,
)
LOGOS_MISSING = Gauge(
    "herald_logos_missing",
    "Tenants whose settings name a logo that is not stored, at the scheduler's last "
    "clean-up pass (should stay 0: renderer and mailer would do without it).",
    registry=REGISTRY,
)
RETENTION_REMOVED = Counter(
    "herald_retention_removed_total",
    "Expired documents a service's clean-up removed, by collection (where TTL is missing).",
    ["collection"],
    registry=REGISTRY,
)
