"""Buyer data sealing without services: round trips, determinism, rotation, tampering and missing keys."""

from __future__ import annotations

import pytest

from amazon_channel import crypto
from amazon_channel.crypto import BuyerDataKeyError, Cipher, new_key

pytestmark = [pytest.mark.unit]

OLD, NEW = new_key(), new_key()


@pytest.fixture
def keys():
    """Set the process's keys for one test, and put the environment's back after it."""
    yield crypto.use_keys
    crypto.use_keys(None)
    crypto._from_environment = False  # the next cipher() reads the environment again


@pytest.mark.parametrize("value", ["Jane Doe", "", "山田 太郎 🎁", "x" * 255, "enc1:looks:sealed", "a'b\"c%_\\"])
def test_a_sealed_value_reads_back_and_shows_nothing(value, keys):
    keys(NEW)
    sealed = crypto.seal(value)
    assert sealed.startswith("enc1:") and (value == "" or value not in sealed)
    assert crypto.unseal(sealed) == value
    assert crypto.seal(value) == sealed  # deterministic: re-runs leave tables byte-identical


def test_rotation_reads_old_values_and_seals_with_the_first_key(keys):
    keys(OLD)
    old = crypto.seal("Jane Doe")
    keys(f"{NEW},{OLD}")
    assert crypto.unseal(old) == "Jane Doe" and not crypto.sealed_with_current_key(old)
    assert crypto.sealed_with_current_key(crypto.seal("Jane Doe")) and crypto.seal("Jane Doe") != old
    keys(NEW)
    with pytest.raises(BuyerDataKeyError, match=r"key [0-9a-f]{8}, which is not among the configured keys") as err:
        crypto.unseal(old)
    assert "Jane" not in str(err.value)


def test_values_stored_before_encryption_read_as_they_are_and_sealed_values_need_a_key(keys):
    keys(None)
    assert crypto.seal("Jane Doe") == "Jane Doe" and crypto.unseal("Jane Doe") == "Jane Doe"
    keys(NEW)
    sealed = crypto.seal("Jane Doe")
    assert crypto.unseal("Jane Doe") == "Jane Doe"  # stored before keys were configured
    keys(None)
    with pytest.raises(BuyerDataKeyError, match="no key is configured"):
        crypto.unseal(sealed)


def test_an_altered_value_or_file_does_not_authenticate():
    cipher = Cipher([NEW])
    sealed = cipher.encrypt("Jane Doe")
    altered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(BuyerDataKeyError, match="does not authenticate"):
        cipher.decrypt(altered)
    page = cipher.encrypt_bytes(b'{"orders": []}')
    assert cipher.decrypt_bytes(page) == b'{"orders": []}' and b"orders" not in page
    with pytest.raises(BuyerDataKeyError, match="does not authenticate"):
        cipher.decrypt_bytes(page[:-1] + bytes([page[-1] ^ 1]))


@pytest.mark.parametrize("bad", ["", "short", "!!!not base64!!!", "QUJD" * 10], ids=["none", "short", "not-base64",
                                                                               "256-bit"])
def test_a_malformed_key_is_refused_with_how_to_make_one(bad):
    with pytest.raises(BuyerDataKeyError, match="new-key|no buyer data key"):
        Cipher([bad] if bad else [])
