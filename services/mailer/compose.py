"""The report email, built from a `ReportRendered` and the branding settings. Pure: no I/O.

One message per recipient: its Message-ID is derived from the run and the
recipient, so a receiver can drop a duplicate, and each recipient's SMTP
result is known on its own. Header values are checked for CR/LF before they
reach a header, whatever validated them earlier.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from shared.messages import DataWindow, ReportRendered
from shared.settings import BrandingSettings

_templates = Environment(
    loader=PackageLoader("services.mailer", "templates"),
    autoescape=select_autoescape(["html", "html.j2"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


class HeaderInjection(ValueError):
    """A value meant for a header carries a line break."""


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


def _header_safe(value: str, what: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderInjection(f"{what} contains a line break: {value!r}")
    return value


def message_id(run_id: str, recipient: str, from_address: str) -> str:
    digest = hashlib.sha256(f"{run_id}\n{recipient.lower()}".encode()).hexdigest()[:40]
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "herald.localhost"
    return f"<{digest}.herald@{domain}>"


def period_text(window: DataWindow) -> str:
    """Local dates of a half-open window: `2026-11-26` or `2026-11-20 to 2026-11-26`."""
    first, last = window.local_dates()
    if first == last:
        return first.isoformat()
    return f"{first.isoformat()} to {last.isoformat()}"


def platform_link(rendered: ReportRendered, branding: BrandingSettings) -> str:
    run = rendered.run
    query: list[tuple[str, str]] = [
        ("start", run.window.start.isoformat()),
        ("end", run.window.end.isoformat()),
        ("tz", run.window.timezone),
    ]
    query += [("campaign", c) for c in run.filters.campaign_ids]
    query += [("agent", a) for a in run.filters.agent_ids]
    base = branding.platform_base_url.rstrip("/")
    return f"{base}/reports/{run.report.kind}/{run.report.id}?{urlencode(query)}"


def _summary(rendered: ReportRendered, attachment: Attachment | None) -> str:
    rows = f"{rendered.rows} row{'s' if rendered.rows != 1 else ''}"
    if attachment is not None:
        return f"The report ({rows}) is attached as {attachment.filename}."
    return f"The report ({rows}) is available in the platform."


def compose(
    rendered: ReportRendered,
    recipient: str,
    *,
    branding: BrandingSettings,
    from_address: str,
    attachment: Attachment | None,
    now: datetime,
) -> EmailMessage:
    run = rendered.run
    period = period_text(run.window)
    context = {
        "platform_name": branding.platform_name,
        "logo_src": branding.logo_url,
        "title": rendered.title,
        "period": period,
        "timezone": run.window.timezone,
        "filters_summary": rendered.filters_summary,
        "summary": _summary(rendered, attachment),
        "link": platform_link(rendered, branding),
        "schedule_name": run.schedule_name,
    }
    message = EmailMessage()
    message["Subject"] = _header_safe(
        f"{branding.platform_name}: {rendered.title}, {period}", "subject"
    )
    message["From"] = _header_safe(from_address, "from address")
    message["To"] = Address(addr_spec=_header_safe(recipient, "recipient"))
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(run.run_id, recipient, from_address)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Herald-Run-ID"] = _header_safe(run.run_id, "run id")
    message.set_content(_templates.get_template("email.txt.j2").render(context))
    message.add_alternative(
        _templates.get_template("email.html.j2").render(context), subtype="html"
    )
    if attachment is not None:
        maintype, _, subtype = attachment.content_type.partition(";")[0].strip().partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message
