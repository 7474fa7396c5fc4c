"""Which addresses a tenant's own SMTP server may have: public ones, unless the operator says.

A tenant's administrator chooses its SMTP host and port. Left unchecked, the
mailer would connect wherever that points, inside the cluster too: loopback,
private networks, the cloud's metadata service. The diagnosis of `herald smtp
test` would then tell open ports from closed ones, and an internal relay that
trusts the mailer's address would carry the tenant's mail. So every address
the host resolves to must be public, or inside a network (or the host one)
the operator allows (`HERALD_MAILER__SMTP_ALLOWED_PRIVATE`). All of them, not
the first: the connection may use any. The connection then goes to an address
checked here, never to a second resolution of the name (DNS rebinding).

The environment's own server (`HERALD_SMTP__*`) is the operator's, and not
checked. Pure: the resolution is a port (`ports.Resolver`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import (
    IPv4Address,
    IPv4Network,
    IPv6Address,
    IPv6Network,
    ip_address,
    ip_network,
)

from herald.services.mailer.ports import Endpoint, Resolver

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

#: Named here although `is_global` already excludes them, to say what they are.
_METADATA = (IPv4Network("169.254.169.254/32"), IPv6Network("fd00:ec2::254/128"))
_CGNAT = IPv4Network("100.64.0.0/10")
_PRIVATE = (
    IPv4Network("10.0.0.0/8"),
    IPv4Network("172.16.0.0/12"),
    IPv4Network("192.168.0.0/16"),
    IPv6Network("fc00::/7"),
    IPv6Network("fec0::/10"),  # site-local, deprecated
)
#: IPv6 prefixes that carry an IPv4 address in their last 32 bits and reach it (NAT64).
_NAT64 = IPv6Network("64:ff9b::/96")
_PUBLIC_ONLY = "tenants may only use public mail servers"


class HostRefused(Exception):
    """The tenant's SMTP host has an address the mailer will not connect to; says which."""


def carried(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), else the address itself:
    `::ffff:127.0.0.1` is loopback."""
    if isinstance(address, IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def non_public(address: IPAddress) -> str | None:
    """What kind of non-public address this is, as a sentence's complement; None if public."""
    inner = carried(address)
    checks: tuple[tuple[bool, str], ...] = (
        (inner.is_unspecified, "the unspecified address"),
        (inner.is_loopback, "a loopback address"),
        (any(inner in network for network in _METADATA), "the cloud metadata address"),
        (inner.is_link_local, "a link-local address"),
        (inner in _CGNAT, "a carrier-grade NAT (shared) address"),
        (inner.is_multicast, "a multicast address"),
        (any(inner in network for network in _PRIVATE), "a private address"),
        (inner.is_reserved, "a reserved address"),
        (not inner.is_global, "not a public address"),
    )
    return next((kind for hit, kind in checks if hit), None)


def _host_name(value: str) -> str:
    return value.lower().rstrip(".")


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Public addresses, and what the operator allows besides: networks, and host names
    whose addresses are all allowed (an internal relay, by name)."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def allowing(cls, entries: Iterable[str]) -> EgressPolicy:
        """From the setting's entries: each a network (`10.1.0.0/16`), an address or a name."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for entry in entries:
            try:
                networks.append(ip_network(entry))
            except ValueError:
                hosts.add(_host_name(entry))
        return cls(tuple(networks), frozenset(hosts))

    def refusal(self, host: str, addresses: Sequence[IPAddress]) -> str | None:
        """Why the host may not be connected to, naming it and the address; None if it may."""
        if _host_name(host) in self.hosts:
            return None
        for address in addresses:
            if self._allowed(address):
                continue
            kind = non_public(address)
            if kind is None:
                continue
            if _is_literal(host, address):
                return f"SMTP host {host} is {kind}; {_PUBLIC_ONLY}"
            return f"SMTP host {host} resolves to {address}, {kind}; {_PUBLIC_ONLY}"
        return None

    def _allowed(self, address: IPAddress) -> bool:
        inner = carried(address)
        return any(address in network or inner in network for network in self.networks)


def _is_literal(host: str, address: IPAddress) -> bool:
    try:
        return ip_address(host) == address
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class TenantEgress:
    """Resolves a tenant's host once and says where the connection may go."""

    policy: EgressPolicy
    resolver: Resolver

    async def endpoints(self, host: str, port: int) -> Sequence[Endpoint]:
        """The addresses to connect to, every one checked; `HostRefused` if any is not allowed.

        OSError when the host does not resolve (a connection failure, retried as before).
        """
        endpoints = await self.resolver.resolve(host, port)
        reason = self.policy.refusal(host, [endpoint.address for endpoint in endpoints])
        if reason is not None:
            raise HostRefused(reason)
        return endpoints
