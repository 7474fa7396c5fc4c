"""`herald tenants ...`: a tenant's own email settings, branding and compliance, its mail volume.

`set-email`, `set-branding`, `set-timezone`, `set-compliance` and `reset` are commands the
scheduler answers, like a platform's; `--password-stdin` seals the password
here with `HERALD_SECRETS__PUBLIC_KEY`, so it leaves this process sealed.
`show` and `volume` read the scheduler's `tenants` and `schedules` collections;
`show` prints of the password only the key it is sealed with. `volume`
forecasts the tenant's emails (`services/scheduler/volume.py`) against the
allowed volume of its settings (else `HERALD_SMTP__MAX_PER_MINUTE`).

Exit codes: 0 done, 1 rejected or invalid input, 2 Kafka or MongoDB could not be reached.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from herald.cli.support import console, fail, open_database, run, send_command, valid_command
from herald.services.scheduler.tenant_commands import TenantState
from herald.services.scheduler.volume import (
    Forecast,
    Peak,
    Span,
    excesses,
    forecast,
    minutes_to_send,
)
from herald.shared.contract.messages import ChangeTenantSettings
from herald.shared.contract.schedule_spec import ScheduleSpec
from herald.shared.contract.secrets import seal
from herald.shared.contract.tenant_settings import (
    DEFAULT_BRAND_COLOUR,
    EMAIL_LOGO_TYPES,
    LOGO_TYPES,
    SmtpSecurity,
)
from herald.shared.runtime.keyring import sealing_key
from herald.shared.runtime.settings import Settings

tenants_app = typer.Typer(
    help="What a tenant's schedules need.\n\nExample: herald tenants volume --tenant acme",
    no_args_is_help=True,
)

_BUSIEST_SHOWN = 5


async def _stored(settings: Settings, tenant: str) -> TenantState | None:
    from herald.services.scheduler.tenant_store import TenantStore

    async with open_database(settings) as db:
        stored = await TenantStore(db).read(tenant)
        return stored.state if stored else None


async def _live_specs(settings: Settings, tenant: str) -> list[ScheduleSpec]:
    from herald.services.scheduler.store import SchedulerStore

    async with open_database(settings) as db:
        return list((await SchedulerStore(db).live_specs(tenant)).values())


def _when(peak: Peak | None) -> str:
    return f"{peak.start:%Y-%m-%d %H:%M} UTC" if peak else "-"


def _as_json(
    tenant: str,
    schedules: int,
    ahead: Forecast,
    peaks: dict[Span, Peak | None],
    per_minute: int | None,
) -> dict[str, Any]:
    minute = peaks[Span.MINUTE]
    return {
        "tenant_id": tenant,
        "start": ahead.start.isoformat(),
        "end": ahead.end.isoformat(),
        "enabled_schedules": schedules,
        "emails": ahead.total,
        "busiest": {
            span.value: {"start": peak.start.isoformat(), "emails": peak.emails} if peak else None
            for span, peak in peaks.items()
        },
        "allowed_per_minute": per_minute,
        "busiest_minute_takes_min": (
            minutes_to_send(minute.emails, per_minute) if minute and per_minute else None
        ),
    }


@tenants_app.command("volume")
def volume(
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant whose schedules count.")],
    days: Annotated[int, typer.Option(min=1, max=31, help="How many days ahead.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of tables.")] = False,
) -> None:
    """Emails the tenant's enabled schedules will send: the busiest minute, hour and day
    ahead (rolling, in UTC), against the provider's allowed volume.

    Example: herald tenants volume --tenant acme --days 7
    """
    settings = Settings()
    specs = run(_live_specs(settings, tenant))
    own = run(_stored(settings, tenant))
    zone = (own.default_timezone if own else None) or settings.default_timezone
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    ahead = forecast(specs, zone, now, timedelta(days=days))
    per_minute, per_day = settings.smtp.max_per_minute, None
    if own is not None and own.email is not None:
        per_minute, per_day = own.email.max_per_minute, own.email.max_per_day
    enabled = sum(s.enabled for s in specs)
    peaks = {span: ahead.peak(span) for span in Span}
    if as_json:
        shown = _as_json(tenant, enabled, ahead, peaks, per_minute)
        shown["allowed_per_day"] = per_day
        shown["over_allowed"] = [
            excess.message() for excess in excesses(ahead, per_minute, per_day)
        ]
        sys.stdout.write(json.dumps(shown) + "\n")
        return
    console.print(
        f"{ahead.total:,} emails from {enabled} enabled schedule(s) of {escape(tenant)}, "
        f"{ahead.start:%Y-%m-%d %H:%M} to {ahead.end:%Y-%m-%d %H:%M} UTC"
    )
    busiest_spans = Table("busiest", "emails", "starting")
    for span, peak in peaks.items():
        busiest_spans.add_row(span.value, f"{peak.emails:,}" if peak else "0", _when(peak))
    console.print(busiest_spans)
    over = excesses(ahead, per_minute, per_day)
    for excess in over:
        console.print(f"[yellow]Over the allowed volume:[/yellow] {escape(excess.message())}")
        if excess.span is Span.MINUTE:
            console.print(
                f"The mailers spread those {excess.peak.emails:,} emails over "
                f"{minutes_to_send(excess.peak.emails, excess.allowed)} minutes."
            )
    if per_minute is None and per_day is None:
        console.print("No allowed volume is set (tenant settings or HERALD_SMTP__MAX_PER_MINUTE).")
    elif not over:
        allowed = [f"{n:,} a {span}" for n, span in ((per_minute, "minute"), (per_day, "day")) if n]
        console.print(f"Within the allowed {' and '.join(allowed)}.")
    busiest = Table("minute", "emails", title="Busiest minutes")
    for peak in ahead.busiest_minutes(_BUSIEST_SHOWN):
        busiest.add_row(_when(peak), f"{peak.emails:,}")
    if ahead.by_minute:
        console.print(busiest)


# --- settings ------------------------------------------------------------------

Tenant = Annotated[str, typer.Option("--tenant", help="The tenant whose settings these are.")]
Expected = Annotated[
    int | None,
    typer.Option(
        "--expected-version", help="Apply only to this version of the settings (0: none yet)."
    ),
]


def _change(tenant: str, expected: int | None, **fields: Any) -> None:
    command = valid_command(
        ChangeTenantSettings, tenant_id=tenant, expected_version=expected, **fields
    )
    accepted = send_command(command)
    console.print(f"settings of {escape(tenant)} now at version {accepted.version}")


@tenants_app.command("show")
def show(
    tenant: Tenant,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of text.")] = False,
) -> None:
    """The tenant's settings as stored; of the password only the key it is sealed with.

    Example: herald tenants show --tenant acme
    """
    state = run(_stored(Settings(), tenant))
    if state is None:
        console.print(f"{escape(tenant)} has no settings of its own: the environment's apply")
        return
    password = state.email.password if state.email else None
    shown = {
        "tenant_id": state.tenant_id,
        "version": state.version,
        "email": state.email.without_secret().model_dump(mode="json") if state.email else None,
        "password": f"sealed with key {password.key_id}" if password else None,
        "branding": state.branding.model_dump(mode="json") if state.branding else None,
        "default_timezone": state.default_timezone,
        "compliance": state.compliance.model_dump(mode="json") if state.compliance else None,
    }
    if as_json:
        sys.stdout.write(json.dumps(shown) + "\n")
        return
    console.print_json(json.dumps(shown))


def _sealed_password(settings: Settings) -> dict[str, str]:
    """The password from standard input, sealed: it is never held longer, nor printed."""
    try:
        public = sealing_key(settings.secrets)
    except ValueError as exc:
        raise fail(f"HERALD_SECRETS__PUBLIC_KEY: {exc}") from exc
    if public is None:
        raise fail("--password-stdin needs HERALD_SECRETS__PUBLIC_KEY (herald keys generate)")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise fail("no password on standard input")
    return seal(public, password).model_dump()


@tenants_app.command("set-email")
def set_email(
    tenant: Tenant,
    host: Annotated[
        str,
        typer.Option(
            help="The SMTP server: a public one (the mailer refuses private, loopback and "
            "link-local addresses unless the operator allows them)."
        ),
    ],
    from_address: Annotated[str, typer.Option("--from", help="The sender address.")],
    port: Annotated[int, typer.Option(help="The SMTP port.")] = 587,
    security: Annotated[SmtpSecurity, typer.Option(help="none, starttls or tls.")] = (
        SmtpSecurity.STARTTLS
    ),
    username: Annotated[str | None, typer.Option(help="The login.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    from_name: Annotated[str | None, typer.Option(help="The sender's display name.")] = None,
    reply_to: Annotated[str | None, typer.Option(help="Where replies go.")] = None,
    max_per_minute: Annotated[
        int | None, typer.Option(help="Emails a minute the provider allows.")
    ] = None,
    max_per_day: Annotated[int | None, typer.Option(help="Emails a day it allows.")] = None,
    enforce_volume: Annotated[
        bool, typer.Option(help="Reject schedules whose forecast exceeds the allowed volume.")
    ] = False,
    expected: Expected = None,
) -> None:
    """Send the tenant's mail through its own SMTP server.

    Without --password-stdin the password stored before is kept (with --username),
    as long as the host, port, security and username stay the same.

    Example: printf '%s\\n' "$PASSWORD" | herald tenants set-email --tenant acme
    --host smtp.acme.com --username reports --password-stdin --from reports@acme.com
    """
    password = _sealed_password(Settings()) if password_stdin else None
    email = {
        "host": host,
        "port": port,
        "security": security,
        "username": username,
        "password": password,
        "from_address": from_address,
        "from_name": from_name,
        "reply_to": reply_to,
        "max_per_minute": max_per_minute,
        "max_per_day": max_per_day,
        "enforce_volume": enforce_volume,
    }
    keep = password is None and username is not None
    _change(tenant, expected, email=email, keep_password=keep)


@tenants_app.command("set-branding")
def set_branding(
    tenant: Tenant,
    name: Annotated[str, typer.Option(help="The platform name emails and PDFs show.")],
    base_url: Annotated[str, typer.Option(help="The platform's address, for links.")],
    colour: Annotated[str, typer.Option(help="The brand colour, #rrggbb.")] = DEFAULT_BRAND_COLOUR,
    subject_prefix: Annotated[
        str | None, typer.Option(help="Before the subject (default: the name).")
    ] = None,
    footer: Annotated[str | None, typer.Option(help="A line at the end of every email.")] = None,
    logo: Annotated[
        Path | None,
        typer.Option(
            help="A PNG, JPEG or SVG file (256 KB at most); an SVG shows in PDFs only, "
            "emails name the platform in text (mail clients show no SVG)."
        ),
    ] = None,
    remove_logo: Annotated[bool, typer.Option(help="Drop the stored logo.")] = False,
    expected: Expected = None,
) -> None:
    """Brand the tenant's emails and PDFs; the logo stored before is kept unless replaced.

    Example: herald tenants set-branding --tenant acme --name "Acme Contact"
    --base-url https://acme.example.com --logo acme.png
    """
    branding: dict[str, Any] = {
        "platform_name": name,
        "platform_base_url": base_url,
        "brand_colour": colour,
        "subject_prefix": subject_prefix,
        "footer_text": footer,
        "remove_logo": remove_logo,
    }
    if logo is not None:
        kind = mimetypes.guess_type(logo.name)[0]
        if kind not in LOGO_TYPES:
            raise fail(f"--logo: {logo.name} is not a PNG, JPEG or SVG file")
        try:
            data = logo.read_bytes()
        except OSError as exc:
            raise fail(f"--logo: {exc}") from exc
        encoded = base64.b64encode(data).decode()
        branding["logo_upload"] = {"filename": logo.name, "content_type": kind, "data": encoded}
    _change(tenant, expected, branding=branding)
    if logo is not None and kind not in EMAIL_LOGO_TYPES:
        console.print(
            "emails show no SVG logo (mail clients do not), only PDFs: a PNG shows in both"
        )


@tenants_app.command("set-timezone")
def set_timezone(
    tenant: Tenant,
    zone: Annotated[str, typer.Argument(help="An IANA zone, e.g. Europe/Paris.")],
    expected: Expected = None,
) -> None:
    """The zone of the tenant's new schedules that name none.

    Example: herald tenants set-timezone --tenant acme Europe/Paris
    """
    _change(tenant, expected, default_timezone=zone)


@tenants_app.command("set-compliance")
def set_compliance(
    tenant: Tenant,
    period: Annotated[
        str, typer.Option(help="The trailing period of the abandon rate: 30d (US) or 24h (UK).")
    ] = "30d",
    threshold: Annotated[
        float, typer.Option(help="Flag a campaign whose outbound abandon rate is above this %.")
    ] = 3.0,
    expected: Expected = None,
) -> None:
    """The regulator's ceiling on outbound abandoned calls that Campaign Summary and
    Compliance flag.

    Example: herald tenants set-compliance --tenant acme --period 24h --threshold 3
    """
    compliance = {"abandon_period": period, "abandon_threshold_pct": threshold}
    _change(tenant, expected, compliance=compliance)


@tenants_app.command("reset")
def reset(
    tenant: Tenant,
    sections: Annotated[
        list[str], typer.Argument(help="email, branding, default_timezone and/or compliance.")
    ],
    expected: Expected = None,
) -> None:
    """Back to the environment's defaults for these sections.

    Example: herald tenants reset --tenant acme email
    """
    _change(tenant, expected, reset=sections)
