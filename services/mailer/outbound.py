"""How each tenant's mail goes out: its SMTP server, sender, brand and logo.

A tenant with email settings gets a pool of its own, opened on first use,
replaced when its settings change (a new version) and closed when idle; at
most `max_pools` are kept, the least recently used closed first. A tenant
without settings is served by the environment's server and brand. The sealed
password is opened here, in the mailer's memory only, when the pool is made.
A tenant's pool connects only where `egress` allows (`egress.py`); the
environment's server is the operator's own and is not checked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from email.headerregistry import Address

from pydantic import SecretStr

from herald.services.mailer.egress import TenantEgress
from herald.services.mailer.ports import MailSender, Outbound, SettingsProblem
from herald.services.mailer.smtp import SmtpPool
from herald.shared.contract.secrets import Keyring, SealedSecretError
from herald.shared.contract.tenant_settings import TenantEmail
from herald.shared.ports import TenantDirectory
from herald.shared.runs.brand import Brands
from herald.shared.runtime.settings import SmtpSettings

log = logging.getLogger("herald.mailer")


#: The `volume_key` of tenants on the environment's server: one allowance for them all
#: (never a tenant id, which starts with a letter or digit).
ENVIRONMENT_VOLUME = "(environment)"


def smtp_settings(email: TenantEmail, password: str | None, base: SmtpSettings) -> SmtpSettings:
    """The tenant's server with the environment's timeouts, CA file and pool size.

    No pool limiter: the tenant's volume is paced by the delivery's `VolumeGate`,
    across replicas (and not by the environment's limit, which is another server's).
    """
    return base.model_copy(
        update={
            "host": email.host,
            "port": email.port,
            "security": email.security,
            "username": email.username,
            "password": SecretStr(password) if password is not None else None,
            "from_address": from_header(email),
            "max_per_minute": None,
        }
    )


def from_header(email: TenantEmail) -> str:
    if email.from_name is None:
        return email.from_address
    user, _, domain = email.from_address.rpartition("@")
    return str(Address(display_name=email.from_name, username=user, domain=domain))


@dataclass(frozen=True, slots=True)
class SameForAll:
    """Every tenant on the environment's settings (benches, single-tenant tests)."""

    outbound: Outbound

    async def for_tenant(self, tenant_id: str) -> Outbound:
        return self.outbound


@dataclass(slots=True)
class _Pool:
    version: int
    pool: SmtpPool
    used_at: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class TenantOutbounds:
    """The `Outbounds` port: per-tenant pools over the environment's defaults."""

    directory: TenantDirectory
    brands: Brands
    keyring: Keyring
    #: The environment's server (and the sender in `smtp_base`); under a `VolumeGate`,
    #: made without its own limiter (`smtp_base.max_per_minute` is paced by the gate).
    default_pool: MailSender
    smtp_base: SmtpSettings
    #: Where the tenants' own servers may be: no default, so that no wiring forgets it.
    egress: TenantEgress
    max_pools: int = 64
    idle_s: float = 300.0
    _pools: OrderedDict[str, _Pool] = field(default_factory=OrderedDict)
    _closing: set[asyncio.Task[None]] = field(default_factory=set)

    async def for_tenant(self, tenant_id: str) -> Outbound:
        brand = await self.brands.of(tenant_id)
        settings = self.directory.settings(tenant_id)
        email = settings.email if settings else None
        if settings is None or email is None:
            sender = self.smtp_base.from_address
            return Outbound(
                self.default_pool,
                sender,
                brand.branding,
                brand.logo,
                max_per_minute=self.smtp_base.max_per_minute,
                volume_key=ENVIRONMENT_VOLUME,
            )
        return Outbound(
            self._pool(tenant_id, settings.version, email),
            from_header(email),
            brand.branding,
            brand.logo,
            reply_to=email.reply_to,
            max_per_minute=email.max_per_minute,
            max_per_day=email.max_per_day,
        )

    def _pool(self, tenant_id: str, version: int, email: TenantEmail) -> MailSender:
        self._close_idle()
        held = self._pools.get(tenant_id)
        if held is not None and held.version == version:
            held.used_at = time.monotonic()
            self._pools.move_to_end(tenant_id)
            return held.pool
        password = None
        if email.password is not None:
            try:
                password = self.keyring.open(email.password)
            except SealedSecretError as exc:
                raise SettingsProblem(f"the SMTP password cannot be opened: {exc}") from None
        if held is not None:
            log.info("tenant %s: email settings now at version %d", tenant_id, version)
            self._retire(self._pools.pop(tenant_id).pool)
        pool = SmtpPool(smtp_settings(email, password, self.smtp_base), self.egress)
        self._pools[tenant_id] = _Pool(version, pool)
        while len(self._pools) > self.max_pools:
            self._retire(self._pools.popitem(last=False)[1].pool)
        return pool

    def _close_idle(self) -> None:
        now = time.monotonic()
        for tenant_id in [t for t, p in self._pools.items() if now - p.used_at > self.idle_s]:
            self._retire(self._pools.pop(tenant_id).pool)

    def _retire(self, pool: SmtpPool) -> None:
        """Closed once its sends in flight are over (a send holds a connection out of the pool)."""
        task = asyncio.create_task(pool.close_when_idle())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        for held in self._pools.values():
            await held.pool.close()
        self._pools.clear()
        await asyncio.gather(*self._closing, return_exceptions=True)
