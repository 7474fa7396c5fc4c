from __future__ import annotations

import email
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from urllib.parse import parse_qs, urlsplit

import pytest

from herald.services.mailer.compose import (
    LOGO_CID,
    Attachment,
    Contents,
    HeaderInjection,
    compose,
    message_id,
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


def _rendered(title: str = "Campaign Summary") -> ReportRendered:
    run = run_details(
        schedule_name="Morning <Brief>",
        filters=Filters(campaign_ids=["solar"]),
        window=DataWindow(
            start=datetime(2026, 11, 19, 23, tzinfo=UTC),
            end=datetime(2026, 11, 26, 23, tzinfo=UTC),
            timezone="Europe/Berlin",
        ),
    )
    return report_rendered(
        run,
        filename="campaign-summary_2026-11-20_2026-11-26.csv",
        size=12,
        rows=2,
        sha256="x",
        title=title,
        filters_summary=run.filters.summary(),
    )


def _parsed(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(message.as_bytes(), policy=default_policy)
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
    assert parse_qs(url.query)["campaign"] == ["solar"]


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
