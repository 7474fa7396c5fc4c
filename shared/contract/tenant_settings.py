"""A tenant's own email server, branding, default time zone and compliance ceiling, as set.

Tenants without settings are served from the environment (`HERALD_SMTP__*`,
`HERALD_BRANDING__*`, `HERALD_DEFAULT_TIMEZONE`; the compliance ceiling's
defaults are `TenantCompliance()`). The SMTP password never
appears here in plain text: it is a `SealedSecret` (see `secrets.py`) from
the platform to the mailer, stored and forwarded as it came.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, StrictBool, StrictInt, model_validator

from herald.shared.contract.schedule_spec import EMAIL_ADDRESS_SCHEMA, normalise_address
from herald.shared.contract.tolerance import Contract

#: A logo travels in the command that sets it (base64 in JSON): well under Kafka's 1 MB.
MAX_LOGO_BYTES = 256 * 1024
LOGO_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
#: Logos an email carries, what every mail client shows: Gmail and Outlook show no SVG, so
#: an SVG logo heads the PDFs only and the emails name the platform in text alone.
EMAIL_LOGO_TYPES = frozenset({"image/png", "image/jpeg", "image/gif"})
#: Tenant-level messages name this pseudo-schedule (every message has a `schedule_id`).
TENANT_SETTINGS_ID = "tenant-settings"


class SmtpSecurity(enum.StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class _Strict(Contract):
    """Forbids unknown fields, except to tolerant readers (`tolerance.py`)."""


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_HTTP_URL = r"^https?://[^\s/?#]+[^\s]*$"
#: `str.isprintable` as near as a JSON Schema pattern gets: no control characters.
_PRINTABLE: dict[str, Any] = {
    "pattern": r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$",
    "description": "One line of printable text.",
}


def _host(value: str) -> str:
    if not (_HOSTNAME.match(value) or _IPV4.match(value)):
        raise ValueError(f"not a host name or IPv4 address: {value!r}")
    return value.lower()


def _one_line(value: str) -> str:
    """Names reach headers (From, Subject): a line break there would start a header of its own."""
    if not value.isprintable():
        raise ValueError(f"must be one line of printable text, got {value!r}")
    return value


def _http_url(value: str) -> str:
    if not re.match(_HTTP_URL, value):
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value


Host = Annotated[
    str,
    AfterValidator(_host),
    Field(
        json_schema_extra={
            "pattern": f"{_HOSTNAME.pattern}|{_IPV4.pattern}",
            "description": "A host name or an IPv4 address (kept in lowercase).",
        }
    ),
]
OneLine = Annotated[
    str,
    Field(min_length=1, max_length=120, json_schema_extra=_PRINTABLE),
    AfterValidator(_one_line),
]
Address = Annotated[
    str,
    Field(max_length=254, json_schema_extra=EMAIL_ADDRESS_SCHEMA),
    AfterValidator(normalise_address),
]
KeyId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


class SealedSecret(_Strict):
    """A libsodium sealed box (X25519 + XSalsa20-Poly1305), base64, for the key `key_id`."""

    key_id: KeyId
    ciphertext: str = Field(min_length=1, max_length=4096, pattern=r"^[A-Za-z0-9+/]+={0,2}$")


class TenantEmail(_Strict):
    """The tenant's SMTP server and sender, and the volume its provider allows."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {
                        "properties": {"password": {"type": "object"}},
                        "required": ["password"],
                    },
                    "then": {
                        "properties": {"username": {"type": "string"}},
                        "required": ["username"],
                    },
                }
            ]
        }
    )

    host: Host
    port: StrictInt = Field(ge=1, le=65535)
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = Field(default=None, min_length=1, max_length=254)
    password: SealedSecret | None = None
    from_address: Address
    from_name: OneLine | None = None
    reply_to: Address | None = None
    #: What the provider allows; None: no limit of that kind.
    max_per_minute: StrictInt | None = Field(default=None, ge=1, le=1_000_000)
    max_per_day: StrictInt | None = Field(default=None, ge=1, le=100_000_000)
    #: Reject a schedule change whose forecast exceeds the allowed volume (else: warn).
    enforce_volume: StrictBool = False

    @model_validator(mode="after")
    def _password_needs_user(self) -> TenantEmail:
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")
        return self

    def without_secret(self) -> TenantEmail:
        return self.model_copy(update={"password": None})


Colour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]
#: Herald's stock brand colour: the platform's unless `HERALD_BRANDING__BRAND_COLOUR` sets
#: another, and a branded tenant's unless its branding sets one (not the platform's).
DEFAULT_BRAND_COLOUR = "#2f5d8a"


class LogoRef(_Strict):
    """A stored logo: GridFS bucket `brand_assets`, by id (its sha256: the same bytes, one file)."""

    asset_id: str = Field(pattern=r"^logo-[0-9a-f]{64}$")
    content_type: str
    size: int = Field(ge=1, le=MAX_LOGO_BYTES)
    filename: str


class TenantBranding(_Strict):
    """What every email and PDF of the tenant shows instead of the platform's defaults."""

    platform_name: OneLine
    platform_base_url: Annotated[
        str,
        Field(max_length=500, json_schema_extra={"pattern": _HTTP_URL}),
        AfterValidator(_http_url),
    ]
    brand_colour: Colour = DEFAULT_BRAND_COLOUR
    #: Before the subject's title; None: the platform name, "" none.
    subject_prefix: (
        Annotated[
            str, Field(max_length=60, json_schema_extra=_PRINTABLE), AfterValidator(_one_line)
        ]
        | None
    ) = None
    footer_text: Annotated[str, Field(max_length=500)] | None = None
    logo: LogoRef | None = None


class TenantCompliance(_Strict):
    """The regulator's ceiling on outbound abandoned calls the tenant's reports flag.

    US rules measure it over 30 days per campaign, UK ones over 24 hours; both
    cap it at 3 % of the outbound calls a person answered.
    """

    #: The trailing period the compliance abandon rate is measured over.
    abandon_period: Literal["30d", "24h"] = "30d"
    #: Flagged when the rate is above this many percent.
    abandon_threshold_pct: float = Field(default=3.0, gt=0, le=100)


class Volume(_Strict):
    """The provider's allowed volume, as the volume guard compares forecasts with it."""

    per_minute: int | None = None
    per_day: int | None = None
    enforce: bool = False


def volume_of(email: TenantEmail | None) -> Volume:
    if email is None:
        return Volume()
    return Volume(
        per_minute=email.max_per_minute, per_day=email.max_per_day, enforce=email.enforce_volume
    )
