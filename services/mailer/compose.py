"""The report email, built from a `ReportRendered` and the branding settings. Pure: no I/O.

One message per recipient: its Message-ID is derived from the run and the
recipient, so a receiver can drop a duplicate, and each recipient's SMTP
result is known on its own. Header values are checked for line breaks and
control characters before they reach a header, whatever validated them
earlier, and text that looks like an RFC 2047 encoded word is never written
where a reader would decode it.

Every text part and text attachment declares its charset (UTF-8) and travels
7-bit clean (quoted-printable or base64 when it is not ASCII): the mailer does
not ask the server for 8BITMIME, and a reader left to guess takes US-ASCII.
Every report email names where its recipient stops the schedule
(List-Unsubscribe); the SMTP test email, sent once on request, does not, and
says what it is instead of a report's period, filters, links and schedule.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.header import Header
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from email.policy import SMTP, default
from email.utils import format_datetime, parseaddr
from urllib.parse import quote

from cachetools import LRUCache
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from herald.shared.contract.messages import ReportRendered
from herald.shared.contract.tenant_settings import EMAIL_LOGO_TYPES
from herald.shared.runs.text import Logo, change_arrow, period_text, platform_link
from herald.shared.runtime.settings import BrandingSettings

_templates = Environment(
    loader=PackageLoader("herald.services.mailer", "templates"),
    autoescape=select_autoescape(["html", "html.j2"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


#: An address that needs no quoting or encoding in a header.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")
#: Content-ID of the inline logo, referenced by the HTML part as `cid:...`.
LOGO_CID = "logo@herald"


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, but each header's class is made once, and each
    structural header (`_REUSED`) parsed once per value.

    The standard one makes a class (`type()`) for every header it parses, which
    was a tenth of composing a run's email; parsing the MIME headers the email
    package sets and resets on every part (the same few values in every email)
    was another quarter. A parsed header is immutable (folding reads it), so
    one object serves every message.
    """

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}
        self._parsed: LRUCache[tuple[str, str], BaseHeader] = LRUCache(_PARSED_KEPT)

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made

    def __call__(self, name: str, value: str) -> BaseHeader:
        if name.lower() not in _REUSED:
            return self[name](name, value)
        key = (name, value)
        parsed = self._parsed.get(key)
        if parsed is None:
            parsed = self._parsed[key] = self[name](name, value)
        return parsed


#: Headers whose values repeat from email to email (a part's type, encoding and file name).
_REUSED = frozenset(
    {"content-type", "content-transfer-encoding", "content-disposition", "mime-version"}
)
#: Parsed values kept: each email's new boundaries pass through, the common ones stay.
_PARSED_KEPT = 256


#: SMTP's line ends, and no 8-bit body: non-ASCII text is quoted-printable or base64.
_POLICY = SMTP.clone(cte_type="7bit", header_factory=_HeaderClasses())
#: What a URL keeps as is between List-Unsubscribe's angle brackets: RFC 3986's reserved
#: and unreserved characters and `%`. A space, `<`, `>` or non-ASCII (a tenant's platform
#: address may hold them) is percent-encoded, so the header stays one ASCII URL.
_URI_CHARACTERS = ":/?#[]@!$&'()*+,;=%~"


class HeaderInjection(ValueError):
    """A value meant for a header carries a line break."""


class UnusableSender(ValueError):
    """No From or Reply-To header can be written from the sender's settings (a name that
    decodes to a line break): the settings are at fault, not the run."""


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
    #: Images the inline HTML shows as `cid:` (charts), by Content-ID.
    images: tuple[tuple[str, Attachment], ...] = ()


#: What ends a header line for some reader (CR, LF, VT, FF, NEL, U+2028/9, ...) or has no
#: place in one (NUL and the other controls); a tab is folding whitespace, allowed.
_NOT_IN_HEADERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _header_safe(value: str, what: str) -> str:
    if _NOT_IN_HEADERS.search(value):
        raise HeaderInjection(f"{what} contains a line break or control character: {value!r}")
    return value


def _encoded_subject(subject: str) -> bytes:
    """The Subject line with its text encoded whole (RFC 2047), for text holding `=?`.

    Written as is, `=?utf-8?q?=0D=0ABcc...?=` in a title would be decoded by
    the reader (and by Python's own header parser, before sending) into a
    line break and a header of its own; encoded, it reads back literally.
    """
    encoded = Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")
    return b"Subject: " + encoded.encode("ascii") + b"\r\n"


def message_id(run_id: str, recipient: str, from_address: str) -> str:
    digest = hashlib.sha256(f"{run_id}\n{recipient.lower()}".encode()).hexdigest()[:40]
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "herald.localhost"
    return f"<{digest}.herald@{domain}>"


#: What the SMTP test email says it is, in place of a report's period and filters.
_TEST_NOTE = (
    "A test email, sent on request to check that email from {platform} reaches you: "
    "it did, so the email settings work. It belongs to no schedule; nothing more will follow."
)


def _summary(rendered: ReportRendered, contents: Contents) -> str:
    if rendered.run.test:
        attached = ", ".join(a.filename for a in contents.attached)
        return f"The attached {attached} shows that attachments arrive too." if attached else ""
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


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Where a recipient stops the schedule's emails: List-Unsubscribe (RFC 2369, RFC 8058).

    The platform's one-click URL for that recipient when it offers one (then with
    List-Unsubscribe-Post: the mail client unsubscribes by a POST, no page opened),
    else the schedule's page. Written as bytes: Python's email package turns a URL longer than
    a header line into RFC 2047 encoded words, which no reader takes for a URL.
    """

    branding: BrandingSettings
    tenant_id: str
    schedule_id: str

    def headers(self, recipient: str) -> bytes:
        branding, tenant, schedule = self.branding, self.tenant_id, self.schedule_id
        one_click = branding.one_click_unsubscribe(tenant, schedule, recipient)
        url = one_click or branding.schedule_page(tenant, schedule)
        head = f"List-Unsubscribe: <{quote(url, safe=_URI_CHARACTERS)}>\r\n"
        if one_click is not None:
            head += "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        return head.encode("ascii")


@dataclass(frozen=True, slots=True)
class Prepared:
    """A run's email, built and serialised once; each recipient only adds its own headers.

    Building and flattening a MIME message with a 50 KB attachment costs
    milliseconds; a run's recipients all get the same parts, so that cost is
    paid once per run, not once per recipient.
    """

    run_id: str
    from_address: str
    #: Every header but the recipient's own, then the body: SMTP-ready bytes (CRLF).
    rest: bytes
    #: None: no List-Unsubscribe (the SMTP test email).
    unsubscribe: Unsubscribe | None = None


class _Bodies:
    """Bodies (attachments, images) put in after flattening, in their transfer form.

    The email package encodes a base64 body and writes it out line by line in
    Python: for a 50 KB attachment that was half of composing a run's email.
    Each body goes in as a stand-in of 24 random bytes instead, whose one line
    is then replaced by the body's `_transfer_form`. Random, the stand-in's
    line is nowhere else in the message.
    """

    def __init__(self) -> None:
        self._bodies: dict[bytes, bytes] = {}

    def stand_in(self, data: bytes, maintype: str) -> tuple[bytes, str]:
        """The stand-in to add in `data`'s place, and the transfer encoding to add it with."""
        cte, body = _transfer_form(data, text=maintype == "text")
        token = secrets.token_bytes(24)
        if cte == _AS_IS:  # the stand-in goes in as it is: its line is its hex
            token = token.hex().encode()
            self._bodies[token] = body
        else:  # base64: its line is its encoding
            self._bodies[base64.b64encode(token) + b"\r\n"] = body
        return token, cte

    def put_in(self, flat: bytes) -> bytes:
        for line, body in self._bodies.items():
            before, found, after = flat.partition(line)
            if not found:
                raise AssertionError("a body's stand-in is missing from the message")
            flat = before + body + after
        return flat


#: SMTP's limit on a line, without its CRLF (RFC 5321, 4.5.3.1.6).
_MAX_LINE = 998
_AS_IS, _BASE64 = "7bit", "base64"
#: Bodies kept in their transfer form (32 MB), by their bytes: the runs that share a render
#: attach the same file, which the artifact cache mostly holds anyway.
_FORMS: LRUCache[tuple[bool, bytes], tuple[str, bytes]] = LRUCache(
    maxsize=32 * 2**20, getsizeof=lambda form: len(form[1])
)


def _transfer_form(data: bytes, *, text: bool) -> tuple[str, bytes]:
    """How `data` travels, worked out once per distinct body.

    Text that is ASCII in CRLF lines SMTP takes (`_MAX_LINE`) travels as it
    is: a CSV a quarter smaller than in base64, with nothing for the server
    to decode. Anything else goes in base64's 76-character CRLF lines,
    encoded in C. A shared render's file reaches the mailer as one `bytes`
    object (its artifact cache), whose hash Python keeps: a repeat costs a
    lookup.
    """
    form = _FORMS.get((text, data))
    if form is None:
        crlf = data.count(b"\r\n")
        as_is = (
            text
            and data.isascii()
            and b"\0" not in data
            and data.count(b"\r") == crlf == data.count(b"\n")
            and max(map(len, data.split(b"\r\n"))) <= _MAX_LINE
        )
        if as_is:
            form = (_AS_IS, data)
        else:
            form = (_BASE64, base64.encodebytes(data).replace(b"\n", b"\r\n"))
        if len(form[1]) <= _FORMS.maxsize:
            _FORMS[(text, data)] = form
    return form


def _set_boundaries(message: EmailMessage) -> None:
    """Random boundaries, drawn once the text is set, so that no part can hold one (nor a
    body put in later: base64 has no `-`, and a text sent as it is would have to hold
    128 random bits).

    Left to the email package, each would be checked by compiling a pattern for
    it and searching the flattened parts: a tenth of composing a run's email.
    """
    for part in message.walk():
        if part.is_multipart():
            part.set_boundary(f"=_{secrets.token_hex(16)}")


def prepare(
    rendered: ReportRendered,
    *,
    branding: BrandingSettings,
    from_address: str,
    contents: Contents,
    now: datetime,
    logo: Logo | None = None,
    reply_to: str | None = None,
) -> Prepared:
    """The run's email; a `logo` file travels inline (a related part), else `logo_url` is linked.

    An SVG `logo` stays out (`EMAIL_LOGO_TYPES`): the platform's name heads the email alone.
    """
    if logo is not None and logo.content_type not in EMAIL_LOGO_TYPES:
        logo = None
    run = rendered.run
    period = period_text(run.window)
    context = {
        "platform_name": branding.platform_name,
        "logo_src": f"cid:{LOGO_CID}" if logo is not None else branding.logo_url,
        "title": rendered.title,
        "period": period,
        "timezone": run.window.timezone,
        "filters_summary": rendered.filters_summary,
        "tiles": [(tile, change_arrow(tile.change)) for tile in rendered.headlines],
        "summary": _summary(rendered, contents),
        "notes": rendered.notes,
        "inline_html": Markup(contents.inline_html or ""),
        "links": contents.linked,
        # The SMTP test email has no report in the platform to open, no figures, no schedule.
        "test": run.test,
        "test_note": _TEST_NOTE.format(platform=branding.platform_name),
        "link": None if run.test else platform_link(run, branding),
        # The inline HTML table ends with this link already (the renderer's footer).
        "definitions": branding.definitions_link(),
        "schedule_name": run.schedule_name,
        "footer_text": branding.footer_text,
        "brand_colour": branding.brand_colour,
    }
    message = EmailMessage(policy=_POLICY)
    prefix = branding.platform_name if branding.subject_prefix is None else branding.subject_prefix
    subject = f"{rendered.title}, {period}"
    subject = _header_safe(f"{prefix}: {subject}" if prefix else subject, "subject")
    encoded_subject = _encoded_subject(subject) if "=?" in subject else b""
    if not encoded_subject:
        message["Subject"] = subject
    try:
        message["From"] = _header_safe(from_address, "from address")
        if reply_to is not None:
            message["Reply-To"] = _header_safe(reply_to, "reply-to address")
    except ValueError as exc:
        raise UnusableSender(str(exc)) from exc
    message["Date"] = format_datetime(now)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Herald-Run-ID"] = _header_safe(run.run_id, "run id")
    message.set_content(_templates.get_template("email.txt.j2").render(context))
    message.add_alternative(
        _templates.get_template("email.html.j2").render(context), subtype="html"
    )
    bodies = _Bodies()
    related = [(cid, image) for cid, image in contents.images]
    if logo is not None:
        related.insert(0, (LOGO_CID, Attachment(logo.filename, logo.content_type, logo.data)))
    if related:
        html_part = message.get_body(("html",))
        assert html_part is not None
        for cid, image in related:
            maintype, subtype, params = _content_type(image.content_type)
            stand_in, cte = bodies.stand_in(image.data, maintype)
            html_part.add_related(
                stand_in,
                maintype=maintype,
                subtype=subtype,
                cid=f"<{cid}>",
                filename=image.filename,
                disposition="inline",
                params=params,
                cte=cte,
            )
    for attachment in contents.attached:
        maintype, subtype, params = _content_type(attachment.content_type)
        stand_in, cte = bodies.stand_in(attachment.data, maintype)
        message.add_attachment(
            stand_in,
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename,
            params=params,
            cte=cte,
        )
    unsubscribe = (
        None if run.test else Unsubscribe(branding, rendered.tenant_id, rendered.schedule_id)
    )
    _set_boundaries(message)
    rest = encoded_subject + bodies.put_in(message.as_bytes())
    return Prepared(run.run_id, from_address, rest, unsubscribe)


def _content_type(value: str) -> tuple[str, str, dict[str, str]]:
    """Type, subtype and parameters of a stored artifact's (or the logo's) content type.

    The parameters travel with the attachment: without a CSV's `charset=utf-8`
    a reader takes text/csv as US-ASCII, and "Zürich" reads "Z��rich". Herald
    writes every text artifact in UTF-8, so one stored without the parameter
    gets it here.
    """
    header = Message()
    header["Content-Type"] = value
    params = dict((header.get_params() or [])[1:])
    maintype = header.get_content_maintype()
    if maintype == "text":
        params.setdefault("charset", "utf-8")
    return maintype, header.get_content_subtype(), params


def recipient_head(prepared: Prepared, recipient: str) -> bytes:
    """One recipient's own headers (To, Message-ID, List-Unsubscribe), CRLF-terminated, to
    go before `rest`."""
    to = _header_safe(recipient, "recipient")
    if "=?" in to:  # RFC 2047 forbids encoded words in an address; readers decode them anyway
        raise HeaderInjection(f"recipient contains encoded-word syntax: {to!r}")
    mid = message_id(prepared.run_id, recipient, prepared.from_address)
    unsubscribe = b"" if prepared.unsubscribe is None else prepared.unsubscribe.headers(to)
    if to.isascii() and _PLAIN_ADDRESS.fullmatch(to):
        # The common case, written directly: a big run's recipients pay microseconds here.
        return f"To: {to}\r\nMessage-ID: {mid}\r\n".encode() + unsubscribe
    headers = EmailMessage(policy=SMTP)
    headers["To"] = Address(addr_spec=to)
    headers["Message-ID"] = mid
    return headers.as_bytes()[: -len(b"\r\n")] + unsubscribe  # less the blank line ending them


def for_recipient(prepared: Prepared, recipient: str) -> bytes:
    """The SMTP-ready bytes for one recipient: its own headers, then the shared rest."""
    return recipient_head(prepared, recipient) + prepared.rest


def compose(
    rendered: ReportRendered,
    recipient: str,
    *,
    branding: BrandingSettings,
    from_address: str,
    contents: Contents,
    now: datetime,
    logo: Logo | None = None,
) -> EmailMessage:
    """One recipient's email as a message object (what a mail client would parse)."""
    prepared = prepare(
        rendered,
        branding=branding,
        from_address=from_address,
        contents=contents,
        now=now,
        logo=logo,
    )
    parsed = message_from_bytes(for_recipient(prepared, recipient), policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed
