import ipaddress

import pytest

from hitl.webhooks import ssrf

REFUSED = [
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "127.0.0.1",
    "0.0.0.0",
    "169.254.169.254",
    "100.64.0.1",
    "224.0.0.1",
    "::1",
    "fc00::1",
    "fe80::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "255.255.255.255",
    "198.18.0.1",
    "fec0::1",  # site-local (deprecated), accepted before
    "3fff::1",  # RFC 9637 documentation, accepted before
]
ALLOWED = [
    "93.184.215.14",
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2a00:1450:4001::1",
]
#: one address inside each refused range, the found defects first; ``test_every_refused_range_is_tested``
#: keeps this in step with ``ssrf.REFUSED``
REFUSED_RANGES = {
    "fec0::/10": "fec0::1",
    "3fff::/20": "3fff::1",
    "0.0.0.0/8": "0.1.2.3",
    "10.0.0.0/8": "10.255.255.254",
    "100.64.0.0/10": "100.127.255.254",
    "127.0.0.0/8": "127.0.0.2",
    "169.254.0.0/16": "169.254.169.254",
    "172.16.0.0/12": "172.31.255.254",
    "192.0.0.0/24": "192.0.0.8",
    "192.0.2.0/24": "192.0.2.1",
    "192.88.99.0/24": "192.88.99.1",
    "192.168.0.0/16": "192.168.255.254",
    "198.18.0.0/15": "198.19.255.254",
    "198.51.100.0/24": "198.51.100.7",
    "203.0.113.0/24": "203.0.113.7",
    "224.0.0.0/4": "239.255.255.250",
    "240.0.0.0/4": "240.0.0.1",
    "255.255.255.255/32": "255.255.255.255",
    "::/128": "::",
    "::1/128": "::1",
    "::/96": "::a00:1",
    "64:ff9b:1::/48": "64:ff9b:1::a00:1",
    "100::/64": "100::1",
    "fc00::/7": "fd12:3456::1",
    "fe80::/10": "fe80::1",
    "ff00::/8": "ff02::1",
    "2001::/23": "2001::1",  # Teredo
    "2001:db8::/32": "2001:db8::1",
    "5f00::/16": "5f00::1",
}


def literal(address: str) -> str:
    return f"https://[{address}]/hook" if ":" in address else f"https://{address}/hook"


@pytest.mark.parametrize("address", REFUSED)
def test_internal_addresses_are_refused(address):
    with pytest.raises(ssrf.UnsafeUrl):
        ssrf.check(literal(address), resolve=lambda host, port: [])


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address):
    target = ssrf.check(literal(address), resolve=lambda host, port: [])
    assert target.scheme == "https" and target.port == 443 and target.path == "/hook"


def test_a_hostname_resolving_to_loopback_is_refused():
    with pytest.raises(ssrf.UnsafeUrl) as refused:
        ssrf.check("https://hooks.example.com/x", resolve=lambda host, port: ["127.0.0.1"])
    assert "not public" in refused.value.reason


def test_every_resolved_address_must_be_public():
    with pytest.raises(ssrf.UnsafeUrl):
        ssrf.check("https://hooks.example.com/x", resolve=lambda host, port: ["93.184.215.14", "10.1.2.3"])
    ok = ssrf.check("https://hooks.example.com:8443/x?y=1", resolve=lambda host, port: ["93.184.215.14"])
    assert (ok.host, ok.port, ok.path, ok.addresses) == ("hooks.example.com", 8443, "/x?y=1", ("93.184.215.14",))


@pytest.mark.parametrize(
    "url", ["http://93.184.215.14/x", "ftp://example.com/x", "https://user:pw@example.com/x", "https:///x"]
)
def test_only_plain_https_urls(url):
    with pytest.raises(ssrf.UnsafeUrl):
        ssrf.check(url, resolve=lambda host, port: ["93.184.215.14"])


def test_loopback_http_only_when_the_local_stack_says_so():
    with pytest.raises(ssrf.UnsafeUrl):
        ssrf.check("http://127.0.0.1:9000/hook", resolve=lambda host, port: [])
    target = ssrf.check("http://127.0.0.1:9000/hook", allow_loopback_http=True, resolve=lambda host, port: [])
    assert (target.scheme, target.addresses, target.port) == ("http", ("127.0.0.1",), 9000)
    with pytest.raises(ssrf.UnsafeUrl):  # the setting opens loopback http only, nothing else internal
        ssrf.check("http://10.0.0.1/hook", allow_loopback_http=True, resolve=lambda host, port: [])


def test_an_unresolvable_host_is_refused():
    def fail(host, port):
        raise OSError("no such host")

    with pytest.raises(ssrf.UnsafeUrl):
        ssrf.check("https://nowhere.invalid/x", resolve=fail)


def test_every_refused_range_is_tested():
    assert set(REFUSED_RANGES) == {str(network) for network, _ in ssrf.REFUSED}


@pytest.mark.parametrize(("network", "address"), REFUSED_RANGES.items(), ids=list(REFUSED_RANGES))
def test_each_refused_range_is_refused(network, address):
    assert ipaddress.ip_address(address) in ipaddress.ip_network(network)
    with pytest.raises(ssrf.UnsafeUrl) as refused:
        ssrf.check(literal(address), resolve=lambda host, port: [])
    reason = dict((str(n), why) for n, why in ssrf.REFUSED)[network]
    assert "not public" in refused.value.reason and reason in refused.value.reason
    with pytest.raises(ssrf.UnsafeUrl):  # the same, behind a host name
        ssrf.check("https://hooks.example.com/x", resolve=lambda host, port: [address])


@pytest.mark.parametrize("address", ["4000::1", "8000::1", "e000::1", "::ffff:0:1"])
def test_ipv6_outside_global_unicast_is_refused(address):
    assert not ssrf.is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["::ffff:169.254.169.254", "64:ff9b::c0a8:1", "2002:c0a8:1::1", "2002:7f00:1::"])
def test_an_internal_ipv4_address_embedded_in_ipv6_is_refused(address):
    assert not ssrf.is_public(ipaddress.ip_address(address))
