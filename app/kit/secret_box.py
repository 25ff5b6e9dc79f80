"""Secrets the server must read back, at rest: sealed with AES-256-GCM under a key derived from
the server's secret key.

A webhook's signing secret (the HMAC needs the secret itself) and the password of a user's own
mailbox (the SMTP login needs it) cannot be hashed like a login password; a copy of the
database (a backup, a replica, a leaked dump) without the server's ``INFOVIEW_SECRET_KEY`` must
still not let anyone sign events or send mail in a user's name. Each purpose has its own key,
derived with HKDF-SHA256 (:data:`WEBHOOK_SECRETS`, :data:`MAIL_PASSWORDS`), never the key that
signs JWTs. Each sealed value is bound to its row's id (associated data): copied to another
row, it does not open.

Stored form: ``v1:`` + base64url(nonce ‖ ciphertext ‖ tag), 12-byte random nonce.
``migrations/versions/20261205_1700_webhook_secrets_encrypted.py`` writes the same form; keep
the two in step.
"""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "v1:"
WEBHOOK_SECRETS = b"infoview webhook signing secrets v1"
MAIL_PASSWORDS = b"infoview mail passwords v1"
_NONCE_BYTES = 12


class SecretUnreadable(Exception):
    """A stored secret does not open with this server's key (the key changed, or the value was
    tampered with or moved to another row)."""


@lru_cache(maxsize=8)
def _cipher(server_secret: str, purpose: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        server_secret.encode()
    )
    return AESGCM(key)


def seal(
    server_secret: str, row_id: uuid.UUID, secret: str, purpose: bytes = WEBHOOK_SECRETS
) -> str:
    """The stored form of ``secret``, for the row ``row_id``."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _cipher(server_secret, purpose).encrypt(nonce, secret.encode(), row_id.bytes)
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def open_(
    server_secret: str, row_id: uuid.UUID, stored: str, purpose: bytes = WEBHOOK_SECRETS
) -> str:
    """The secret a stored value holds; :class:`SecretUnreadable` if it does not open."""
    if not stored.startswith(PREFIX):
        raise SecretUnreadable("not a sealed secret")
    try:
        raw = base64.urlsafe_b64decode(stored[len(PREFIX) :])
        plain = _cipher(server_secret, purpose).decrypt(
            raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], row_id.bytes
        )
        return plain.decode()
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise SecretUnreadable("the secret does not open with this server's key") from exc
