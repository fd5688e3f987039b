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
]
ALLOWED = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


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
