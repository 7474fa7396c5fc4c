from __future__ import annotations

import pytest
from pydantic import ValidationError

from herald.shared.runtime.settings import KafkaSecurity, Settings, SmtpSecurity


def test_nested_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_KAFKA__BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("HERALD_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("HERALD_SMTP__SECURITY", "starttls")
    monkeypatch.setenv("HERALD_SMTP__PASSWORD", "hunter2")
    monkeypatch.setenv("HERALD_BRANDING__PLATFORM_NAME", "Dialer Pro")
    monkeypatch.setenv("HERALD_DEFAULT_TIMEZONE", "Europe/Berlin")
    settings = Settings()
    assert settings.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert settings.kafka.security_protocol is KafkaSecurity.SASL_SSL
    assert settings.smtp.security is SmtpSecurity.STARTTLS
    assert settings.branding.platform_name == "Dialer Pro"
    assert settings.default_timezone == "Europe/Berlin"
    assert settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(settings)


def test_unknown_default_zone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_DEFAULT_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        Settings()


def test_the_http_report_source_needs_its_url() -> None:
    with pytest.raises(ValidationError, match="HERALD_REPORTS__HTTP__URL"):
        Settings(reports={"source": "http"})
    configured = Settings(reports={"source": "http", "http": {"url": "http://reports.local/r"}})
    assert configured.reports.http.url == "http://reports.local/r"
