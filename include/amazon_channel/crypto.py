"""Buyer personal data encrypted at rest (Amazon's Data Protection Policy): in the channel tables, the quarantine's
payloads and the staged pages.

AES-SIV (RFC 5297, `cryptography`), 512-bit keys: authenticated, and deterministic. Deterministic on purpose: the same
value encrypts to the same text, so a re-run still leaves every table byte-identical, two databases loaded alike
still compare equal, and "has this column a value" stays a plain SQL test. What it gives away is only which stored
values are equal to each other.

Keys: newest first, comma-separated, from the Airflow connection `amazon_channel_buyer_data_key` (its password;
any secrets backend can serve it) or the environment variable AMAZON_CHANNEL_BUYER_DATA_KEYS. The first key
encrypts; every key decrypts; each text names its key, so rotating is: put a new key first, let the retention DAG
re-encrypt (`reencrypt`), then drop the old key. Without keys, values are stored as they are (and a warning says
so); a stored encrypted value without its key is an error naming the key it needs.

    python -m amazon_channel.crypto new-key     # prints a new key
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

log = logging.getLogger(__name__)

KEYS_ENV = "AMAZON_CHANNEL_BUYER_DATA_KEYS"
KEY_CONN_ID = "amazon_channel_buyer_data_key"
TEXT_PREFIX = "enc1:"  # enc1:<key id>:<base64url of the SIV ciphertext>
FILE_PREFIX = b"amazon-channel-enc1:"  # then the key id, ":", and the ciphertext
_AAD = [b"amazon_channel buyer data"]


class BuyerDataKeyError(ValueError):
    """A key is malformed, or a stored value needs a key that is not configured."""


def new_key() -> str:
    return base64.urlsafe_b64encode(AESSIV.generate_key(512)).decode()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


class Cipher:
    """The configured keys: the first encrypts, any decrypts."""

    def __init__(self, keys: list[str]):
        decoded = []
        for position, text in enumerate(keys, start=1):
            try:
                key = base64.urlsafe_b64decode(text.strip().encode())
            except ValueError:
                key = b""
            if len(key) != 64:
                raise BuyerDataKeyError(f"buyer data key {position} is not a 512-bit urlsafe-base64 key (make one "
                                        f"with: python -m amazon_channel.crypto new-key)")
            decoded.append(key)
        if not decoded:
            raise BuyerDataKeyError("no buyer data key given")
        self.key_id = _key_id(decoded[0])
        self._ciphers = {_key_id(key): AESSIV(key) for key in decoded}
        self._current = self._ciphers[self.key_id]

    def encrypt(self, value: str) -> str:
        token = base64.urlsafe_b64encode(self._current.encrypt(value.encode("utf-8"), _AAD)).decode().rstrip("=")
        return f"{TEXT_PREFIX}{self.key_id}:{token}"

    def encrypt_bytes(self, data: bytes) -> bytes:
        return FILE_PREFIX + self.key_id.encode() + b":" + self._current.encrypt(data, _AAD)

    def decrypt_bytes(self, data: bytes) -> bytes:
        key_id, ciphertext = data[len(FILE_PREFIX):].split(b":", 1)
        return self._open(key_id.decode(), ciphertext)

    def decrypt(self, value: str) -> str:
        key_id, token = value[len(TEXT_PREFIX):].split(":", 1)
        return self._open(key_id, base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))).decode("utf-8")

    def _open(self, key_id: str, ciphertext: bytes) -> bytes:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise BuyerDataKeyError(f"buyer data encrypted with key {key_id}, which is not among the configured keys "
                                    f"({', '.join(self._ciphers)}); add it back to {KEY_CONN_ID} / {KEYS_ENV}")
        try:
            return cipher.decrypt(ciphertext, _AAD)
        except InvalidTag:  # the message never shows the value: it is buyer data
            raise BuyerDataKeyError(f"buyer data sealed with key {key_id} does not authenticate: it was altered, "
                                    f"or a key of that id was replaced") from None


_configured: Cipher | None = None
_from_environment = False


def use_keys(keys: str | list[str] | None) -> None:
    """Set the process's keys (a comma-separated string or a list, newest first); None or empty: no encryption."""
    global _configured, _from_environment
    if isinstance(keys, str):
        keys = [k for k in keys.split(",") if k.strip()]
    _configured = Cipher(keys) if keys else None
    _from_environment = True


def cipher() -> Cipher | None:
    """The process's keys: those given to use_keys, else AMAZON_CHANNEL_BUYER_DATA_KEYS, else None."""
    if not _from_environment:
        use_keys(os.environ.get(KEYS_ENV))
        if _configured is None:
            log.warning("buyer data is stored unencrypted: set the connection %s or %s (see amazon_channel.crypto)",
                        KEY_CONN_ID, KEYS_ENV)
    return _configured


def seal(value: str | None) -> str | None:
    """A value as stored: encrypted when keys are configured."""
    if value is None:
        return None
    current = cipher()
    return value if current is None else current.encrypt(value)


def unseal(value: str | None) -> str | None:
    """A stored value as read: decrypted when it is encrypted (a value stored before encryption is read as it is)."""
    if value is None or not value.startswith(TEXT_PREFIX):
        return value
    current = cipher()
    if current is None:
        raise BuyerDataKeyError(f"buyer data is encrypted but no key is configured ({KEY_CONN_ID} / {KEYS_ENV})")
    return current.decrypt(value)


def sealed_with_current_key(value: str | None) -> bool:
    """Whether a stored value needs no re-encryption: empty, or encrypted with the current key (with keys)."""
    current = cipher()
    if value is None or current is None:
        return True
    return value.startswith(f"{TEXT_PREFIX}{current.key_id}:")


def seal_bytes(data: bytes) -> bytes:
    current = cipher()
    return data if current is None else current.encrypt_bytes(data)


def unseal_bytes(data: bytes) -> bytes:
    if not data.startswith(FILE_PREFIX):
        return data
    current = cipher()
    if current is None:
        raise BuyerDataKeyError(f"a staged file is encrypted but no key is configured ({KEY_CONN_ID} / {KEYS_ENV})")
    return current.decrypt_bytes(data)


if __name__ == "__main__":
    if sys.argv[1:] != ["new-key"]:
        sys.exit("usage: python -m amazon_channel.crypto new-key")
    print(new_key())
