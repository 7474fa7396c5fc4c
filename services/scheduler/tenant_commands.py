"""What a `ChangeTenantSettings` does to a tenant's settings: pure decisions, no I/O.

Versioned like schedules: each accepted change is the next version, and
`expected_version` (0: none yet) makes a change conditional. The handler
passes in the reference a new logo will be stored under, and stores it only
once the change is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

from herald.services.scheduler.commands import answering, rejection
from herald.shared.contract.messages import (
    ChangeTenantSettings,
    CommandAccepted,
    CommandRejected,
    FieldError,
    SettingsSection,
    TenantSettings,
    TenantSettingsChanged,
)
from herald.shared.contract.tenant_settings import (
    LogoRef,
    SmtpSecurity,
    TenantBranding,
    TenantCompliance,
    TenantEmail,
)


@dataclass(frozen=True, slots=True)
class TenantState:
    tenant_id: str
    version: int
    email: TenantEmail | None = None
    branding: TenantBranding | None = None
    default_timezone: str | None = None
    compliance: TenantCompliance | None = None

    def published(self, command: ChangeTenantSettings) -> TenantSettings:
        """The state as the compacted topic carries it (the password sealed)."""
        return TenantSettings(
            tenant_id=self.tenant_id,
            correlation_id=command.command_id,
            version=self.version,
            email=self.email,
            branding=self.branding,
            default_timezone=self.default_timezone,
            compliance=self.compliance,
        )

    def audited(
        self, command: ChangeTenantSettings, sections: list[SettingsSection]
    ) -> TenantSettingsChanged:
        """The audit record: everything but the secret."""
        password = self.email.password if self.email else None
        return TenantSettingsChanged(
            tenant_id=self.tenant_id,
            correlation_id=command.command_id,
            version=self.version,
            sections=sections,
            email=self.email.without_secret() if self.email else None,
            password_key_id=password.key_id if password else None,
            branding=self.branding,
            default_timezone=self.default_timezone,
            compliance=self.compliance,
        )


@dataclass(frozen=True, slots=True)
class SettingsDecision:
    reply: CommandAccepted | CommandRejected
    #: The settings after the change; None when rejected.
    state: TenantState | None = None
    sections: tuple[SettingsSection, ...] = ()


def _reject(command: ChangeTenantSettings, field: str, message: str, code: str) -> SettingsDecision:
    return SettingsDecision(
        rejection(command, [FieldError(field=field, message=message, code=code)])
    )


def _email(command: ChangeTenantSettings, current: TenantEmail | None) -> TenantEmail | None:
    email = command.email
    if email is None or email.password is not None or not command.keep_password:
        return email
    kept = current.password if current else None
    return email.model_copy(update={"password": kept})


def _moved(stored: TenantEmail, email: TenantEmail) -> list[str]:
    """What of where the password is sent changes: a kept password must not follow it.

    Whoever may change the settings could otherwise point them at a server of their
    own and read the password, sealed or not, in its AUTH command."""
    return [
        name
        for name in ("host", "port", "security", "username")
        if getattr(stored, name) != getattr(email, name)
    ]


def _email_error(
    command: ChangeTenantSettings, stored: TenantEmail | None, email: TenantEmail
) -> FieldError | None:
    """The first rule the email section to be saved breaks (`email`: with the password it
    keeps), or None."""
    if command.keep_password and email.password is None:
        return FieldError(
            field="keep_password", message="no stored password to keep", code="no_password"
        )
    given = command.email.password if command.email else None
    moved = _moved(stored, email) if command.keep_password and given is None and stored else []
    if moved:
        return FieldError(
            field="email.password",
            message="the stored password goes only to the server it was given for: give it "
            f"again to change {', '.join(moved)}",
            code="password_required",
        )
    if email.password is not None and email.username is None:
        return FieldError(
            field="email.username", message="a password needs a username", code="missing"
        )
    if email.from_name is not None and "=?" in email.from_name:
        # Mail programs decode such a name (RFC 2047): it could hold a line break.
        return FieldError(
            field="email.from_name",
            message="a name holding encoded-word syntax (=?) is not a name: give it as it reads",
            code="encoded_word",
        )
    if email.password is not None and email.security is SmtpSecurity.NONE:
        return FieldError(
            field="email.security",
            message="a password is sent only over TLS: security must be starttls or tls",
            code="password_needs_tls",
        )
    return None


def _branding(
    command: ChangeTenantSettings, current: TenantBranding | None, logo: LogoRef | None
) -> TenantBranding | None:
    change = command.branding
    if change is None:
        return None
    if logo is None and not change.remove_logo:
        logo = current.logo if current else None
    fields = change.model_dump(exclude={"logo", "logo_upload", "remove_logo"})
    return TenantBranding(**fields, logo=logo)


def decide(
    command: ChangeTenantSettings, current: TenantState | None, logo: LogoRef | None = None
) -> SettingsDecision:
    """Apply the command to the tenant's settings (`current` None: it has none yet).

    `logo` is the reference the command's logo upload is stored under, if it has one.
    """
    version = current.version if current else 0
    expected = command.expected_version
    if expected is not None and expected != version:
        return _reject(
            command,
            "expected_version",
            f"version conflict: expected {expected}, the settings are at {version}",
            "version_conflict",
        )
    stored = current.email if current else None
    email = _email(command, stored)
    error = _email_error(command, stored, email) if email is not None else None
    if error is not None:
        return SettingsDecision(rejection(command, [error]))
    state = current or TenantState(command.tenant_id, 0)
    branding = _branding(command, state.branding, logo)
    zone, compliance = command.default_timezone, command.compliance
    reset = set(command.reset)
    new = TenantState(
        tenant_id=command.tenant_id,
        version=version + 1,
        email=None if "email" in reset else email or state.email,
        branding=None if "branding" in reset else branding or state.branding,
        default_timezone=None if "default_timezone" in reset else zone or state.default_timezone,
        compliance=None if "compliance" in reset else compliance or state.compliance,
    )
    named: tuple[tuple[SettingsSection, object], ...] = (
        ("email", email),
        ("branding", branding),
        ("default_timezone", zone),
        ("compliance", compliance),
    )
    sections = [*command.reset, *(section for section, value in named if value is not None)]
    reply = CommandAccepted(**answering(command), version=new.version)
    return SettingsDecision(reply, new, tuple(sections))
