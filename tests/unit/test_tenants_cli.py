"""`herald tenants set-branding` as a user runs it, with the scheduler's answer faked."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from herald.cli import tenants
from herald.shared.contract.messages import ChangeTenantSettings, CommandAccepted
from tests.helpers import unwrapped

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>'
PNG = b"\x89PNG\r\n\x1a\nfake"


def _set_branding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logo: str, data: bytes) -> str:
    sent: list[ChangeTenantSettings] = []

    def accept(command: ChangeTenantSettings) -> CommandAccepted:
        sent.append(command)
        return CommandAccepted(
            tenant_id=command.tenant_id,
            schedule_id=command.schedule_id,
            command_id=command.command_id,
            command_type=command.type,
            version=2,
        )

    monkeypatch.setattr(tenants, "send_command", accept)
    (tmp_path / logo).write_bytes(data)
    args = ["set-branding", "--tenant", "acme", "--name", "Acme"]
    args += ["--base-url", "https://acme.example.com", "--logo", str(tmp_path / logo)]
    result = CliRunner().invoke(tenants.tenants_app, args)
    assert result.exit_code == 0, result.output
    [command] = sent
    assert command.branding is not None
    assert command.branding.logo_upload is not None
    assert command.branding.logo_upload.data == data
    return unwrapped(result.output)


def test_an_svg_logo_is_taken_with_word_that_emails_will_not_show_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mail clients show no SVG: the email names the platform in text, the PDF has the logo."""
    output = _set_branding(tmp_path, monkeypatch, "acme.svg", SVG)
    assert "emails show no SVG logo" in output
    assert "emails show no SVG logo" not in _set_branding(tmp_path, monkeypatch, "a.png", PNG)
