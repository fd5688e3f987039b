import pytest

from hitl import ids
from hitl.domain.auth import Authenticator
from hitl.domain.errors import Unauthorized


def test_a_new_key_has_the_documented_shape():
    key = ids.new_api_key()
    assert key.startswith("hitl_")
    assert len(key) == len("hitl_") + 30 + 6
    assert all(c in ids.BASE62 for c in key[5:])
    assert ids.is_well_formed_key(key)


def test_keys_are_random():
    assert len({ids.new_api_key() for _ in range(200)}) == 200


def test_the_checksum_is_the_crc32_of_the_rest_in_base62():
    key = ids.new_api_key()
    import zlib

    number = zlib.crc32(key[:-6].encode())
    decoded = 0
    for c in key[-6:]:
        decoded = decoded * 62 + ids.BASE62.index(c)
    assert decoded == number


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),  # checksum typo
        lambda k: k[:10] + ("x" if k[10] != "x" else "y") + k[11:],  # body typo
        lambda k: k.replace("hitl_", "hitI_"),  # look-alike prefix
        lambda k: k + "0",  # too long
        lambda k: k[:-1],  # too short
        lambda k: k[:8] + "-" + k[9:],  # outside the alphabet
        lambda k: "",
    ],
)
def test_a_mistyped_key_fails_the_format_check(mangle):
    assert not ids.is_well_formed_key(mangle(ids.new_api_key()))


def test_only_the_sha256_is_kept_and_it_is_stable():
    key = ids.new_api_key()
    assert ids.sha256_hex(key) == ids.sha256_hex(key)
    assert key not in ids.sha256_hex(key)
    assert len(ids.sha256_hex(key)) == 64


class NoDatabase:
    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the store was called ({name}) for a key that fails its checksum")


@pytest.mark.parametrize(
    "header",
    [None, "", "Basic abc", "Bearer", "Bearer hitl_short", "Bearer " + ids.new_api_key()[:-1] + "!"],
    ids=["none", "empty", "basic", "no-key", "short", "bad-checksum"],  # the same ids in every xdist worker
)
def test_malformed_or_mistyped_keys_are_refused_without_a_database_call(header):
    auth = Authenticator(NoDatabase())  # type: ignore[arg-type]
    with pytest.raises(Unauthorized):
        auth.authenticate(header)


def test_watch_ids_carry_at_least_128_random_bits():
    import math

    watch_id = ids.new_watch_id()
    assert watch_id.startswith("w_")
    assert (len(watch_id) - 2) * math.log2(62) >= 128
    assert len({ids.new_watch_id() for _ in range(1000)}) == 1000
