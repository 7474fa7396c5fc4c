"""Each tenant's own SMTP server, password and brand, set by command, on the real parts.

Two tenants, each with its own real SMTP server (aiosmtpd with STARTTLS and
AUTH) and logo, configured with `herald tenants set-email --password-stdin`
and `set-branding` as processes: the CLI seals each password with the public
key, only the mailer holds the private one. The platform's own server (the
environment's) must see none of their mail. Acme then moves to a new server
mid-run, then gets a wrong password (its run waits in `pending_retry` with the
reason) and the right one again (the run is delivered, each recipient once).
Then Acme points at an internal address the operator does not allow: the mailer
refuses it without connecting, and `herald smtp test` says why. Finally no
password is found in any topic, collection, log or CLI output.
"""

from __future__ import annotations

import io
import json
import socket
import uuid
from datetime import date
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from PIL import Image
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase
from pypdf import PdfReader

from herald.cli import demo
from herald.services.scheduler.tenant_store import TenantStore
from herald.shared.contract.messages import RunStatus
from herald.shared.contract.schedule_spec import Frequency, ReportFormat, ReportRef, ScheduleSpec
from herald.shared.contract.secrets import Keyring, generate_key_pair
from herald.shared.contract.topics import Topics
from herald.shared.history import store as history_store
from herald.shared.history.fold import RunRecord
from herald.shared.runtime.mongo import Document
from herald.shared.runtime.settings import (
    MailerSettings,
    RetrySettings,
    SecretsSettings,
    Settings,
    SmtpSecurity,
    SmtpSettings,
)
from tests.helpers import (
    Cli,
    command_client,
    create_and_run,
    read_topic,
    run_cli,
    running_scheduler,
    three_services,
    unwrapped,
    wait_until,
)
from tests.smtp_server import CertificateAuthority, SmtpServer

pytestmark = pytest.mark.e2e


def _logo(path: Path, colour: str) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 16), colour).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


async def _run_now(
    settings: Settings,
    tenant: str,
    schedule_id: str,
    to: list[str],
    format: ReportFormat = ReportFormat.HTML,
) -> str:
    spec = ScheduleSpec(
        name=f"{tenant} brief",
        report=ReportRef(id="campaign_summary"),
        frequency=Frequency.DAILY,
        recipients=to,
        format=format,
    )
    async with command_client(settings) as client:
        return await create_and_run(client, tenant, schedule_id, spec)


async def _status(
    db: AsyncDatabase[Document], tenant: str, run_id: str, *wanted: RunStatus
) -> RunRecord | None:
    record = await history_store.get_run(db[history_store.RUNS], tenant, run_id)
    return record if record is not None and record.status in wanted else None


def _message(server: SmtpServer, recipient: str) -> EmailMessage:
    (delivery,) = [d for d in server.deliveries if d.recipient == recipient]
    parsed = message_from_bytes(delivery.content, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _html_and_images(message: EmailMessage) -> tuple[str, list[bytes]]:
    html = message.get_body(("html",))
    assert html is not None
    images = [
        part.get_payload(decode=True)
        for part in message.walk()
        if part.get_content_maintype() == "image"
    ]
    return html.get_content(), [i for i in images if isinstance(i, bytes)]


@pytest.mark.timeout(600)
async def test_two_tenants_each_get_their_own_server_brand_and_sealed_password(
    topics_ready: Settings, db: AsyncDatabase[Document], tmp_path: Path
) -> None:
    for tenant in ("acme", "globex"):
        await demo.seed(db, tenant_id=tenant, calls=150, days=3, anchor=date.today())
    ca = CertificateAuthority(tmp_path)
    secret = {name: f"{name}-{uuid.uuid4().hex}" for name in ("acme", "wrong", "globex")}
    acme_server = SmtpServer(security="starttls", tls=ca, credentials=("acme", secret["acme"]))
    acme_moved = SmtpServer(security="starttls", tls=ca)
    globex_server = SmtpServer(
        security="starttls", tls=ca, credentials=("globex", secret["globex"])
    )
    platform = SmtpServer()
    servers = [acme_server.start(), acme_moved.start(), globex_server.start(), platform.start()]
    public, private = generate_key_pair("e2e-1")
    settings = topics_ready.model_copy(
        update={
            "smtp": SmtpSettings(
                host="127.0.0.1",
                port=platform.port,
                timeout_s=5,
                pool_size=4,
                tls_ca_file=ca.ca_file,
            ),
            "retry": RetrySettings(base_s=1, cap_s=2, max_attempts=60, jitter=0),
            "secrets": SecretsSettings(public_key=public),
        }
    )
    mailer = settings.model_copy(
        update={
            "secrets": SecretsSettings(private_keys={"e2e-1": SecretStr(private)}),
            # The tenants' servers listen on 127.0.0.1: that address alone is allowed.
            "mailer": MailerSettings(smtp_allowed_private=["127.0.0.1"]),
        }
    )
    clis: list[Cli] = []

    async def cli(*args: str, stdin: str = "") -> Cli:
        done = await run_cli(settings, *args, stdin=stdin)
        clis.append(done)
        assert done.exit_code == 0, done.output
        return done

    async def set_email(tenant: str, server: SmtpServer, password: str | None) -> None:
        login = ["--username", tenant, "--password-stdin"] if password else []
        await cli(
            "tenants", "set-email", "--tenant", tenant, "--host", "127.0.0.1",
            "--port", str(server.port), "--security", SmtpSecurity.STARTTLS.value,
            "--from", f"reports@{tenant}.example", "--from-name", f"{tenant.title()} Reports",
            *login, stdin=f"{password}\n" if password else "",
        )  # fmt: skip

    acme_logo, globex_logo = _logo(tmp_path / "acme.png", "red"), _logo(tmp_path / "g.png", "blue")
    try:
        async with three_services(settings, tmp_path, mailer=mailer) as services:
            await set_email("acme", acme_server, secret["acme"])
            await set_email("globex", globex_server, secret["globex"])
            for tenant, name, logo, colour in (
                ("acme", "Acme Contact", acme_logo, "#aa0000"),
                ("globex", "Globex Calls", globex_logo, "#0000aa"),
            ):
                await cli(
                    "tenants", "set-branding", "--tenant", tenant, "--name", name,
                    "--base-url", f"https://{tenant}.example", "--colour", colour,
                    "--logo", str(logo), "--footer", f"{name} footer",
                )  # fmt: skip
            shown = await cli("tenants", "show", "--tenant", "acme")
            assert "sealed with key e2e-1" in shown.output
            assert "ciphertext" not in shown.output

            # Each tenant's run goes to its own server, in its own brand.
            a, g = f"a{uuid.uuid4().hex[:8]}@example.com", f"g{uuid.uuid4().hex[:8]}@example.com"
            runs = {
                "acme": await _run_now(settings, "acme", "acme-brief", [a]),
                "globex": await _run_now(settings, "globex", "globex-brief", [g], ReportFormat.PDF),
            }
            for tenant, run_id in runs.items():
                await wait_until(
                    lambda t=tenant, r=run_id: _status(db, t, r, RunStatus.DELIVERED),
                    120,
                    f"{tenant}'s run",
                )
            assert acme_server.received(a) == 1
            assert globex_server.received(g) == 1
            assert acme_server.received(g) == globex_server.received(a) == 0
            for tenant, server, to, logo, own, other in (
                ("acme", acme_server, a, acme_logo, "Acme Contact", "Globex"),
                ("globex", globex_server, g, globex_logo, "Globex Calls", "Acme"),
            ):
                message = _message(server, to)
                assert message["From"] == f"{tenant.title()} Reports <reports@{tenant}.example>"
                html, images = _html_and_images(message)
                assert own in html
                assert f"{own} footer" in html
                assert logo.read_bytes() in images
                assert other not in html
                assert other not in str(message["Subject"])
            # Globex's report is a PDF: its brand is in the document too.
            (pdf,) = [
                part.get_payload(decode=True)
                for part in _message(globex_server, g).iter_attachments()
                if part.get_content_type() == "application/pdf"
            ]
            assert isinstance(pdf, bytes)
            text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
            assert "Globex Calls" in text
            assert "Acme" not in text

            # The stored password does not follow the settings to another server.
            kept = await run_cli(
                settings, "tenants", "set-email", "--tenant", "acme", "--host", "127.0.0.1",
                "--port", str(platform.port), "--security", SmtpSecurity.STARTTLS.value,
                "--from", "reports@acme.example", "--username", "acme",
            )  # fmt: skip
            clis.append(kept)
            assert kept.exit_code != 0, kept.output
            assert (
                "email.password: the stored password goes only to the server it was given "
                "for: give it again to change port" in kept.output
            ), kept.output

            # Acme moves to a new server: the next delivery goes there.
            await set_email("acme", acme_moved, None)
            moved = f"m{uuid.uuid4().hex[:8]}@example.com"
            moved_run = await _run_now(settings, "acme", "acme-moved", [moved])
            await wait_until(
                lambda: _status(db, "acme", moved_run, RunStatus.DELIVERED), 120, "the moved run"
            )
            assert acme_moved.received(moved) == 1
            assert acme_server.received(moved) == 0

            # A wrong password: the run waits for the settings, then they are fixed.
            await set_email("acme", acme_server, secret["wrong"])
            waiting = [f"w{n}{uuid.uuid4().hex[:8]}@example.com" for n in range(2)]
            waiting_run = await _run_now(settings, "acme", "acme-waiting", waiting)
            record = await wait_until(
                lambda: _status(db, "acme", waiting_run, RunStatus.PENDING_RETRY),
                120,
                "the run to wait for new settings",
            )
            assert record.reason is not None
            assert record.reason.startswith(
                "SMTP authentication failed: check the tenant's email settings"
            ), record.reason
            line = "tenant acme: its email settings are refused, run " + waiting_run
            assert line in services[2].log()
            tested = await run_cli(
                settings, "smtp", "test", "--tenant", "acme", "--to", f"ops-{moved}", "--wait", "60"
            )
            clis.append(tested)
            assert tested.exit_code == 1, tested.output
            assert "authentication failed: 535" in tested.output, tested.output
            await set_email("acme", acme_server, secret["acme"])
            await wait_until(
                lambda: _status(db, "acme", waiting_run, RunStatus.DELIVERED),
                120,
                "the waiting run, once the settings were fixed",
            )
            assert [acme_server.received(w) for w in waiting] == [1, 1]

            # An internal service's port (127.0.0.2: loopback, not the allowed 127.0.0.1):
            # refused before any connection, a settings problem that says why.
            with socket.socket() as internal:
                internal.bind(("127.0.0.2", 0))
                internal.listen(8)
                internal.setblocking(False)
                await cli(
                    "tenants", "set-email", "--tenant", "acme", "--host", "127.0.0.2",
                    "--port", str(internal.getsockname()[1]), "--security", "none",
                    "--from", "reports@acme.example",
                )  # fmt: skip
                refused = await run_cli(
                    settings, "smtp", "test", "--tenant", "acme", "--to", f"ops-{moved}",
                    "--wait", "60",
                )  # fmt: skip
                clis.append(refused)
                with pytest.raises(BlockingIOError):
                    internal.accept()
            said = unwrapped(refused.output)
            assert refused.exit_code == 1, refused.output
            why = (
                "SMTP host 127.0.0.2 is a loopback address; "
                "tenants may only use public mail servers"
            )
            settings_problem = f"SMTP server not allowed: check the tenant's email settings ({why})"
            assert f"reason: {settings_problem}" in said, said
            assert f"connection failed: {why}" in said, said
            logs = [service.log() for service in services]
    finally:
        for server in servers:
            server.stop()

    assert platform.deliveries == []  # the environment's server carried no tenant's mail

    # No password in plain text anywhere: topics, collections, logs, CLI output.
    places: dict[str, bytes] = {}
    for topic in Topics(settings.kafka.topic_prefix).all():
        records = await read_topic(settings, topic)
        places[topic] = b"\n".join(r.value or b"" for r in records)
    for name in await db.list_collection_names():
        places[f"mongo:{name}"] = "\n".join([repr(doc) async for doc in db[name].find({})]).encode()
    places |= {f"log:{n}": log.encode() for n, log in enumerate(logs)}
    places |= {f"cli:{n}": c.output.encode() for n, c in enumerate(clis)}
    assert places[Topics(settings.kafka.topic_prefix).tenant_settings]  # sealed, it is there
    for label, password in secret.items():
        found = [where for where, text in places.items() if password.encode() in text]
        assert not found, f"the {label} password in plain text in {found}"


@pytest.mark.timeout(300)
async def test_the_volume_guard_warns_then_rejects_and_the_cli_shows_the_forecast(
    topics_ready: Settings, tmp_path: Path
) -> None:
    """The provider allows 3 emails a day: the second two-recipient daily schedule is over it."""
    settings = topics_ready
    tenant = ["--tenant", "vol"]

    async def create(schedule_id: str) -> Cli:
        return await run_cli(
            settings, "schedules", "create", schedule_id, *tenant, "--name", schedule_id,
            "--report", "campaign_summary", "--frequency", "daily", "--time", "07:30",
            "--to", "a@example.com", "--to", "b@example.com", "--format", "csv",
        )  # fmt: skip

    async def limit(*enforce: str) -> None:
        done = await run_cli(
            settings, "tenants", "set-email", *tenant, "--host", "smtp.vol.example",
            "--from", "reports@vol.example", "--max-per-day", "3", *enforce,
        )  # fmt: skip
        assert done.exit_code == 0, done.output

    async with running_scheduler(settings, tmp_path):
        await limit()
        first = await create("vol-1")
        assert first.exit_code == 0, first.output
        assert "warning" not in first.output
        second = await create("vol-2")
        assert second.exit_code == 0, second.output
        assert "warning: volume: the tenant's enabled schedules would send 4 emails in the day" in (
            unwrapped(second.output)
        ), second.output
        await limit("--enforce-volume")
        third = await create("vol-3")
        assert third.exit_code == 1, third.output
        assert "volume:" in third.output
        assert "allows 3 a day" in unwrapped(third.output)
        forecast = await run_cli(settings, "tenants", "volume", *tenant, "--json")
        assert forecast.exit_code == 0, forecast.output
        shown = json.loads(forecast.output)
        assert shown["allowed_per_day"] == 3
        assert shown["busiest"]["day"]["emails"] == 4
        assert len(shown["over_allowed"]) == 1


@pytest.mark.timeout(300)
async def test_keys_rotate_reseals_what_it_can_read_and_names_what_it_cannot(
    topics_ready: Settings, db: AsyncDatabase[Document], tmp_path: Path
) -> None:
    old_public, old_private = generate_key_pair("k1")
    lost_public, _ = generate_key_pair("k9")  # a key whose private half is gone
    new_public, new_private = generate_key_pair("k2")
    password = f"rotate-{uuid.uuid4().hex}"

    async def set_email(tenant: str, public: str) -> None:
        sealing = topics_ready.model_copy(update={"secrets": SecretsSettings(public_key=public)})
        done = await run_cli(
            sealing, "tenants", "set-email", "--tenant", tenant, "--host", "smtp.rot.example",
            "--from", f"reports@{tenant}.example", "--username", tenant, "--password-stdin",
            stdin=f"{password}\n",
        )  # fmt: skip
        assert done.exit_code == 0, done.output

    rotating = topics_ready.model_copy(
        update={
            "secrets": SecretsSettings(
                public_key=new_public, private_keys={"k1": SecretStr(old_private)}
            )
        }
    )
    async with running_scheduler(topics_ready, tmp_path):
        await set_email("rot", old_public)
        await set_email("lost", lost_public)
        rotated = await run_cli(rotating, "keys", "rotate")
        states = {s.tenant_id: s for s in await TenantStore(db).all_states()}
    assert rotated.exit_code == 1, rotated.output  # one password could not be rotated
    assert "rot: re-sealed for k2" in rotated.output
    assert "lost: left as it is: sealed with key 'k9'" in rotated.output
    assert "1 password(s) re-sealed, 1 left as they are" in rotated.output
    assert password not in rotated.output
    rot, lost = states["rot"].email, states["lost"].email
    assert rot is not None
    assert rot.password is not None
    assert (states["rot"].version, rot.password.key_id) == (2, "k2")
    assert Keyring.from_texts({"k2": new_private}).open(rot.password) == password
    assert lost is not None
    assert lost.password is not None
    assert (states["lost"].version, lost.password.key_id) == (1, "k9")
