"""Tenant settings by command: versions, idempotence, isolation, sealed passwords, brands.

The scheduler's handler runs on the in-memory fakes; the mailer's per-tenant
way out (`TenantOutbounds`) and its delivery on the scripted SMTP server.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest

from herald.services.mailer.delivery import Delivery
from herald.services.mailer.egress import EgressPolicy, TenantEgress
from herald.services.mailer.outbound import SameForAll, TenantOutbounds, from_header
from herald.services.mailer.ports import Outbound, SettingsProblem
from herald.services.mailer.smtp import SmtpPool
from herald.services.scheduler.command_handling import CommandHandler
from herald.services.scheduler.tenant_commands import TenantState, decide
from herald.shared.contract.messages import (
    ChangeTenantSettings,
    CreateSchedule,
    DeliveryStatus,
    LogoUpload,
    RunStatus,
    TenantSettings,
    utcnow,
)
from herald.shared.contract.secrets import Keyring, generate_key_pair, parse_public_key, seal
from herald.shared.contract.tenant_settings import (
    TENANT_SETTINGS_ID,
    TenantCompliance,
    TenantEmail,
)
from herald.shared.contract.topics import Topics
from herald.shared.runs.brand import Brands
from herald.shared.runs.recipients import RecipientPolicy
from herald.shared.runtime.settings import BrandingSettings, RetrySettings, SmtpSettings
from tests.fakes.artifacts import MemoryArtifacts
from tests.fakes.mailer import MemoryLedger, Reply, ScriptedSmtp, StaticResolver
from tests.fakes.scheduler import (
    Crash,
    MemoryCalendar,
    MemorySchedules,
    MemoryTenants,
    RecordingBodies,
    keyed,
)
from tests.samples import DAILY_SPEC, report_rendered, run_details

TOPICS = Topics("t")
PUBLIC, PRIVATE = generate_key_pair("k1")
KEYRING = Keyring.from_texts({"k1": PRIVATE})
PASSWORD = "correct horse battery staple"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def sealed(password: str = PASSWORD) -> dict[str, Any]:
    return seal(parse_public_key(PUBLIC), password).model_dump()


def email(**changes: Any) -> dict[str, Any]:
    return {
        "host": "smtp.acme.example",
        "port": 587,
        "username": "reports",
        "password": sealed(),
        "from_address": "reports@acme.example",
        "from_name": "Acme Reports",
        "max_per_minute": 30,
    } | changes


def change(tenant: str = "acme", **fields: Any) -> ChangeTenantSettings:
    return ChangeTenantSettings(command_id=uuid4(), tenant_id=tenant, **fields)


# --- pure decisions -------------------------------------------------------------


def test_the_first_change_is_version_1_and_each_next_one_more() -> None:
    first = decide(change(email=email()), None)
    assert first.state is not None
    assert first.state.version == 1
    assert first.sections == ("email",)
    second = decide(change(default_timezone="Europe/Paris", expected_version=1), first.state)
    assert second.state is not None
    assert second.state.version == 2
    assert second.state.email == first.state.email
    assert second.state.default_timezone == "Europe/Paris"


def test_a_stale_expected_version_is_rejected_with_the_current_one() -> None:
    state = TenantState("acme", 3)
    decision = decide(change(default_timezone="UTC", expected_version=2), state)
    assert decision.state is None
    error = decision.reply.errors[0]  # type: ignore[union-attr]
    assert (error.field, error.code) == ("expected_version", "version_conflict")
    assert "at 3" in error.message
    assert decide(change(default_timezone="UTC", expected_version=0), None).state is not None


def test_the_sealed_password_is_kept_only_when_asked_and_for_the_same_server() -> None:
    before = decide(change(email=email()), None).state
    assert before is not None
    assert before.email is not None
    renamed = email(from_name="Acme Billing", max_per_minute=60, password=None)
    kept = decide(change(email=renamed, keep_password=True), before).state
    assert kept is not None
    assert kept.email is not None
    assert kept.email.password == before.email.password
    assert kept.email.from_name == "Acme Billing"
    dropped = decide(change(email=renamed), before).state
    assert dropped is not None
    assert dropped.email is not None
    assert dropped.email.password is None
    nothing = decide(change(email=renamed, keep_password=True), None)
    assert nothing.state is None
    assert nothing.reply.errors[0].field == "keep_password"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("moved", "named"),
    [
        ({"host": "smtp.attacker.example"}, "host"),
        ({"port": 2525}, "port"),
        ({"security": "tls"}, "security"),
        ({"username": "someone-else"}, "username"),
        ({"host": "127.0.0.1", "port": 2525}, "host, port"),
    ],
)
def test_a_kept_password_never_follows_the_settings_to_another_server(
    moved: dict[str, Any], named: str
) -> None:
    """Whoever may change the settings could otherwise have the password sent, in an AUTH
    command, to a server of their own: it must be given again."""
    before = decide(change(email=email()), None).state
    decision = decide(change(email=email(password=None, **moved), keep_password=True), before)
    assert decision.state is None
    error = decision.reply.errors[0]  # type: ignore[union-attr]
    assert (error.field, error.code) == ("email.password", "password_required")
    assert f"change {named}" in error.message
    given = decide(change(email=email(**moved)), before).state  # with the password again
    assert given is not None
    both = decide(change(email=email(**moved), keep_password=True), before).state
    assert both is not None  # a password given wins over keeping one: nothing is kept


def test_a_password_is_only_for_a_server_reached_over_tls() -> None:
    for password in (sealed(), None):
        first = decide(change(email=email(security="none", password=password)), None)
        assert (first.state is None) == (password is not None)
    before = decide(change(email=email()), None).state
    plain = decide(change(email=email(security="none", password=None), keep_password=True), before)
    assert plain.state is None  # the kept password would not follow it either
    given = decide(change(email=email(security="none")), before)
    assert given.state is None
    error = given.reply.errors[0]  # type: ignore[union-attr]
    assert (error.field, error.code) == ("email.security", "password_needs_tls")


def test_branding_keeps_its_logo_unless_replaced_or_removed() -> None:
    brand = {"platform_name": "Acme", "platform_base_url": "https://acme.example"}
    from herald.shared.contract.tenant_settings import LogoRef

    logo = LogoRef(asset_id="logo-" + "a" * 64, content_type="image/png", size=9, filename="a.png")
    first = decide(change(branding=brand), None, logo).state
    assert first is not None
    assert first.branding is not None
    assert first.branding.logo == logo
    again = decide(change(branding=brand | {"brand_colour": "#112233"}), first).state
    assert again is not None
    assert again.branding is not None
    assert again.branding.logo == logo
    assert again.branding.brand_colour == "#112233"
    removed = decide(change(branding=brand | {"remove_logo": True}), again).state
    assert removed is not None
    assert removed.branding is not None
    assert removed.branding.logo is None


def test_reset_falls_back_to_the_environment_for_that_section() -> None:
    state = decide(change(email=email(), default_timezone="Asia/Tokyo"), None).state
    after = decide(change(reset=["email"]), state).state
    assert after is not None
    assert after.email is None
    assert after.default_timezone == "Asia/Tokyo"


def test_the_compliance_ceiling_is_a_section_of_its_own_kept_until_reset() -> None:
    uk = {"abandon_period": "24h", "abandon_threshold_pct": 2.5}
    first = decide(change(compliance=uk), None)
    assert first.state is not None
    assert first.sections == ("compliance",)
    assert first.state.compliance == TenantCompliance(
        abandon_period="24h", abandon_threshold_pct=2.5
    )
    command = change(default_timezone="Europe/London")
    later = decide(command, first.state).state
    assert later is not None
    assert later.compliance == first.state.compliance
    # The renderer reads it from the compacted topic; the audit record carries it too.
    assert later.published(command).compliance == first.state.compliance
    assert later.audited(command, ["default_timezone"]).compliance == first.state.compliance
    reset = decide(change(reset=["compliance"]), later).state
    assert reset is not None
    assert reset.compliance is None
    assert reset.default_timezone == "Europe/London"


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({}, "names no section"),
        ({"compliance": {"abandon_period": "7d"}}, "'30d' or '24h'"),
        ({"compliance": {"abandon_threshold_pct": 0}}, "greater than 0"),
        ({"compliance": {"abandon_threshold_pct": 101}}, "less than or equal to 100"),
        ({"compliance": {}, "reset": ["compliance"]}, "sets and resets"),
        ({"email": email(host="not a host")}, "host name"),
        ({"email": email(username=None)}, "a password needs a username"),
        ({"email": email(from_address="nobody")}, "invalid email address"),
        ({"default_timezone": "Mars/Olympus"}, "time zone"),
        ({"email": email(), "reset": ["email"]}, "sets and resets"),
        (
            {
                "branding": {
                    "platform_name": "Acme",
                    "platform_base_url": "https://acme.example",
                    "logo_upload": {
                        "filename": "a.png",
                        "content_type": "image/png",
                        "data": base64.b64encode(b"GIF89a not a png").decode(),
                    },
                }
            },
            "not a image/png",
        ),
    ],
)
def test_bad_settings_are_refused_with_the_reason(fields: dict[str, Any], where: str) -> None:
    with pytest.raises(ValueError, match=where):
        ChangeTenantSettings(command_id=uuid4(), tenant_id="acme", **fields)


# --- the scheduler's handler ------------------------------------------------------


@dataclass
class World:
    schedules: MemorySchedules = field(default_factory=MemorySchedules)
    tenants: MemoryTenants = field(default_factory=MemoryTenants)
    bodies: RecordingBodies = field(default_factory=RecordingBodies)

    async def send(
        self, command: ChangeTenantSettings | CreateSchedule
    ) -> list[tuple[str, str, str]]:
        handler = CommandHandler(
            self.schedules,
            MemoryCalendar(),
            self.bodies,
            TOPICS,
            "UTC",
            RecipientPolicy(),
            self.tenants,
        )
        before = len(self.bodies.published)
        await handler.handle(*keyed(command.model_dump_json().encode()))
        return self.bodies.published[before:]


def _types(published: list[tuple[str, str, str]]) -> list[str]:
    return [json.loads(body)["type"] for _, _, body in published]


async def test_an_accepted_change_publishes_the_audit_the_state_and_then_the_reply() -> None:
    world = World()
    published = await world.send(change(email=email()))
    assert _types(published) == ["TenantSettingsChanged", "TenantSettings", "CommandAccepted"]
    (audit_topic, _, audit), (state_topic, key, state), (_, _, reply) = published
    assert audit_topic == TOPICS.schedule_events
    assert json.loads(reply)["version"] == 1
    # The state is on the compacted topic, keyed by tenant; the audit holds no ciphertext.
    assert (state_topic, key) == (TOPICS.tenant_settings, "acme")
    ciphertext = TenantSettings.model_validate_json(state).email.password.ciphertext  # type: ignore[union-attr]
    assert ciphertext not in audit
    assert "password" in audit
    assert json.loads(audit)["password_key_id"] == "k1"
    assert PASSWORD not in "".join(body for _, _, body in published)


async def test_a_repeated_command_is_answered_again_and_applied_once() -> None:
    world = World()
    command = change(default_timezone="Europe/Paris")
    first = await world.send(command)
    again = await world.send(command)
    assert again == first
    stored = await world.tenants.read("acme")
    assert stored is not None
    assert stored.state.version == 1


async def test_a_crash_after_the_write_is_answered_from_the_tenants_outbox() -> None:
    world = World()
    world.tenants.crash_after_save = Crash("before the publish")
    command = change(default_timezone="Europe/Paris")
    with pytest.raises(Crash):
        await world.send(command)
    published = await world.send(command)
    assert _types(published)[-1] == "CommandAccepted"
    stored = await world.tenants.read("acme")
    assert stored is not None
    assert stored.state.version == 1


async def test_tenants_are_isolated_by_the_commands_envelope() -> None:
    world = World()
    command = change("acme", default_timezone="Europe/Paris")
    await world.send(command)
    # Another tenant reusing the command id is told it is taken, never given acme's answer.
    stolen = command.model_copy(update={"tenant_id": "globex"})
    published = await world.send(stolen)
    assert json.loads(published[-1][2])["errors"][0]["code"] == "duplicate"
    assert all("Europe/Paris" not in body for _, _, body in published)
    await world.send(change("globex", default_timezone="Asia/Tokyo"))
    acme = await world.tenants.read("acme")
    assert acme is not None
    assert acme.state.default_timezone == "Europe/Paris"


async def test_a_schedule_without_a_zone_takes_the_tenants_default() -> None:
    world = World()
    await world.send(change(default_timezone="America/New_York"))
    await world.send(
        CreateSchedule(command_id=uuid4(), tenant_id="acme", schedule_id="s-1", spec=DAILY_SPEC)
    )
    await world.send(
        CreateSchedule(command_id=uuid4(), tenant_id="other", schedule_id="s-2", spec=DAILY_SPEC)
    )
    acme, other = world.schedules.rows["acme/s-1"].state, world.schedules.rows["other/s-2"].state
    assert DAILY_SPEC.timezone is None
    assert acme.spec.timezone == "America/New_York"
    assert other.spec.timezone is None


async def test_the_tenant_commands_id_cannot_become_a_schedule() -> None:
    world = World()
    spec = CreateSchedule(
        command_id=uuid4(), tenant_id="acme", schedule_id=TENANT_SETTINGS_ID, spec=DAILY_SPEC
    )
    published = await world.send(spec)
    assert json.loads(published[-1][2])["errors"][0]["code"] == "reserved"


async def test_a_logo_is_stored_once_by_content_and_named_in_the_state() -> None:
    world = World()
    upload = {"filename": "acme.png", "content_type": "image/png", "data": base64.b64encode(PNG)}
    brand = {"platform_name": "Acme", "platform_base_url": "https://acme.example"}
    published = await world.send(change(branding=brand | {"logo_upload": upload}))
    state = TenantSettings.model_validate_json(published[1][2])
    assert state.branding is not None
    assert state.branding.logo is not None
    assert world.tenants.logos[state.branding.logo.asset_id] == PNG
    assert base64.b64encode(PNG).decode() not in published[0][2]  # the audit names, not carries


def _branding(data: bytes = PNG) -> dict[str, Any]:
    upload = {"filename": "acme.png", "content_type": "image/png", "data": base64.b64encode(data)}
    return {
        "platform_name": "Acme",
        "platform_base_url": "https://acme.example",
        "logo_upload": upload,
    }


async def test_a_rejected_command_stores_no_logo() -> None:
    world = World()
    for n in range(3):
        published = await world.send(
            change(branding=_branding(PNG + bytes([n])), expected_version=99)
        )
        assert json.loads(published[-1][2])["errors"][0]["code"] == "version_conflict"
    assert world.tenants.logos == {}
    assert world.tenants.rows == {}


async def test_a_logo_is_stored_before_the_settings_that_name_it() -> None:
    world = World()
    logo = LogoUpload.model_validate(_branding()["logo_upload"]).stored_as()
    seen: list[bool] = []
    world.tenants.before_save = lambda: seen.append(logo.asset_id in world.tenants.logos)
    await world.send(change(branding=_branding()))
    assert seen == [True]
    stored = await world.tenants.read("acme")
    assert stored is not None
    assert stored.state.branding is not None
    assert stored.state.branding.logo == logo


async def test_a_crash_between_the_logo_and_the_settings_is_applied_once_when_read_again() -> None:
    world = World()
    command = change(branding=_branding())

    def crash() -> None:
        raise Crash("after the logo, before the settings")

    world.tenants.before_save = crash
    with pytest.raises(Crash):
        await world.send(command)
    assert list(world.tenants.logos.values()) == [PNG]  # unnamed: left to the clean-up
    assert world.tenants.rows == {}
    published = await world.send(command)
    assert _types(published) == ["TenantSettingsChanged", "TenantSettings", "CommandAccepted"]
    assert await world.send(command) == published  # answered the same from now on
    assert list(world.tenants.logos.values()) == [PNG]
    stored = await world.tenants.read("acme")
    assert stored is not None
    assert stored.state.version == 1


async def test_a_logo_removed_while_its_settings_are_saved_is_stored_again() -> None:
    """A clean-up pass that found the same bytes unnamed may remove them just as a command
    names them: the command stores the logo again once its settings are saved."""
    world = World()
    world.tenants.before_save = world.tenants.logos.clear
    published = await world.send(change(branding=_branding()))
    state = TenantSettings.model_validate_json(published[1][2])
    assert state.branding is not None
    assert state.branding.logo is not None
    assert world.tenants.logos == {state.branding.logo.asset_id: PNG}


# --- the mailer's way out -----------------------------------------------------------


class Directory(dict[str, TenantSettings]):
    def settings(self, tenant_id: str) -> TenantSettings | None:
        return self.get(tenant_id)


def _settings(tenant: str, version: int, **fields: Any) -> TenantSettings:
    return TenantSettings(tenant_id=tenant, version=version, **fields)


def _outbounds(directory: Directory, keyring: Keyring = KEYRING, **limits: Any) -> TenantOutbounds:
    base = BrandingSettings(platform_name="Platform")
    return TenantOutbounds(
        directory=directory,
        brands=Brands(base, directory, MemoryArtifacts()),
        keyring=keyring,
        default_pool=ScriptedSmtp(),
        smtp_base=SmtpSettings(from_address="Platform <reports@platform.example>"),
        egress=TenantEgress(EgressPolicy(), StaticResolver()),
        **limits,
    )


async def test_each_tenant_gets_its_own_pool_and_sender_and_a_change_a_new_pool() -> None:
    directory = Directory(acme=_settings("acme", 1, email=TenantEmail.model_validate(email())))
    outbounds = _outbounds(directory)
    plain = await outbounds.for_tenant("globex")
    assert plain.from_address == "Platform <reports@platform.example>"
    first = await outbounds.for_tenant("acme")
    assert isinstance(first.smtp, SmtpPool)
    assert first.from_address == "Acme Reports <reports@acme.example>"
    assert (await outbounds.for_tenant("acme")).smtp is first.smtp
    directory["acme"] = _settings("acme", 2, email=TenantEmail.model_validate(email(port=2525)))
    assert (await outbounds.for_tenant("acme")).smtp is not first.smtp
    await outbounds.close()


async def test_pools_are_bounded_the_least_recently_used_closed_first() -> None:
    directory = Directory(
        {t: _settings(t, 1, email=TenantEmail.model_validate(email())) for t in "abc"}
    )
    outbounds = _outbounds(directory, max_pools=2)
    a = (await outbounds.for_tenant("a")).smtp
    await outbounds.for_tenant("b")
    await outbounds.for_tenant("c")
    assert (await outbounds.for_tenant("a")).smtp is not a  # evicted, made again
    await outbounds.close()


async def test_a_password_sealed_for_a_key_not_held_is_a_settings_problem() -> None:
    other_public, _ = generate_key_pair("k9")
    foreign = seal(parse_public_key(other_public), PASSWORD).model_dump()
    directory = Directory(
        acme=_settings("acme", 1, email=TenantEmail.model_validate(email(password=foreign)))
    )
    with pytest.raises(SettingsProblem, match="k9"):
        await _outbounds(directory).for_tenant("acme")


def test_a_from_name_in_encoded_word_syntax_is_refused() -> None:
    named = email(from_name="=?utf-8?q?Acme=0D=0ABcc=3A_victim=40evil=2Eexample?=")
    decision = decide(change(email=named), None)
    assert decision.state is None
    error = decision.reply.errors[0]  # type: ignore[union-attr]
    assert (error.field, error.code) == ("email.from_name", "encoded_word")


def test_the_sender_shows_its_name_encoded_when_needed() -> None:
    named = TenantEmail.model_validate(email(from_name="Zürich Reports"))
    assert from_header(named).endswith("<reports@acme.example>")


async def _rendered_run(artifacts: MemoryArtifacts) -> Any:
    run = run_details(scheduled_for=utcnow(), retry_until=utcnow() + timedelta(hours=1))
    rendered = report_rendered(run)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"a\n1\n"

    await artifacts.put(rendered.artifact_id, rendered.filename, "text/csv", chunks(), {})
    return rendered


async def test_a_refused_login_waits_a_day_for_new_settings_past_the_next_firing() -> None:
    artifacts = MemoryArtifacts()
    rendered = await _rendered_run(artifacts)
    smtp = ScriptedSmtp({"ops@example.com": Reply.REFUSE_LOGIN})
    delivery = Delivery(
        ledger=MemoryLedger(timedelta(seconds=70)),
        outbounds=SameForAll(Outbound(smtp, "r@platform.example", BrandingSettings())),
        artifacts=artifacts,
        retry=RetrySettings(base_s=30_000, cap_s=80_000),
        policy=RecipientPolicy(),
    )
    status = await delivery.deliver(rendered)
    assert status.status is RunStatus.PENDING_RETRY
    assert status.reason is not None
    assert status.reason.startswith("SMTP authentication failed: check the tenant's email settings")
    # The backoff runs past the next firing (an hour away): a day is the limit.
    assert status.next_attempt_at is not None
    assert status.next_attempt_at - rendered.run.scheduled_for > timedelta(hours=2)
    assert smtp.transactions == []  # no message was begun


async def _delivered_with(settings: dict[str, Any]) -> DeliveryStatus:
    """A run of tenant acme, delivered with these email settings as stored."""
    artifacts = MemoryArtifacts()
    rendered = await _rendered_run(artifacts)
    stored = _settings("acme", 1, email=TenantEmail.model_validate(settings))
    delivery = Delivery(
        ledger=MemoryLedger(timedelta(seconds=70)),
        outbounds=_outbounds(Directory(acme=stored)),
        artifacts=artifacts,
        retry=RetrySettings(),
        policy=RecipientPolicy(),
    )
    return await delivery.deliver(rendered.model_copy(update={"tenant_id": "acme"}))


async def test_unusable_settings_leave_the_run_pending_with_the_reason() -> None:
    other_public, _ = generate_key_pair("k9")
    foreign = seal(parse_public_key(other_public), PASSWORD).model_dump()
    status = await _delivered_with(email(password=foreign))
    assert status.status is RunStatus.PENDING_RETRY
    assert status.reason is not None
    assert "k9" in status.reason
    assert PASSWORD not in status.reason


async def test_a_from_name_no_header_can_hold_leaves_the_run_pending_with_the_reason() -> None:
    """Settings stored before the name was refused (`encoded_word`): the email cannot be
    composed, and the run waits for the settings like a refused sender, not in the DLQ."""
    named = email(from_name="=?utf-8?q?Acme=0D=0ABcc=3A_victim=40evil=2Eexample?=")
    status = await _delivered_with(named)
    assert status.status is RunStatus.PENDING_RETRY
    assert status.reason is not None
    assert status.reason.startswith(
        "SMTP sender refused: check the tenant's email settings "
        "(the email's headers cannot be written from these settings:"
    ), status.reason


# --- the volume guard ------------------------------------------------------------


def _two_recipients(tenant: str, schedule_id: str) -> CreateSchedule:
    spec = DAILY_SPEC.model_copy(update={"recipients": ["a@example.com", "b@example.com"]})
    return CreateSchedule(command_id=uuid4(), tenant_id=tenant, schedule_id=schedule_id, spec=spec)


async def test_a_schedule_over_the_allowed_volume_is_accepted_with_a_warning() -> None:
    world = World()
    await world.send(change(email=email(max_per_minute=3, password=None, username=None)))
    first = json.loads((await world.send(_two_recipients("acme", "s-1")))[-1][2])
    assert first["type"] == "CommandAccepted"
    assert first["warnings"] == []
    # Another tenant's schedules at the same minute do not count.
    await world.send(_two_recipients("globex", "s-9"))
    second = json.loads((await world.send(_two_recipients("acme", "s-2")))[-1][2])
    assert second["type"] == "CommandAccepted"
    (warning,) = second["warnings"]
    assert warning["code"] == "volume_over_allowed"
    assert "would send 4 emails in the minute" in warning["message"]
    assert "allows 3 a minute" in warning["message"]
    assert "acme/s-2" in world.schedules.rows


async def test_with_enforce_the_schedule_over_the_allowed_volume_is_rejected() -> None:
    world = World()
    limits = {"max_per_day": 3, "enforce_volume": True, "password": None, "username": None}
    await world.send(change(email=email(**limits)))
    await world.send(_two_recipients("acme", "s-1"))
    rejected = json.loads((await world.send(_two_recipients("acme", "s-2")))[-1][2])
    assert rejected["type"] == "CommandRejected"
    assert rejected["errors"][0]["field"] == "volume"
    assert "4 emails in the day" in rejected["errors"][0]["message"]
    assert "s-2" not in world.schedules.rows


async def test_tenants_without_an_allowed_volume_get_no_warning() -> None:
    world = World()
    for n in range(3):
        reply = json.loads((await world.send(_two_recipients("acme", f"s-{n}")))[-1][2])
        assert reply["warnings"] == []
