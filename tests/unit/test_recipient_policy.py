"""The recipient allow-list: which domains match, which list a tenant gets, and its settings;
and the scheduler's command decision applying it field by field."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from pydantic import ValidationError

from herald.services.scheduler import commands
from herald.shared.contract.messages import (
    AnyCommand,
    CommandAccepted,
    CommandRejected,
    CreateSchedule,
    RunNow,
    SendTestEmail,
    UpdateSchedule,
)
from herald.shared.contract.schedule_spec import Frequency, ReportRef, ScheduleChanges, ScheduleSpec
from herald.shared.runs.recipients import ANY_DOMAIN, RecipientPolicy, domain_of
from herald.shared.runtime.settings import Settings

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
POLICY = RecipientPolicy.of(["example.com", "Bücher.DE"], {"globex": ["globex.io"], "open": []})


@pytest.mark.parametrize(
    "address",
    [
        "ops@example.com",
        "ops@EXAMPLE.com",
        "ops@eu.example.com",
        "ops@a.b.example.com",
        "ops@bücher.de",
        "ops@xn--bcher-kva.de",
        "ops@shop.BÜCHER.de",
    ],
)
def test_a_listed_domain_allows_itself_and_its_subdomains_in_any_spelling(address: str) -> None:
    assert POLICY.refusal("acme", address) is None


@pytest.mark.parametrize(
    "address",
    [
        "ops@badexample.com",  # a suffix, not a subdomain
        "ops@example.com.evil.net",
        "ops@example.co",
        "ops@com.example",
        "ops@buecher.de",
    ],
)
def test_other_domains_are_refused_with_the_domain_and_tenant_named(address: str) -> None:
    reason = POLICY.refusal("acme", address)
    assert reason == f"domain {domain_of(address)} is not on the allowed list for tenant acme"


def test_a_tenant_with_its_own_list_is_held_to_it_and_an_empty_one_allows_any() -> None:
    assert POLICY.refusal("globex", "ops@globex.io") is None
    assert POLICY.refusal("globex", "ops@example.com") is not None  # the global list is not its
    assert POLICY.refusal("acme", "ops@globex.io") is not None
    assert POLICY.refusal("open", "anyone@anywhere.org") is None
    assert POLICY.domains_for("unknown") == ("example.com", "xn--bcher-kva.de")


def test_no_list_allows_any_domain_but_never_encoded_word_syntax() -> None:
    assert ANY_DOMAIN.refusal("acme", "anyone@anywhere.org") is None
    reason = ANY_DOMAIN.refusal("acme", "=?utf-8?q?a=0D=0ABcc=3A_x=40evil.net?=@example.com")
    assert reason is not None
    assert "encoded-word" in reason


def test_refusals_are_given_by_position() -> None:
    found = POLICY.refusals("acme", ["a@example.com", "b@evil.net", "c@eu.example.com", "d@x.org"])
    assert sorted(found) == [1, 3]
    assert "evil.net" in found[1]


def test_settings_read_the_lists_as_json_and_normalise_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HERALD_SECURITY__ALLOWED_RECIPIENT_DOMAINS", '["Example.COM", "bücher.de"]')
    monkeypatch.setenv("HERALD_SECURITY__TENANT_ALLOWED_RECIPIENT_DOMAINS", '{"t1": ["A.com"]}')
    security = Settings().security
    assert security.allowed_recipient_domains == ["example.com", "xn--bcher-kva.de"]
    assert security.tenant_allowed_recipient_domains == {"t1": ["a.com"]}
    assert RecipientPolicy.from_settings(security).refusal("t1", "x@b.a.com") is None


def test_a_listed_value_that_is_no_domain_stops_the_settings_with_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "HERALD_SECURITY__TENANT_ALLOWED_RECIPIENT_DOMAINS", '{"t1": ["not a domain"]}'
    )
    with pytest.raises(ValidationError, match="'not a domain' is not a mail domain"):
        Settings()


def test_the_default_settings_allow_any_domain() -> None:
    assert RecipientPolicy.from_settings(Settings().security).domains_for("acme") == ()


# --- the scheduler's decision ------------------------------------------------


def _spec(*recipients: str) -> ScheduleSpec:
    return ScheduleSpec(
        name="Brief",
        report=ReportRef(id="campaign_summary"),
        frequency=Frequency.DAILY,
        recipients=list(recipients),
    )


def _decide(command: AnyCommand, current: commands.ScheduleState | None = None) -> str:
    decision = commands.decide(command, current, now=NOW, default_zone="UTC", policy=POLICY)
    return decision.reply.type


def _errors(command: AnyCommand, current: commands.ScheduleState | None = None) -> dict[str, str]:
    decision = commands.decide(command, current, now=NOW, default_zone="UTC", policy=POLICY)
    assert isinstance(decision.reply, CommandRejected)
    assert (decision.state, decision.change, decision.run) == (None, None, None)
    return {e.field: e.message for e in decision.reply.errors}


def test_create_naming_a_foreign_domain_is_rejected_at_that_recipient() -> None:
    command = CreateSchedule(
        command_id=uuid4(),
        tenant_id="acme",
        schedule_id="s1",
        spec=_spec("a@example.com", "b@eu.example.com", "c@evil.net", "d@gmail.com"),
    )
    assert _errors(command) == {
        "spec.recipients.2": "domain evil.net is not on the allowed list for tenant acme",
        "spec.recipients.3": "domain gmail.com is not on the allowed list for tenant acme",
    }
    allowed = CreateSchedule(
        command_id=uuid4(), tenant_id="acme", schedule_id="s1", spec=_spec("a@example.com")
    )
    assert _decide(allowed) == CommandAccepted.__name__


def test_update_and_test_email_are_checked_and_run_now_is_left_to_the_mailer() -> None:
    state = commands.ScheduleState("s1", "acme", _spec("a@example.com"), 1, None)
    update = UpdateSchedule(
        command_id=uuid4(),
        tenant_id="acme",
        schedule_id="s1",
        changes=ScheduleChanges(recipients=["a@example.com", "b@evil.net"]),
        expected_version=1,
    )
    assert list(_errors(update, state)) == ["changes.recipients.1"]
    rename = UpdateSchedule(
        command_id=uuid4(),
        tenant_id="acme",
        schedule_id="s1",
        changes=ScheduleChanges(name="New"),
        expected_version=1,
    )
    assert _decide(rename, state) == CommandAccepted.__name__
    test = SendTestEmail(
        command_id=uuid4(), tenant_id="acme", schedule_id="smtp-test", recipients=["x@evil.net"]
    )
    assert list(_errors(test)) == ["recipients.0"]
    stale = commands.ScheduleState("s1", "acme", _spec("a@evil.net"), 1, None)
    assert (
        _decide(RunNow(command_id=uuid4(), tenant_id="acme", schedule_id="s1"), stale)
        == CommandAccepted.__name__
    )
