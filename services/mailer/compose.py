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

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from shared.messages import ReportRendered
from shared.run_text import period_text, platform_link
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


@dataclass(frozen=True, slots=True)
class Contents:
    """What the email carries besides its text: files, an inline table, or links to files.

    Files above the attachment limit travel as links (`linked`: name and URL);
    an `html` run's table is placed in the body (`inline_html`, already escaped
    by the renderer, which produced it from the report with autoescaping).
    """

    attached: tuple[Attachment, ...] = ()
    linked: tuple[tuple[str, str], ...] = ()
    inline_html: str | None = None


def _header_safe(value: str, what: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderInjection(f"{what} contains a line break: {value!r}")
    return value


def message_id(run_id: str, recipient: str, from_address: str) -> str:
    digest = hashlib.sha256(f"{run_id}\n{recipient.lower()}".encode()).hexdigest()[:40]
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "herald.localhost"
    return f"<{digest}.herald@{domain}>"


def _summary(rendered: ReportRendered, contents: Contents) -> str:
    rows = f"{rendered.rows:,} row{'s' if rendered.rows != 1 else ''}"
    names = [a.filename for a in contents.attached] + [name for name, _ in contents.linked]
    if contents.inline_html is not None:
        extra = f" The full data is attached as {', '.join(names)}." if names else ""
        return f"The report ({rows}) is below.{extra}"
    if contents.linked:
        return f"The report ({rows}) is too large to attach; download it from the links below."
    if names:
        return f"The report ({rows}) is attached as {', '.join(names)}."
    return f"The report ({rows}) is available in the platform."


def compose(
    rendered: ReportRendered,
    recipient: str,
    *,
    branding: BrandingSettings,
    from_address: str,
    contents: Contents,
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
        "summary": _summary(rendered, contents),
        "inline_html": Markup(contents.inline_html or ""),
        "links": contents.linked,
        "link": platform_link(rendered.run, branding),
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
    for attachment in contents.attached:
        maintype, _, subtype = attachment.content_type.partition(";")[0].strip().partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message
