"""The SSRF guard: webhook URLs may only reach the public internet.

A URL must be https; its host is resolved and EVERY address checked (private, loopback,
link-local, multicast, reserved, unspecified, CGNAT, IPv4-mapped/compatible IPv6, NAT64,
documentation ranges…); the connection is then made to a checked address.  Only the local
stack may allow ``http://127.0.0.1``, by an explicit setting the CDK stack never sets.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
EXTRA_BLOCKED = (
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.ip_network("198.18.0.0/15"),  # benchmarking
    ipaddress.ip_network("2001:db8::/32"),  # documentation
)


class UnsafeUrl(ValueError):
    """The URL may not be called: ``reason`` says why, in words for the API's error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a public unicast address (never an internal one in disguise)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address in NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None:
            return is_public(address.sixtofour)
        if address.teredo is not None:
            return False
        if int(address) >> 32 == 0:  # IPv4-compatible ::a.b.c.d (deprecated)
            return False
    if address.version == 4 and address in CGNAT:
        return False
    if any(address in network for network in EXTRA_BLOCKED if network.version == address.version):
        return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """Where to connect: the URL's parts and the checked addresses."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def check(url: str, *, allow_loopback_http: bool = False, resolve: Resolver = system_resolver) -> Target:
    """The URL's checked target, or ``UnsafeUrl``."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise UnsafeUrl("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeUrl("The URL may not carry credentials.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise UnsafeUrl("The URL's port is not valid.") from error
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "http" and allow_loopback_http and host in ("127.0.0.1", "localhost"):
        return Target("http", host, port, path, ("127.0.0.1",))
    if parts.scheme != "https":
        raise UnsafeUrl("Only https URLs are allowed.")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    try:
        addresses = [str(literal)] if literal else resolve(host, port)
    except OSError as error:
        raise UnsafeUrl(f"The host {host} does not resolve.") from error
    if not addresses:
        raise UnsafeUrl(f"The host {host} does not resolve.")
    for text in addresses:
        if not is_public(ipaddress.ip_address(text.split("%", 1)[0])):
            raise UnsafeUrl(f"The host {host} resolves to an address that is not public ({text}).")
    return Target("https", host, port, path, tuple(addresses))
