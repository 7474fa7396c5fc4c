from __future__ import annotations

import email
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.policy import default as default_policy
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from herald.services.mailer.compose import (
    LOGO_CID,
    Attachment,
    Contents,
    HeaderInjection,
    compose,
    for_recipient,
    message_id,
    prepare,
)
from herald.shared.contract.messages import DataWindow, ReportRendered
from herald.shared.contract.schedule_spec import Filters
from herald.shared.runs.text import Logo
from herald.shared.runtime.settings import BrandingSettings
from tests.samples import report_rendered, run_details

BRANDING = BrandingSettings(
    platform_name="Dialer Pro",
    logo_url="https://cdn.example.com/logo.png",
    platform_base_url="https://app.example.com/",
)
FROM = "Reports <reports@mail.example.com>"
ZURICH = "Rückgewinnung \u2013 Mitglieder (Zürich)"
#: The renderer's line for campaigns `winback` and `care` (`filter_names`).
NAMED = f"Campaigns: {ZURICH}, Care"


def _rendered(title: str = "Campaign Summary", **run: Any) -> ReportRendered:
    details = run_details(
        schedule_name="Morning <Brief>",
        filters=Filters(campaign_ids=["winback", "care"]),
        window=DataWindow(
            start=datetime(2026, 11, 19, 23, tzinfo=UTC),
            end=datetime(2026, 11, 26, 23, tzinfo=UTC),
            timezone="Europe/Berlin",
        ),
        **run,
    )
    return report_rendered(
        details,
        filename="campaign-summary_2026-11-20_2026-11-26.csv",
        size=12,
        rows=2,
        sha256="x",
        title=title,
        filters_summary=NAMED,
    )


def _parsed(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(policy=SMTP), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_the_email_parses_back_with_its_parts_and_headers() -> None:
    data = b"Campaign,Dialed\r\nsolar,10\r\n"
    message = compose(
        _rendered(),
        "ops@example.com",
        branding=BRANDING,
        from_address=FROM,
        contents=Contents(
            attached=(
                Attachment(
                    "campaign-summary_2026-11-20_2026-11-26.csv", "text/csv; charset=utf-8", data
                ),
            )
        ),
        now=datetime(2026, 11, 27, 8, 1, tzinfo=UTC),
    )
    parsed = _parsed(message)
    assert parsed["Subject"] == "Dialer Pro: Campaign Summary, 2026-11-20 to 2026-11-26"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Message-ID"] == message_id(
        "s-1@2026-11-27T08:00:00+00:00", "ops@example.com", FROM
    )
    assert parsed["Message-ID"].endswith("@mail.example.com>")
    assert parsed.get_content_type() == "multipart/mixed"
    body = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert body is not None
    assert html is not None
    html_text = html.get_content()
    assert "https://cdn.example.com/logo.png" in html_text
    assert "Morning &lt;Brief&gt;" in html_text  # autoescaped
    assert "Europe/Berlin" in body.get_content()
    (attached,) = parsed.iter_attachments()
    assert attached.get_filename() == "campaign-summary_2026-11-20_2026-11-26.csv"
    assert attached.get_payload(decode=True) == data
    link = next(line for line in body.get_content().splitlines() if "https://" in line)
    url = urlsplit(link.split(": ", 1)[1])
    assert url.path == "/reports/standard/campaign_summary"
    assert parse_qs(url.query)["campaign"] == ["winback", "care"]


def test_a_csv_attachment_keeps_its_charset_so_names_read_right() -> None:
    data = "Campaign,Dialed\r\nRückgewinnung \u2013 Mitglieder (Zürich),10\r\n".encode()
    message = compose(
        _rendered(),
        "ops@example.com",
        branding=BRANDING,
        from_address=FROM,
        contents=Contents(attached=(Attachment("c.csv", "text/csv; charset=utf-8", data),)),
        now=datetime(2026, 11, 27, 8, 1, tzinfo=UTC),
    )
    (attached,) = _parsed(message).iter_attachments()
    assert attached.get_content_type() == "text/csv"
    assert attached.get_content_charset() == "utf-8"
    assert attached.get_content() == data.decode()


def test_message_id_is_stable_per_run_and_recipient() -> None:
    a = message_id("run-1", "X@example.com", FROM)
    assert a == message_id("run-1", "x@example.com", FROM)
    assert a != message_id("run-1", "y@example.com", FROM)
    assert a != message_id("run-2", "x@example.com", FROM)


@pytest.mark.parametrize(
    ("title", "recipient"),
    [
        ("Summary\r\nBcc: victim@example.com", "ops@example.com"),
        ("Summary", "a@example.com\nBcc: b@example.com"),
    ],
)
def test_line_breaks_never_reach_a_header(title: str, recipient: str) -> None:
    with pytest.raises(HeaderInjection):
        compose(
            _rendered(title),
            recipient,
            branding=BRANDING,
            from_address=FROM,
            contents=Contents(),
            now=datetime(2026, 11, 27, tzinfo=UTC),
        )


def test_an_inline_table_sits_in_the_html_body_and_the_text_points_to_it() -> None:
    table = '<table><tr><td>Solar &lt;b&gt;</td><td style="text-align:right">10</td></tr></table>'
    message = compose(
        _rendered(),
        "ops@example.com",
        branding=BRANDING,
        from_address=FROM,
        contents=Contents(inline_html=table),
        now=datetime(2026, 11, 27, tzinfo=UTC),
    )
    parsed = _parsed(message)
    html_body = parsed.get_body(("html",))
    assert html_body is not None
    assert table in html_body.get_content()  # placed as is, not escaped a second time
    text = parsed.get_body(("plain",))
    assert text is not None
    assert "The report (2 rows) is below." in text.get_content()
    assert "HTML version of this email" in text.get_content()
    assert not list(parsed.iter_attachments())


def test_files_too_large_to_attach_travel_as_links() -> None:
    url = BRANDING.artifact_url("s-1@2026-11-27T08:00:00+00:00/pdf")
    message = compose(
        _rendered(),
        "ops@example.com",
        branding=BRANDING,
        from_address=FROM,
        contents=Contents(linked=(("report.pdf", url),)),
        now=datetime(2026, 11, 27, tzinfo=UTC),
    )
    parsed = _parsed(message)
    assert not list(parsed.iter_attachments())
    text = parsed.get_body(("plain",))
    assert text is not None
    assert f"report.pdf: {url}" in text.get_content()
    assert "/herald/artifacts/s-1%402026-11-27T08%3A00%3A00%2B00%3A00%2Fpdf" in url
    html_body = parsed.get_body(("html",))
    assert html_body is not None
    assert f'href="{url}"' in html_body.get_content()


def test_a_logo_file_travels_inline_as_a_related_part() -> None:
    logo = Logo("logo.png", "image/png", b"\x89PNG\r\n\x1a\nfake")
    message = compose(
        _rendered(),
        "ops@example.com",
        branding=BRANDING,
        from_address=FROM,
        contents=Contents(),
        now=datetime(2026, 11, 27, tzinfo=UTC),
        logo=logo,
    )
    parsed = _parsed(message)
    html_body = parsed.get_body(("html",))
    assert html_body is not None
    assert f'src="cid:{LOGO_CID}"' in html_body.get_content()
    related = next(p for p in parsed.walk() if p.get_content_type() == "multipart/related")
    image = next(p for p in related.iter_parts() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == f"<{LOGO_CID}>"
    assert image.get_payload(decode=True) == logo.data
    assert not list(parsed.iter_attachments())  # inline, not an attachment


def test_an_svg_logo_stays_out_of_the_email_whose_heading_names_the_platform() -> None:
    """Gmail and Outlook show no SVG: sent, the logo would be a broken image (the PDF has it)."""
    logo = Logo("logo.svg", "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    message = compose(
        _rendered(),
        "ops@example.com",
        branding=BRANDING.model_copy(update={"logo_url": None}),
        from_address=FROM,
        contents=Contents(),
        now=datetime(2026, 11, 27, tzinfo=UTC),
        logo=logo,
    )
    parsed = _parsed(message)
    assert [
        p.get_content_type() for p in parsed.walk() if p.get_content_maintype() == "image"
    ] == []
    html_body = parsed.get_body(("html",))
    assert html_body is not None
    html_text = html_body.get_content()
    assert "<img" not in html_text
    assert ">Dialer Pro</span>" in html_text


def test_files_travel_in_the_email_packages_own_base64_lines() -> None:
    """Attachments and inline images are encoded apart from the rest (`_Bodies`), to the byte
    what the email package writes: 76-character lines, the last one short, none for no data."""
    noise = bytes(range(256)) * 200
    files = [noise[:size] for size in (0, 1, 57, 58, 50 * 1024)]
    contents = Contents(
        attached=tuple(
            Attachment(f"{n}.pdf", "application/pdf", data) for n, data in enumerate(files)
        ),
        images=(("chart@herald", Attachment("chart.png", "image/png", noise[:3000])),),
    )
    now = datetime(2026, 11, 27, tzinfo=UTC)
    logo = Logo("logo.png", "image/png", noise[:700])
    prepared = prepare(
        _rendered(), branding=BRANDING, from_address=FROM, contents=contents, now=now, logo=logo
    )
    parsed = email.message_from_bytes(for_recipient(prepared, "ops@example.com"))
    sent = [p for p in parsed.walk() if p["Content-Transfer-Encoding"] == "base64"]
    assert [p.get_payload(decode=True) for p in sent] == [noise[:700], noise[:3000], *files]
    for part in sent:
        data, lines = part.get_payload(decode=True), part.get_payload()
        assert isinstance(data, bytes)
        assert isinstance(lines, str)
        expected = EmailMessage(policy=SMTP)
        expected.set_content(data, part.get_content_maintype(), part.get_content_subtype())
        assert lines.replace("\r\n", "\n") == expected.get_payload()


def test_text_files_in_smtp_ready_lines_travel_as_they_are_and_others_in_base64() -> None:
    """A CSV of ASCII in CRLF lines of at most 998 characters is the wire form itself."""
    plain = b"Campaign,Dialed\r\n" + b"solar,10\r\n" * 3000
    not_plain = {
        "non-ascii.csv": "Zürich,3\r\n".encode(),
        "bare-lf.csv": b"solar,10\nwind,3\n",
        "bare-cr.csv": b"solar,10\rwind,3\r\n",
        "long-line.csv": b"x" * 999 + b"\r\n",
        "nul.csv": b"solar\0,10\r\n",
    }
    longest = b"x" * 998 + b"\r\n"
    files = {"plain.csv": plain, "longest.csv": longest, **not_plain}
    contents = Contents(
        attached=tuple(Attachment(name, "text/csv", data) for name, data in files.items())
    )
    prepared = prepare(
        _rendered(),
        branding=BRANDING,
        from_address=FROM,
        contents=contents,
        now=datetime(2026, 11, 27, tzinfo=UTC),
    )
    wire = for_recipient(prepared, "ops@example.com")
    assert plain in wire
    parsed = email.message_from_bytes(wire, policy=default_policy)
    encodings = {
        part.get_filename(): (part["Content-Transfer-Encoding"], part.get_payload(decode=True))
        for part in parsed.iter_attachments()
    }
    assert encodings == {
        "plain.csv": ("7bit", plain),
        "longest.csv": ("7bit", longest),
        **{name: ("base64", data) for name, data in not_plain.items()},
    }


def test_emails_composed_one_after_another_each_carry_their_own_parts() -> None:
    """What composing reuses between emails (parsed MIME headers, encoded bodies) never
    carries one email's file, name or type into the next."""
    now = datetime(2026, 11, 27, tzinfo=UTC)
    shared = bytes(range(256)) * 100
    same_size = bytes(reversed(shared))
    sent = [
        ("a.csv", "text/csv", shared),
        ("b.pdf", "application/pdf", shared),  # the same bytes: a shared render
        ("a.csv", "text/csv", same_size),
        ("c.pdf", "application/pdf", shared),
    ]
    for filename, content_type, data in sent:
        contents = Contents(attached=(Attachment(filename, content_type, data),))
        prepared = prepare(
            _rendered(), branding=BRANDING, from_address=FROM, contents=contents, now=now
        )
        parsed = email.message_from_bytes(
            for_recipient(prepared, "ops@example.com"), policy=default_policy
        )
        assert isinstance(parsed, EmailMessage)
        [attached] = list(parsed.iter_attachments())
        assert attached.get_filename() == filename
        assert attached.get_content_type() == content_type
        assert attached.get_payload(decode=True) == data
        boundaries = {p.get_boundary() for p in parsed.walk() if p.is_multipart()}
        assert len(boundaries) == 2  # mixed and alternative, each its own


def test_the_subject_prefix_is_configurable() -> None:
    plain = BRANDING.model_copy(update={"subject_prefix": ""})
    message = compose(
        _rendered(),
        "ops@example.com",
        branding=plain,
        from_address=FROM,
        contents=Contents(),
        now=datetime(2026, 11, 27, tzinfo=UTC),
    )
    assert message["Subject"] == "Campaign Summary, 2026-11-20 to 2026-11-26"


def _email(
    rendered: ReportRendered,
    recipient: str = "ops@example.com",
    branding: BrandingSettings = BRANDING,
) -> EmailMessage:
    """As received: parsed from the bytes sent, not flattened again (that refolds headers)."""
    now = datetime(2026, 11, 27, tzinfo=UTC)
    return compose(
        rendered, recipient, branding=branding, from_address=FROM, contents=Contents(), now=now
    )


def _text_parts(message: EmailMessage) -> list[EmailMessage]:
    return [
        part
        for part in message.walk()
        if isinstance(part, EmailMessage) and part.get_content_maintype() == "text"
    ]


def test_every_text_part_and_attachment_declares_utf8_and_travels_7bit_clean() -> None:
    csv_data = f"Campaign,Dialed\r\n{ZURICH},10\r\n".encode()
    contents = Contents(
        attached=(
            Attachment("c.csv", "text/csv; charset=utf-8", csv_data),
            # Stored without its charset (as an older render was): Herald writes UTF-8.
            Attachment("full.csv", "text/csv", csv_data),
        ),
        inline_html=f"<table><tr><td>{ZURICH}</td></tr></table>",
    )
    raw = for_recipient(
        prepare(
            _rendered(),
            branding=BRANDING,
            from_address=FROM,
            contents=contents,
            now=datetime(2026, 11, 27, tzinfo=UTC),
        ),
        "ops@example.com",
    )
    assert raw.isascii()  # no 8-bit body: the mailer never asks the server for 8BITMIME
    parsed = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    parts = _text_parts(parsed)
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "text/html",
        "text/csv",
        "text/csv",
    ]
    for part in parts:
        assert part.get_param("charset") == "utf-8", part.get_content_type()
        assert part["Content-Transfer-Encoding"] in ("quoted-printable", "base64", "7bit")
    plain, html, *csvs = parts
    assert NAMED in plain.get_content()
    assert NAMED in html.get_content()
    assert ZURICH in html.get_content()  # the inline table, read back whole
    assert [c.get_content() for c in csvs] == [csv_data.decode()] * 2


def test_the_filter_line_names_campaigns_and_the_link_carries_their_ids() -> None:
    parsed = _email(_rendered())
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None
    assert html is not None
    assert NAMED in text.get_content().splitlines()
    assert f'<p style="margin:4px 0 0 0;color:#52606d;font-size:13px;">{NAMED}</p>' in (
        html.get_content()
    )
    link = next(line for line in text.get_content().splitlines() if line.startswith("Open in"))
    url = urlsplit(link.split(": ", 1)[1])
    assert parse_qs(url.query)["campaign"] == ["winback", "care"]
    assert "winback" not in text.get_content().replace(link, "")  # ids in the link alone


def test_list_unsubscribe_links_the_schedule_page_of_its_tenant() -> None:
    rendered = _rendered().model_copy(update={"tenant_id": "acme eu", "schedule_id": "brief@8"})
    parsed = _email(rendered)
    assert parsed["List-Unsubscribe"] == (
        "<https://app.example.com/herald/schedules/acme%20eu/brief%408>"
    )
    assert "List-Unsubscribe-Post" not in parsed  # the page is no one-click unsubscribe


def test_a_platform_schedule_url_template_is_used_as_set() -> None:
    branding = BRANDING.model_copy(
        update={"schedule_url": "https://cc.example/t/{tenant_id}/reports?schedule={schedule_id}"}
    )
    parsed = _email(_rendered(), branding=branding)
    assert parsed["List-Unsubscribe"] == "<https://cc.example/t/acme/reports?schedule=s-1>"


ONE_CLICK = (
    "{platform_base_url}/unsubscribe?tenant={tenant_id}&schedule={schedule_id}&to={recipient}"
)


@pytest.mark.parametrize("recipient", ["ops+eu@example.com", "jurgen@bücher.de"])
def test_a_one_click_url_names_the_recipient_and_adds_the_post_header(recipient: str) -> None:
    branding = BrandingSettings.model_validate(
        BRANDING.model_dump() | {"unsubscribe_url": ONE_CLICK}
    )
    parsed = _email(_rendered(), recipient, branding=branding)
    header = parsed["List-Unsubscribe"]
    assert header.startswith("<https://app.example.com/unsubscribe?tenant=acme&schedule=s-1&to=")
    url = urlsplit(header.strip("<>"))
    assert parse_qs(url.query)["to"] == [recipient]
    assert str(header).isascii()
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_no_one_click_where_the_tenants_platform_is_plain_http() -> None:
    branding = BrandingSettings.model_validate(
        BRANDING.model_dump()
        | {"unsubscribe_url": ONE_CLICK, "platform_base_url": "http://cc.local"}
    )
    parsed = _email(_rendered(), branding=branding)
    assert parsed["List-Unsubscribe"] == "<http://cc.local/herald/schedules/acme/s-1>"
    assert "List-Unsubscribe-Post" not in parsed


def test_a_long_unsubscribe_url_stays_one_url_not_encoded_words() -> None:
    parsed = _email(
        _rendered(),
        "a-rather-long-recipient-name@example.com",
        branding=BRANDING.model_copy(update={"platform_base_url": "https://" + "p" * 80}),
    )
    header = parsed["List-Unsubscribe"]
    assert header == f"<https://{'p' * 80}/herald/schedules/acme/s-1>"


def test_the_smtp_test_email_says_what_it_is_without_a_reports_links_or_schedule() -> None:
    """It linked /reports/test/delivery_test (a page no platform has), named a schedule
    "SMTP test email" to change or stop, and showed filters and how figures are computed."""
    csv = Attachment("herald-test-email_2026-11-26.csv", "text/csv", b"Check\r\nSMTP\r\n")
    message = compose(
        _rendered("Herald test email", test=True),
        "ops@example.com",
        branding=BRANDING.model_copy(update={"footer_text": "Dialer Pro Ltd"}),
        from_address=FROM,
        contents=Contents(attached=(csv,)),
        now=datetime(2026, 11, 27, tzinfo=UTC),
    )
    parsed = _parsed(message)
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None
    assert html is not None
    for body in (text.get_content(), html.get_content()):
        words = " ".join(body.split())
        assert "A test email, sent on request to check that email from Dialer Pro reaches you" in (
            words
        )
        assert f"The attached {csv.filename} shows that attachments arrive too." in words
        assert "Sent once, on request; no schedule sends it." in words
        assert "Dialer Pro Ltd" in words
        for absent in ("/reports/", "Open in", "schedule &ldquo;", 'schedule "', NAMED, "How"):
            assert absent not in body, absent
        assert "rows" not in words
    assert [a.get_filename() for a in parsed.iter_attachments()] == [csv.filename]


def test_the_smtp_test_email_has_no_list_unsubscribe() -> None:
    parsed = _email(_rendered(test=True))
    assert "List-Unsubscribe" not in parsed
    assert "List-Unsubscribe-Post" not in parsed


@pytest.mark.parametrize(
    ("field", "template"),
    [
        ("schedule_url", "{platform_base_url}/schedules/{schedule_id}"),  # no tenant
        ("schedule_url", "/schedules/{tenant_id}/{schedule_id}"),  # no scheme
        ("schedule_url", "{platform_base_url}/{tenant_id}/{schedule_id}/{recipient}"),
        ("unsubscribe_url", "http://cc.example/u/{tenant_id}/{schedule_id}/{recipient}"),
        ("unsubscribe_url", "https://cc.example/u/{tenant_id}/{schedule_id}"),  # whom?
        ("unsubscribe_url", "https://cc.example/u/{tenant_id}/{schedule_id}/{recipient!r}"),
    ],
)
def test_link_templates_are_checked_at_start(field: str, template: str) -> None:
    with pytest.raises(ValidationError):
        BrandingSettings.model_validate({field: template})


def test_the_email_links_the_definitions_of_the_figures() -> None:
    parsed = _email(_rendered())
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None
    assert html is not None
    definitions = BRANDING.definitions_link()
    assert f"How these figures are computed: {definitions}" in text.get_content()
    assert f'<a href="{definitions}"' in html.get_content()


def test_the_reports_notes_are_in_both_bodies_escaped_in_the_html() -> None:
    notes = [
        "Hours are local to Europe/Berlin, the zone calls are recorded in.",
        "Agent filter: abandoned calls reach <no> agent, so abandon rates are left empty.",
    ]
    parsed = _parsed(_email(_rendered().model_copy(update={"notes": notes})))
    text = parsed.get_body(("plain",))
    html_body = parsed.get_body(("html",))
    assert text is not None
    assert html_body is not None
    lines = text.get_content().splitlines()
    assert lines[lines.index(notes[0]) + 1] == notes[1]
    html_text = html_body.get_content()
    assert f">{notes[0]}</p>" in html_text
    assert "reach &lt;no&gt; agent" in html_text
    without = _parsed(_email(_rendered())).get_body(("html",))
    assert without is not None
    assert "zone calls are recorded in" not in without.get_content()
