"""Which addresses Herald may send a tenant's reports to. Pure: no I/O.

Two rules, checked when a command names recipients (the scheduler rejects it
field by field) and again just before sending (the mailer refuses the
recipient without an SMTP transaction, since settings may have changed since
the schedule was saved):

- The domain allow-list (`HERALD_SECURITY__*`): a tenant with a list of its
  own is held to it (an empty one exempts it), every other tenant to the
  global list; an empty global list allows any domain. A listed domain
  covers itself and all its subdomains (`example.com` allows
  `ops@example.com` and `ops@eu.example.com`, not `ops@badexample.com`),
  compared case-insensitively on the IDNA (ASCII) form, so `bücher.de` and
  `xn--bcher-kva.de` are one domain.
- No RFC 2047 encoded-word syntax (`=?`) in an address: RFC 2047 forbids it
  in an addr-spec, and mail readers decode it anyway, turning
  `=?utf-8?q?=0D=0ABcc...?=@example.com` into a line break in the To header.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from herald.shared.contract.schedule_spec import normalise_domain

if TYPE_CHECKING:
    from herald.shared.runtime.settings import SecuritySettings


def domain_of(address: str) -> str:
    """The normalised domain of an address (the part after its last `@`)."""
    return normalise_domain(address.rpartition("@")[2])


def _covers(listed: str, domain: str) -> bool:
    return domain == listed or domain.endswith("." + listed)


@dataclass(frozen=True, slots=True)
class RecipientPolicy:
    """The allow-lists, their domains already normalised; empty everywhere allows any domain."""

    allowed: tuple[str, ...] = ()
    per_tenant: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, allowed: Sequence[str], per_tenant: Mapping[str, Sequence[str]]) -> RecipientPolicy:
        return cls(
            tuple(normalise_domain(d) for d in allowed),
            {t: tuple(normalise_domain(d) for d in ds) for t, ds in per_tenant.items()},
        )

    @classmethod
    def from_settings(cls, security: SecuritySettings) -> RecipientPolicy:
        return cls.of(security.allowed_recipient_domains, security.tenant_allowed_recipient_domains)

    def domains_for(self, tenant_id: str) -> tuple[str, ...]:
        """The tenant's own list when it has one (even empty: any domain), else the global one."""
        return self.per_tenant.get(tenant_id, self.allowed)

    def refusal(self, tenant_id: str, address: str) -> str | None:
        """Why the tenant's reports may not go to `address`, or None when they may."""
        if "=?" in address:
            return (
                f"address {address!r} contains encoded-word syntax (=?), "
                "which mail readers would decode inside the To header"
            )
        domains = self.domains_for(tenant_id)
        if not domains:
            return None
        try:
            domain = domain_of(address)
        except ValueError as exc:
            return str(exc)
        if any(_covers(listed, domain) for listed in domains):
            return None
        return f"domain {domain} is not on the allowed list for tenant {tenant_id}"

    def refusals(self, tenant_id: str, addresses: Sequence[str]) -> dict[int, str]:
        """Each refused address's position in `addresses`, with the reason."""
        found = {i: self.refusal(tenant_id, a) for i, a in enumerate(addresses)}
        return {i: reason for i, reason in found.items() if reason is not None}


#: No allow-list: any domain (the encoded-word rule still holds).
ANY_DOMAIN = RecipientPolicy()
