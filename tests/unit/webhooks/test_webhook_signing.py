import pytest

from hitl.webhooks import signing

# The Standard Webhooks specification's published test vector
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_our_signature_matches_the_spec_test_vector():
    assert signing.signature(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    assert signing.verify(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, SPEC_SIGNATURE)


@pytest.mark.parametrize(
    ("message_id", "timestamp", "body"),
    [
        ("msg_other", SPEC_TIMESTAMP, SPEC_BODY),
        (SPEC_ID, SPEC_TIMESTAMP + 1, SPEC_BODY),
        (SPEC_ID, SPEC_TIMESTAMP, b"{}"),
    ],
)
def test_any_change_breaks_the_signature(message_id, timestamp, body):
    assert not signing.verify(SPEC_SECRET, message_id, timestamp, body, SPEC_SIGNATURE)


def test_during_rotation_both_secrets_sign_and_either_verifies():
    new = signing.new_secret()
    header = signing.header([SPEC_SECRET, new], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert header.split()[0] == SPEC_SIGNATURE
    assert signing.verify(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, header)
    assert signing.verify(new, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, header)
    assert not signing.verify(signing.new_secret(), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, header)


def test_new_secrets_are_whsec_and_32_random_bytes():
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(signing.secret_bytes(secret)) == 32
    assert secret != signing.new_secret()
