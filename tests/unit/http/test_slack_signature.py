"""Slack's request signature, checked with the example Slack publishes in "Verifying requests
from Slack" (its signing secret, timestamp, body and the signature it gives for them)."""

from __future__ import annotations

import base64

import pytest

from hitl.domain.errors import Unauthorized
from hitl.http import slack_signature
from hitl.http.slack_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, raw_body, verify

DOCS_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOCS_TIMESTAMP = "1531420618"
DOCS_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOCS_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
SIGNED_AT = int(DOCS_TIMESTAMP)
HEADERS = {TIMESTAMP_HEADER: DOCS_TIMESTAMP, SIGNATURE_HEADER: DOCS_SIGNATURE}


def refusal(headers: dict[str, str], body: bytes | None, now: float = SIGNED_AT) -> str:
    with pytest.raises(Unauthorized) as refused:
        verify(headers, body, DOCS_SECRET, now)
    return refused.value.code


def test_slacks_documented_example_verifies():
    verify(HEADERS, DOCS_BODY, DOCS_SECRET, SIGNED_AT)  # no exception


def test_the_example_verifies_up_to_five_minutes_either_side():
    verify(HEADERS, DOCS_BODY, DOCS_SECRET, SIGNED_AT + 300)
    verify(HEADERS, DOCS_BODY, DOCS_SECRET, SIGNED_AT - 300)


@pytest.mark.parametrize("offset", [301, 3600, -301, -86400], ids=["stale", "an-hour-old", "future", "a-day-ahead"])
def test_a_stale_or_future_timestamp_is_refused_even_with_a_valid_signature(offset):
    assert refusal(HEADERS, DOCS_BODY, now=SIGNED_AT + offset) == "stale_slack_request"


@pytest.mark.parametrize("position", [0, 57, len(DOCS_BODY) - 1])
def test_a_body_altered_by_one_byte_is_refused(position):
    altered = bytearray(DOCS_BODY)
    altered[position] ^= 0x01

    assert refusal(HEADERS, bytes(altered)) == "invalid_slack_signature"


def test_another_secret_timestamp_or_signature_is_refused():
    with pytest.raises(Unauthorized):
        verify(HEADERS, DOCS_BODY, "another-signing-secret", SIGNED_AT)
    moved = {**HEADERS, TIMESTAMP_HEADER: str(SIGNED_AT + 1)}
    assert refusal(moved, DOCS_BODY) == "invalid_slack_signature"
    flipped = {**HEADERS, SIGNATURE_HEADER: DOCS_SIGNATURE[:-1] + "a"}
    assert refusal(flipped, DOCS_BODY) == "invalid_slack_signature"
    assert refusal({**HEADERS, SIGNATURE_HEADER: DOCS_SIGNATURE.upper()}, DOCS_BODY) == "invalid_slack_signature"


@pytest.mark.parametrize("missing", [SIGNATURE_HEADER, TIMESTAMP_HEADER])
def test_a_missing_header_is_refused(missing):
    headers = {name: value for name, value in HEADERS.items() if name != missing}

    assert refusal(headers, DOCS_BODY) == "missing_slack_signature"
    assert refusal({**headers, missing: ""}, DOCS_BODY) == "missing_slack_signature"


@pytest.mark.parametrize("timestamp", ["1531420618.5", "-1531420618", "１５３１", "9" * 40, "now"])
def test_a_timestamp_that_is_not_epoch_seconds_is_refused(timestamp):
    assert refusal({**HEADERS, TIMESTAMP_HEADER: timestamp}, DOCS_BODY) == "invalid_slack_signature"


def test_a_body_that_is_not_utf8_is_refused_not_raised():
    assert refusal(HEADERS, DOCS_BODY + b"\xff") == "invalid_slack_signature"
    assert refusal(HEADERS, None) == "invalid_slack_signature"


def test_the_refusals_never_carry_the_secret_or_the_signature():
    for headers, body in [(HEADERS, DOCS_BODY + b"x"), ({}, DOCS_BODY)]:
        with pytest.raises(Unauthorized) as refused:
            verify(headers, body, DOCS_SECRET, SIGNED_AT)
        shown = f"{refused.value.message} {refused.value.details}"
        assert DOCS_SECRET not in shown and DOCS_SIGNATURE[3:] not in shown


def test_a_base64_body_from_api_gateway_is_verified_as_the_bytes_slack_sent():
    event = {"body": base64.b64encode(DOCS_BODY).decode(), "isBase64Encoded": True}

    assert raw_body(event) == DOCS_BODY
    verify(HEADERS, raw_body(event), DOCS_SECRET, SIGNED_AT)
    # the base64 text itself is not what Slack signed
    assert refusal(HEADERS, event["body"].encode()) == "invalid_slack_signature"


def test_a_plain_body_is_taken_as_is_and_bad_base64_is_no_body():
    assert raw_body({"body": DOCS_BODY.decode(), "isBase64Encoded": False}) == DOCS_BODY
    assert raw_body({}) == b""
    assert raw_body({"body": "not base64!", "isBase64Encoded": True}) is None


def test_the_secret_is_looked_up_only_for_a_fresh_signed_request():
    looked_up: list[int] = []

    def secret() -> str:
        looked_up.append(1)
        return DOCS_SECRET

    for headers, now in [({}, SIGNED_AT), (HEADERS, SIGNED_AT + 3600), ({**HEADERS, TIMESTAMP_HEADER: "x"}, SIGNED_AT)]:
        with pytest.raises(Unauthorized):
            verify(headers, DOCS_BODY, secret, now)
    assert looked_up == []
    verify(HEADERS, DOCS_BODY, secret, SIGNED_AT)
    assert looked_up == [1]


def test_the_age_check_comes_before_the_hmac(monkeypatch):
    def no_hmac(*args, **kwargs):
        raise AssertionError("the HMAC is not computed for a stale request")

    monkeypatch.setattr(slack_signature, "_verifier", no_hmac)

    assert refusal(HEADERS, DOCS_BODY, now=SIGNED_AT + 3600) == "stale_slack_request"
