"""Settings for every Herald process, read from `HERALD_*` environment variables.

Nested groups use `__`, e.g. `HERALD_KAFKA__BOOTSTRAP_SERVERS` or
`HERALD_SMTP__PASSWORD`. One model serves all three services so that a single
ConfigMap/Secret pair configures a deployment.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import re
import string
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from herald.shared.contract.schedule_spec import normalise_domain, valid_zone
from herald.shared.contract.tenant_settings import DEFAULT_BRAND_COLOUR, Colour, SmtpSecurity


class KafkaSecurity(enum.StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(enum.StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: KafkaSecurity = KafkaSecurity.PLAINTEXT
    sasl_mechanism: SaslMechanism = SaslMechanism.SCRAM_SHA_512
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    tls_ca_file: Path | None = None
    topic_prefix: str = Field(default="herald", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)


class MongoSettings(BaseModel):
    url: SecretStr = SecretStr("mongodb://127.0.0.1:27017/")
    database: str = "herald"
    server_selection_timeout_ms: int = 10_000
    #: Commands one process has in flight at most. FerretDB 1.x deadlocks once the
    #: update statements in flight over all its clients reach its PostgreSQL pool
    #: (docs/architecture.md, "Storage rules"): keep the sum over processes of
    #: this times 4 (statements per bulk update) under its `pool_max_conns`.
    max_pool_size: int = Field(default=8, ge=1, le=500)


class SmtpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 25
    security: SmtpSecurity = SmtpSecurity.NONE
    username: str | None = None
    password: SecretStr | None = None
    from_address: str = "Herald Reports <reports@herald.localhost>"
    timeout_s: float = 30.0
    tls_ca_file: Path | None = None
    #: Connections kept open and reused by one mailer: as many as the runs it has in
    #: flight (`MAILER__CONCURRENCY`; a run's recipients go side by side, but its ledger
    #: writes and status leave the connection to others), so that a provider slow to
    #: answer does not hold them up. Lower it to what the provider allows per client.
    pool_size: int = Field(default=32, ge=1, le=100)
    #: The provider's allowed volume; a herd is spread out to stay under it. None: no limit.
    max_per_minute: int | None = Field(default=None, ge=1)


def _link_template(template: str, needs: set[str], schemes: tuple[str, ...]) -> str:
    """A URL template naming each value it needs, plainly, and nothing it cannot be given.

    Checked at start: a typo would otherwise fail every email, or a link lose its tenant.
    """
    if not template.startswith((*schemes, "{platform_base_url}")):
        raise ValueError(
            f"{template!r} must start with {' or '.join(schemes)} or {{platform_base_url}}"
        )
    allowed = needs | {"platform_base_url"}
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(template)
            if name is not None
        ]
    except ValueError as exc:
        raise ValueError(f"{template!r} is not a link template: {exc}") from exc
    names = {name for name, _, _ in fields}
    if not needs <= names <= allowed or any(spec or conversion for _, spec, conversion in fields):
        raise ValueError(
            f"{template!r} must name {_braced(needs)}, may name {{platform_base_url}}, "
            "and nothing else (no format specs)"
        )
    return template


def _braced(names: set[str]) -> str:
    return ", ".join(f"{{{name}}}" for name in sorted(names))


class BrandingSettings(BaseModel):
    platform_name: str = "Contact Center"
    logo_url: str | None = None
    logo_file: Path | None = None
    platform_base_url: str = "http://127.0.0.1:8080"
    #: The first series of every chart and the PDF's accents, as `#rrggbb`.
    brand_colour: Colour = DEFAULT_BRAND_COLOUR
    #: Before the subject's title and period; None means the platform name, "" none.
    subject_prefix: str | None = None
    #: A line at the end of every email (a tenant's own, from its settings).
    footer_text: str | None = None
    #: Where the platform serves Herald's artifacts (GridFS bucket `artifacts`) by id,
    #: for files too large to attach; default `<platform_base_url>/herald/artifacts`.
    artifact_base_url: str | None = None
    #: The definitions of the reports' figures (docs/reports.md), linked from every report's
    #: footer: a template that may name `{platform_base_url}` (the tenant's own, if it has one).
    definitions_url: str = "{platform_base_url}/docs/reports"
    #: The schedule's page in the platform, where a recipient changes or stops it: every
    #: report email's List-Unsubscribe. A template of `{platform_base_url}` (the tenant's
    #: own, if it has one), `{tenant_id}` and `{schedule_id}` (schedule ids are unique per
    #: tenant only, so both are needed).
    schedule_url: str = "{platform_base_url}/herald/schedules/{tenant_id}/{schedule_id}"
    #: The platform's one-click unsubscribe (RFC 8058): an https template of the same
    #: placeholders and `{recipient}`, whom a one-click POST cannot otherwise name. Set, it
    #: replaces the schedule's page in List-Unsubscribe and adds List-Unsubscribe-Post.
    unsubscribe_url: str | None = None

    @field_validator("platform_name", "subject_prefix")
    @classmethod
    def _one_printable_line(cls, value: str | None) -> str | None:
        """Both reach the Subject header: a line break there would start a header of its own."""
        if value is not None and not value.isprintable():
            raise ValueError(f"must be one line of printable text, got {value!r}")
        return value

    @field_validator("schedule_url")
    @classmethod
    def _schedule_template(cls, value: str) -> str:
        return _link_template(value, {"tenant_id", "schedule_id"}, ("https://", "http://"))

    @field_validator("unsubscribe_url")
    @classmethod
    def _one_click_template(cls, value: str | None) -> str | None:
        """https only (RFC 8058); a tenant's own platform address is checked per email."""
        if value is None:
            return None
        return _link_template(value, {"tenant_id", "schedule_id", "recipient"}, ("https://",))

    @field_validator("definitions_url")
    @classmethod
    def _definitions_template(cls, value: str) -> str:
        return _link_template(value, set(), ("https://", "http://"))

    def artifact_url(self, artifact_id: str) -> str:
        base = self.artifact_base_url or f"{self.platform_base_url.rstrip('/')}/herald/artifacts"
        return f"{base.rstrip('/')}/{quote(artifact_id, safe='')}"

    def definitions_link(self) -> str:
        return self._link(self.definitions_url)

    def schedule_page(self, tenant_id: str, schedule_id: str) -> str:
        return self._link(self.schedule_url, tenant_id=tenant_id, schedule_id=schedule_id)

    def one_click_unsubscribe(self, tenant_id: str, schedule_id: str, recipient: str) -> str | None:
        """The recipient's one-click unsubscribe, if the platform offers one here.

        None for a tenant whose platform address is plain http: RFC 8058 allows https only.
        """
        if self.unsubscribe_url is None:
            return None
        url = self._link(
            self.unsubscribe_url, tenant_id=tenant_id, schedule_id=schedule_id, recipient=recipient
        )
        return url if url.startswith("https://") else None

    def _link(self, template: str, **values: str) -> str:
        """The template filled in, each value URL-encoded whole (an id may hold `@` or `:`)."""
        quoted = {name: quote(value, safe="") for name, value in values.items()}
        return template.format(platform_base_url=self.platform_base_url.rstrip("/"), **quoted)


class RetrySettings(BaseModel):
    """Transient failures: backoff from base doubling per attempt, capped, until a deadline.

    The deadline is the schedule's next firing, at most `give_up_after_s` after
    the run was due (`shared/retry.py` has the whole policy).
    """

    base_s: float = Field(default=60.0, gt=0)
    cap_s: float = Field(default=3600.0, gt=0)
    #: The longest a run's transient failures are retried (the next firing may end it sooner).
    give_up_after_s: float = Field(default=86400.0, gt=0)
    #: How long a run waits for a tenant to fix email settings the server refuses (a
    #: failed login, a failed TLS handshake): past the next firing, if need be.
    settings_problem_s: float = Field(default=86400.0, gt=0)
    #: A backstop for a run that keeps failing fast; the deadline is what normally ends it.
    max_attempts: int = Field(default=100, ge=1)
    #: Fraction of each delay drawn at random (deterministically per run and attempt).
    jitter: float = Field(default=0.2, ge=0, le=1)


_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def _network_or_host(entry: str) -> str:
    """A network in CIDR form (an address alone is its own /32 or /128), or a host name."""
    entry = entry.strip().lower().rstrip(".")
    try:
        return str(ipaddress.ip_network(entry))
    except ValueError as exc:
        if "/" in entry or ":" in entry or not _HOST_NAME.match(entry):
            raise ValueError(
                f"{entry!r} is neither a network (CIDR) nor a host name: {exc}"
            ) from None
        return entry


class MailerSettings(BaseModel):
    #: Runs one mailer delivers at once; memory grows with it (each holds its attachments).
    #: 32, not 16: the e2e herd's last email came at 142 s, not 167, and at 175 s, not 205,
    #: from a provider answering in 150 ms (more runs in flight hide the replies' wait).
    concurrency: int = Field(default=32, ge=1, le=256)
    #: Where a tenant's own SMTP server may be besides public addresses: networks (CIDR,
    #: or one address) and host names, comma-separated or a JSON list. Empty (production):
    #: a tenant's host with any loopback, private, link-local, CGNAT, metadata, multicast
    #: or other non-public address is refused (services/mailer/egress.py). The environment's
    #: own server (`SMTP__HOST`) is the operator's and never checked.
    smtp_allowed_private: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("smtp_allowed_private", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        """`127.0.0.0/8,::1` as the environment gives it, or a JSON list as other lists."""
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            return json.loads(value)
        return [entry for entry in value.split(",") if entry.strip()]

    @field_validator("smtp_allowed_private")
    @classmethod
    def _entries(cls, value: list[str]) -> list[str]:
        return [_network_or_host(entry) for entry in value]


class SchedulerSettings(BaseModel):
    tick_s: float = Field(default=1.0, gt=0)
    #: How long a replica may hold a shard without renewing before another takes it.
    lease_ttl_s: float = Field(default=30.0, gt=0)
    #: A run still `due` or `rendered` this long after its last event is fired again.
    stuck_after_s: float = Field(default=900.0, gt=0)
    #: Shards one replica fires at once: a herd's firing waits mostly on Kafka's acks.
    #: More keep the event loop busier without firing faster: at 16 a command beside a
    #: 100,000-run herd waited 1.6 s at p99, at 6 0.6 s (the herd 17.7 s and 18.2 s).
    concurrency: int = Field(default=6, ge=1)
    #: Schedules whose commands one replica handles at once (each schedule's in order).
    command_concurrency: int = Field(default=32, ge=1)
    #: MongoDB connections of the commands' own client: a herd's slot writes fill the
    #: main pool, and a command waiting behind them waits for the herd. Counts
    #: toward FerretDB's limit like `mongo.max_pool_size`.
    command_pool_size: int = Field(default=4, ge=1, le=100)
    #: Run records the history projection keeps after writing them, to skip their reads.
    history_cache_mb: int = Field(default=32, ge=0)
    #: How long the history projection may hold a run still `due` or `rendered` in memory,
    #: its offsets uncommitted, to write it once with its next events (0: write at once).
    #: Never more than a quarter of `stuck_after_s` (`history_hold`).
    history_hold_s: float = Field(default=60.0, ge=0)

    @property
    def history_hold(self) -> timedelta:
        return timedelta(seconds=min(self.history_hold_s, self.stuck_after_s / 4))


class RendererSettings(BaseModel):
    #: Rows of an inline HTML table; above it a note, and the full CSV travels along.
    html_max_rows: int = Field(default=500, ge=1)
    #: Above this many rows a PDF holds the first rows and a note; the full CSV travels along.
    pdf_max_rows: int = Field(default=2000, ge=1)
    #: Artifacts larger than this are linked from the email instead of attached.
    attachment_limit_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    #: Runs one renderer works on at once (PDFs still wait for the `pdf_workers`).
    concurrency: int = Field(default=8, ge=1, le=256)
    #: PDF worker processes; each is replaced after `renders_per_worker` renders. One by
    #: default: a worker holds about 110 MB, and a second bought nothing in the shared-render
    #: herd; in 10,000 unshared renders, where the worker bounds a renderer, two on the
    #: 2-core machine took 559 s against 762 s (`bench/e2e.py`; docs/operations.md "Sizing").
    #: Raise it with the pod's CPUs for tenants of PDFs or charted HTML.
    pdf_workers: int = Field(default=1, ge=1)
    #: Worker processes that only print PDFs, beside the `pdf_workers` (which draw every
    #: chart): WeasyPrint without matplotlib, about 65 MB each at the herd's peak against
    #: 110-115. None by default; the lighter way to a second core of printing: with one PDF
    #: worker, 10,000 unshared renders took 523-570 s on the 2-core machine with the
    #: renderer at 271 MB, where two PDF workers held 314 MB (docs/operations.md "Sizing").
    print_workers: int = Field(default=0, ge=0)
    #: A safety bound: a worker grows by about 4 MB over its first renders and then
    #: holds (measured over 300 PDFs and charts, and 40 of 2,000 rows); a replacement
    #: costs about a second of CPU (WeasyPrint, matplotlib, fonts). Chart drawings
    #: count as renders.
    renders_per_worker: int = Field(default=500, ge=1)
    #: A PDF render running longer is killed and retried later as a transient failure.
    render_timeout_s: float = Field(default=120.0, gt=0)
    #: Runs asking for the same report, filters, window and format share one render.
    share_renders: bool = True
    #: A shared render older than this is not reused: late data may have arrived since.
    share_ttl_s: float = Field(default=3600.0, gt=0)


class OpsSettings(BaseModel):
    """How operators reach a service: its HTTP port (health, readiness, metrics), its shutdown."""

    port: int = Field(default=8000, ge=1, le=65535)
    #: All interfaces: Kubernetes probes the pod from outside.
    host: str = "0.0.0.0"
    #: In-flight work gets this long after SIGTERM; keep it under terminationGracePeriodSeconds.
    shutdown_grace_s: float = Field(default=25.0, gt=0)
    #: Log lines as JSON objects (one per line) rather than text.
    json_logs: bool = True


class SecuritySettings(BaseModel):
    """Where reports may be sent: recipient domains, checked on every command and every send.

    A listed domain allows itself and its subdomains (see `shared.recipient_policy`).
    """

    #: Empty: any domain. JSON in the environment, e.g. '["example.com"]'.
    allowed_recipient_domains: list[str] = Field(default_factory=list)
    #: A tenant's own list, replacing the global one for it (an empty list: any domain),
    #: e.g. '{"acme": ["acme.com"]}'.
    tenant_allowed_recipient_domains: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("allowed_recipient_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [normalise_domain(domain) for domain in value]

    @field_validator("tenant_allowed_recipient_domains")
    @classmethod
    def _tenant_domains(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {tenant: cls._domains(domains) for tenant, domains in value.items()}


class SecretsSettings(BaseModel):
    """Keys of the sealed secrets in tenant settings (`shared/contract/secrets.py`).

    Only the mailer holds private keys; the CLI holds the public key to seal with.
    """

    #: The key new secrets are sealed with: `<key id>:<base64 public key>`.
    public_key: str | None = None
    #: Every key the mailer accepts, JSON `{"<key id>": "<base64 private key>"}`.
    private_keys: dict[str, SecretStr] = Field(default_factory=dict)
    #: Or a file holding that JSON (a mounted Kubernetes Secret); both are merged.
    private_keys_file: Path | None = None


class RetentionSettings(BaseModel):
    """How long finished documents are kept (docs/operations.md, "Retention").

    Enforced by TTL indexes where the server has them (MongoDB) and by each
    service's periodic clean-up where it does not (FerretDB 1.x); documents
    still in use (a run in flight or waiting for a retry, an armed timer) are
    never removed.
    """

    #: Finished runs in the history (`runs`), counted from their last event.
    runs_days: int = Field(default=400, ge=1)
    #: The send ledger (`sends`, `send_takeovers`), from the acceptance, the claim, the takeover;
    #: longer than any run's retry deadline, or a late retry would mail someone again.
    ledger_days: int = Field(default=30, ge=1)
    #: Answered commands (`commands`): a command id repeated later than this is applied again.
    commands_days: int = Field(default=30, ge=1)
    #: Shared-render records (`render_shares`); None: twice `RENDERER__SHARE_TTL_S`.
    shares_s: float | None = Field(default=None, gt=0)
    #: Artifacts (GridFS `artifacts`) after the last email that can link to them went out:
    #: kept from their upload this long plus the longest a run using them can last.
    artifacts_days: int = Field(default=30, ge=1)
    #: Timer documents left behind the ticker's cursor for runs that are final (or gone).
    timers_s: float = Field(default=3600.0, gt=0)
    #: Tenants' logos (GridFS `brand_assets`) once no tenant's settings name them: readers
    #: following `tenant.settings` may still read a logo just replaced.
    logos_days: int = Field(default=1, ge=1)
    #: How often each service cleans up its collections where TTL indexes are missing.
    every_s: float = Field(default=3600.0, gt=0)
    #: Documents one pass removes from one collection at most; a pass that reaches it is
    #: followed by another at once (a second later), not after `every_s`.
    batch: int = Field(default=1000, ge=1, le=100_000)
    #: Days before the oldest one due that a replica's first pass looks at (day by day):
    #: what a clean-up that did not run (or a shorter retention) left behind.
    lookback_days: int = Field(default=60, ge=1, le=3660)


class ReportSourceKind(enum.StrEnum):
    MONGO = "mongo"
    HTTP = "http"


class HttpSourceSettings(BaseModel):
    """The platform's own report endpoint, for platforms that compute reports themselves."""

    url: str | None = None
    #: Sent as `Authorization: Bearer ...` when set.
    token: SecretStr | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    #: Further attempts on a timeout, connection error or 5xx, with doubling delays.
    retries: int = Field(default=2, ge=0)
    retry_base_s: float = Field(default=0.5, ge=0)
    #: The longest a `Retry-After` is waited out in place; a longer one (or one past the
    #: run's retry deadline) ends the fetch as a transient failure, left to the retry policy.
    max_retry_after_s: float = Field(default=60.0, ge=0)
    #: A larger body is refused (permanent), checked while it streams in.
    max_response_bytes: int = Field(default=100 * 1024 * 1024, ge=1)


class ReportSettings(BaseModel):
    source: ReportSourceKind = ReportSourceKind.MONGO
    #: Zone the calls' local day and hour are recorded in; None means default_timezone.
    data_timezone: str | None = None
    #: Whole days are read from the daily roll-ups; off, every report groups raw calls.
    use_rollups: bool = True
    #: A call-data read (roll-up, grouping, sessions, dimension) is reused by other renders
    #: for this long: a herd reads each of a tenant's days once, not once per run (0: off).
    reuse_reads_s: float = Field(default=5.0, ge=0)
    http: HttpSourceSettings = HttpSourceSettings()

    @field_validator("data_timezone")
    @classmethod
    def _known_data_zone(cls, value: str | None) -> str | None:
        return None if value is None else valid_zone(value)

    @model_validator(mode="after")
    def _http_needs_url(self) -> ReportSettings:
        if self.source is ReportSourceKind.HTTP and not self.http.url:
            raise ValueError("the http report source needs HERALD_REPORTS__HTTP__URL")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HERALD_",
        env_nested_delimiter="__",
        env_file=None,
        extra="ignore",
    )

    kafka: KafkaSettings = KafkaSettings()
    mongo: MongoSettings = MongoSettings()
    smtp: SmtpSettings = SmtpSettings()
    branding: BrandingSettings = BrandingSettings()
    retry: RetrySettings = RetrySettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    mailer: MailerSettings = MailerSettings()
    reports: ReportSettings = ReportSettings()
    renderer: RendererSettings = RendererSettings()
    ops: OpsSettings = OpsSettings()
    security: SecuritySettings = SecuritySettings()
    secrets: SecretsSettings = SecretsSettings()
    retention: RetentionSettings = RetentionSettings()
    default_timezone: str = "UTC"

    @field_validator("default_timezone")
    @classmethod
    def _known_default_zone(cls, value: str) -> str:
        return valid_zone(value)

    @model_validator(mode="after")
    def _ledger_outlives_retries(self) -> Settings:
        """A ledger entry gone while its run may still retry: a recipient mailed twice."""
        if self.retention.ledger_days * 86400 <= self.longest_run_s:
            raise ValueError(
                "HERALD_RETENTION__LEDGER_DAYS must be longer than any run's retry deadline "
                f"({self.longest_run_s / 86400:.1f} days: HERALD_RETRY__GIVE_UP_AFTER_S or "
                "__SETTINGS_PROBLEM_S, plus HERALD_SCHEDULER__STUCK_AFTER_S)"
            )
        return self

    @property
    def longest_run_s(self) -> float:
        """The longest a run can be retried after it was due, its last attempt included."""
        retry = self.retry
        return max(retry.give_up_after_s, retry.settings_problem_s) + self.scheduler.stuck_after_s

    @property
    def data_zone(self) -> ZoneInfo:
        """The zone calls are recorded in: local days and hours of the report data."""
        return ZoneInfo(self.reports.data_timezone or self.default_timezone)
