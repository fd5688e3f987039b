"""The SSRF guard: webhook URLs may only reach the public internet.

A URL must be https; its host is resolved and EVERY address checked: it must be global
unicast.  ``REFUSED`` below is the one list of what is not (private, loopback, link-local,
site-local, multicast, reserved, CGNAT, documentation and benchmarking ranges, …; IANA's
special-purpose registries); an IPv6 address must moreover lie in ``GLOBAL_UNICAST_V6``
(2000::/3), and an IPv6 address that embeds an IPv4 one (IPv4-mapped, NAT64, 6to4) is judged
by the IPv4 address it carries.  The connection is then made to a checked address.  Only the
local stack may allow ``http://127.0.0.1``, by an explicit setting the CDK stack never sets.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: IANA's global unicast allocation: every other IPv6 address is refused.
GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
#: IPv6 prefixes that carry an IPv4 address in their low 32 bits (judged by it).
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

#: The one list of refused ranges, each with why.  Outside 2000::/3 every IPv6 address is refused
#: anyway; the ranges there are listed too, so that the refusal says what the address is.
REFUSED: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(network), reason)
    for network, reason in (
        # IPv4 (RFC 6890 and IANA's IPv4 special-purpose registry)
        ("0.0.0.0/8", "this network"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared address space (CGNAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation (TEST-NET-1)"),
        ("192.88.99.0/24", "6to4 relay anycast (deprecated)"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation (TEST-NET-2)"),
        ("203.0.113.0/24", "documentation (TEST-NET-3)"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "limited broadcast"),
        ("240.0.0.0/4", "reserved"),
        # IPv6 outside global unicast (IANA's IPv6 address space and special-purpose registry)
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible (deprecated)"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("fc00::/7", "unique local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
        # IPv6 inside 2000::/3 that is not globally reachable
        ("2001::/23", "IETF protocol assignments (Teredo, benchmarking, ORCHID, …)"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation (RFC 9637)"),
        ("5f00::/16", "segment routing (SRv6) SIDs"),
    )
)


class UnsafeUrl(ValueError):
    """The URL may not be called: ``reason`` says why, in words for the API's error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address (``None``: it is one)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            why = refusal(embedded)
            return f"{why}, embedded in IPv6" if why else None
    for network, reason in REFUSED:
        if network.version == address.version and address in network:
            return reason
    if isinstance(address, ipaddress.IPv6Address) and address not in GLOBAL_UNICAST_V6:
        return "not global unicast"
    return None


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a public unicast address (never an internal one in disguise)."""
    return refusal(address) is None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


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
        why = refusal(ipaddress.ip_address(text.split("%", 1)[0]))
        if why is not None:
            raise UnsafeUrl(f"The host {host} resolves to an address that is not public ({text}: {why}).")
    return Target("https", host, port, path, tuple(addresses))
