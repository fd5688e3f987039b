import pytest

from hitl.domain import cursor
from hitl.domain.errors import BadRequest

SECRET = b"s" * 32
KEY = {"pk": "P#w_1", "sk": "P#HEAD", "gsi1pk": "TP#t_1", "gsi1sk": "2026-11-24T12:00:00.000Z#w_1"}


def test_a_cursor_round_trips():
    assert cursor.decode(SECRET, "pauses:t_1:", cursor.encode(SECRET, "pauses:t_1:", KEY)) == KEY


def test_a_cursor_is_opaque():
    assert "w_1" not in cursor.encode(SECRET, "pauses:t_1:", KEY)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),  # MAC changed
        lambda c: "e" + c[1:] if c[0] != "e" else "f" + c[1:],  # payload changed
        lambda c: c.replace(".", ""),  # structure broken
        lambda c: "not-a-cursor",
        lambda c: c + ".x",
        lambda c: "",
    ],
)
def test_a_tampered_cursor_is_refused_with_400(tamper):
    good = cursor.encode(SECRET, "pauses:t_1:", KEY)
    with pytest.raises(BadRequest) as refused:
        cursor.decode(SECRET, "pauses:t_1:", tamper(good))
    assert refused.value.code == "invalid_cursor"


def test_a_cursor_of_another_tenant_or_query_is_refused():
    good = cursor.encode(SECRET, "pauses:t_1:", KEY)
    for scope in ("pauses:t_2:", "pauses:t_1:pending", "audit:t_1"):
        with pytest.raises(BadRequest):
            cursor.decode(SECRET, scope, good)


def test_a_cursor_made_with_another_secret_is_refused():
    with pytest.raises(BadRequest):
        cursor.decode(SECRET, "s", cursor.encode(b"x" * 32, "s", KEY))
