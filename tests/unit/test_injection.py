"""Header and template injection, where the text is composed (pure): the email and its parts.

Every user- or operator-supplied text that reaches the email (report title,
subject prefix, platform name, schedule name, filters, recipient) either is
rejected where it is given, with the field named, or reaches the bytes
without starting a header or a template expression of its own: each email is
parsed back and its header set must be exactly the expected one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from herald.services.mailer.compose import Contents, HeaderInjection, for_recipient, prepare
from herald.services.renderer.reports.custom_definitions import CustomReport
from herald.services.scheduler import commands
from herald.shared.contract.messages import CommandRejected, DataWindow, ReportRendered
from herald.shared.contract.schedule_spec import ReportRef
from herald.shared.runs.recipients import ANY_DOMAIN
from herald.shared.runtime.settings import BrandingSettings
from tests.fakes.scheduler import parse_keyed
from tests.samples import report_rendered, run_details

BRANDING = BrandingSettings(platform_name="Dialer Pro")
FROM = "Reports <reports@mail.example.com>"
PERIOD = "2026-11-20 to 2026-11-26"
#: The headers of every report email, each exactly once.
HEADERS = {
    "To",
    "Message-ID",
    "List-Unsubscribe",
    "Subject",
    "From",
    "Date",
    "Auto-Submitted",
    "X-Herald-Run-ID",
    "MIME-Version",
    "Content-Type",
}
#: Characters that end a header line for some reader, or have no place in one.
BREAKS = ["\r\n", "\n", "\r", "\v", "\f", "\x00", "\x1c", "\x85", "\u2028", "\u2029"]
#: RFC 2047 encoded words that decode into a line break and a Bcc header.
ENCODED = [
    "=?utf-8?q?x=0D=0ABcc:_victim@evil.net?=",
    "=?UTF-8?B?eA0KQmNjOiB2aWN0aW1AZXZpbC5uZXQ=?=",  # "x\r\nBcc: victim@evil.net"
    "Q3 =?iso-8859-1?q?=0ABcc=3A_victim=40evil.net?= review",
]
TEMPLATE = (
    "{{ 7*7 }} {% for x in [1] %}loop{% endfor %} <script>alert(1)</script> & "
    "<img src=x onerror=alert(2)>"
)


def _rendered(title: str, *, schedule_name: str = "Brief", filters: str = "All") -> ReportRendered:
    run = run_details(
        schedule_name=schedule_name,
        report=ReportRef(kind="custom", id="r1"),
        window=DataWindow(
            start=datetime(2026, 11, 20, tzinfo=UTC),
            end=datetime(2026, 11, 27, tzinfo=UTC),
            timezone="UTC",
        ),
    )
    return report_rendered(
        run,
        artifact_id="a",
        filename="r.csv",
        sha256="x",
        title=title,
        filters_summary=filters,
    )


def _email(
    title: str = "Summary",
    recipient: str = "ops@example.com",
    branding: BrandingSettings = BRANDING,
    **run: str,
) -> EmailMessage:
    prepared = prepare(
        _rendered(title, **run),
        branding=branding,
        from_address=FROM,
        contents=Contents(),
        now=datetime(2026, 11, 27, tzinfo=UTC),
    )
    parsed = BytesParser(policy=default).parsebytes(for_recipient(prepared, recipient))
    assert isinstance(parsed, EmailMessage)
    assert parsed.defects == []
    assert sorted(parsed.keys()) == sorted(HEADERS), parsed.keys()  # each once, nothing added
    return parsed


@pytest.mark.parametrize("brk", BREAKS)
def test_a_line_break_or_control_character_never_reaches_a_header(brk: str) -> None:
    with pytest.raises(HeaderInjection):
        _email(title=f"Summary{brk}Bcc: victim@evil.net")
    raw_branding = BrandingSettings.model_construct(platform_name=f"Dialer{brk}Bcc: v@evil.net")
    with pytest.raises(HeaderInjection):
        _email(branding=raw_branding)


@pytest.mark.parametrize("brk", BREAKS)
def test_branding_that_would_break_the_subject_is_refused_at_startup(brk: str) -> None:
    for field in ("platform_name", "subject_prefix"):
        with pytest.raises(ValidationError, match=field):
            BrandingSettings.model_validate({field: f"Dialer{brk}Bcc: v@evil.net"})


@pytest.mark.parametrize("word", ENCODED)
def test_encoded_words_in_the_title_read_back_literally(word: str) -> None:
    parsed = _email(title=f"Sales {word}")
    assert parsed["Subject"] == f"Dialer Pro: Sales {word}, {PERIOD}"
    assert "Bcc" not in parsed


@pytest.mark.parametrize("word", ENCODED)
def test_encoded_words_in_the_subject_prefix_or_platform_name_read_back_literally(
    word: str,
) -> None:
    parsed = _email(branding=BrandingSettings(subject_prefix=word))
    assert parsed["Subject"] == f"{word}: Summary, {PERIOD}"
    parsed = _email(branding=BrandingSettings(platform_name=f"Dialer {word}"))
    assert parsed["Subject"] == f"Dialer {word}: Summary, {PERIOD}"


def test_a_long_subject_with_an_encoded_word_folds_and_still_reads_back_whole() -> None:
    title = ("Weekly review " * 10) + ENCODED[0] + " ünïcode"
    parsed = _email(title=title)
    assert parsed["Subject"] == f"Dialer Pro: {title}, {PERIOD}"


@pytest.mark.parametrize(
    "recipient",
    [
        "=?utf-8?q?a=0D=0ABcc=3A_victim=40evil.net?=@example.com",
        "a@example.com\nBcc: victim@evil.net",
        "a@example.com\u2028Bcc: victim@evil.net",
    ],
)
def test_a_recipient_that_would_inject_never_reaches_the_to_header(recipient: str) -> None:
    with pytest.raises(HeaderInjection):
        _email(recipient=recipient)


def test_an_international_recipient_gets_one_to_header_with_its_address() -> None:
    parsed = _email(recipient="jurgen@bücher.de")
    assert parsed["To"].addresses[0].addr_spec == "jurgen@bücher.de"


def _create(spec: dict[str, Any]) -> bytes:
    base = {
        "name": "Brief",
        "report": {"id": "campaign_summary"},
        "frequency": "daily",
        "recipients": ["ops@example.com"],
    }
    command = {
        "type": "CreateSchedule",
        "tenant_id": "acme",
        "schedule_id": "s1",
        "command_id": str(uuid4()),
    }
    return json.dumps(command | {"spec": base | spec}).encode()


def _rejected_fields(raw: bytes) -> set[str]:
    parsed = parse_keyed(raw)
    if not isinstance(parsed, CommandRejected):
        assert not isinstance(parsed, commands.Unanswerable)
        decided = commands.decide(
            parsed, None, now=datetime(2026, 11, 27, tzinfo=UTC), default_zone="UTC"
        )
        assert isinstance(decided.reply, CommandRejected), "accepted"
        parsed = decided.reply
    return {e.field for e in parsed.errors}


@pytest.mark.parametrize("brk", ["\r\n", "\n", "\r", "\t", "\x00", "\x1b"])
def test_commands_with_control_characters_are_rejected_naming_the_field(brk: str) -> None:
    assert _rejected_fields(_create({"name": f"Brief{brk}Bcc: v@evil.net"})) == {"spec.name"}
    bad_recipient = {"recipients": ["ops@example.com", f"a@example.com{brk}Bcc: v@evil.net"]}
    assert _rejected_fields(_create(bad_recipient)) == {"spec.recipients.1"}
    with pytest.raises(ValidationError) as caught:
        CustomReport.model_validate(
            {
                "tenant_id": "acme",
                "report_id": "r1",
                "title": f"Sales{brk}Bcc: v@evil.net",
                "dataset": "calls",
                "dimensions": ["campaign_id"],
                "metrics": [{"key": "n", "label": f"N{brk}X: y", "kind": "count"}],
            }
        )
    assert {e["loc"] for e in caught.value.errors()} == {("title",), ("metrics", 0, "label")}


def test_an_encoded_word_recipient_is_rejected_at_its_position() -> None:
    spec = {"recipients": ["ops@example.com", "=?utf-8?q?a=0D=0ABcc=3A_v=40evil.net?=@example.com"]}
    assert _rejected_fields(_create(spec)) == {"spec.recipients.1"}
    assert ANY_DOMAIN.refusal("acme", "plain@example.com") is None


def test_template_syntax_and_html_stay_literal_text_in_both_parts() -> None:
    parsed = _email(title=TEMPLATE, schedule_name=TEMPLATE, filters=TEMPLATE)
    assert parsed["Subject"] == f"Dialer Pro: {TEMPLATE}, {PERIOD}"
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None
    assert html is not None
    plain_text, html_text = text.get_content(), html.get_content()
    assert plain_text.count(TEMPLATE) == 3  # title, filters and the schedule's name, as given
    assert "49" not in plain_text + html_text
    assert "loop" not in plain_text.replace(TEMPLATE, "")
    escaped = (
        "{{ 7*7 }} {% for x in [1] %}loop{% endfor %} &lt;script&gt;alert(1)&lt;/script&gt; "
        "&amp; &lt;img src=x onerror=alert(2)&gt;"
    )
    assert html_text.count(escaped) >= 3
    assert "<script" not in html_text
    assert "<img src=x" not in html_text
