"""Device and enrollment tokens: random secrets that are only ever stored as hashes.

A token is shown once (to the operator for an enrollment token, to the device
for a device token); the store keeps its SHA-256, so a copy of the database
lets nobody sync as anyone. SHA-256 without salt is enough here because the
tokens are 256 random bits, not passwords: there is nothing to guess.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["bearer_token", "hash_token", "new_token"]

#: Prefixes that make a leaked token recognisable (e.g. by secret scanners).
DEVICE_PREFIX = "cld_"
ENROLLMENT_PREFIX = "cle_"


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 256:
        return None
    return token
