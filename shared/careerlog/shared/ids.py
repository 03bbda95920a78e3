"""Identifier formats: UUIDv7 event ids and short record ids.

Both are built from values the caller supplies (a millisecond timestamp and
random bytes), so minting stays pure and tests can fix them.
"""

from __future__ import annotations

from uuid import UUID

__all__ = [
    "RECORD_ID_LENGTH",
    "id_bytes",
    "is_record_id",
    "record_id",
    "uuid7",
    "uuid7_millis",
]

#: Crockford's base32 alphabet in lower case: no i, l, o, u, so a record id
#: read aloud or copied by hand is hard to get wrong.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_ALPHABET_SET = frozenset(_ALPHABET)

#: 12 base32 characters hold 60 random bits: collisions in one person's
#: lifetime of records are negligible, and a 6-8 character prefix is usually
#: enough to name a record on the command line.
RECORD_ID_LENGTH = 12


def uuid7(unix_ms: int, rand: bytes) -> UUID:
    """Build a UUIDv7 (RFC 9562) from a millisecond timestamp and 10 random bytes."""
    if not 0 <= unix_ms < 1 << 48:
        raise ValueError(f"timestamp out of range for UUIDv7: {unix_ms}")
    if len(rand) < 10:
        raise ValueError("uuid7 needs 10 random bytes")
    rand_a = int.from_bytes(rand[:2], "big") & 0x0FFF
    rand_b = int.from_bytes(rand[2:10], "big") & ((1 << 62) - 1)
    value = (unix_ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return UUID(int=value)


def id_bytes(value: object) -> bytes | None:
    """An event id as its 16 bytes, from what an envelope decoded leniently
    holds (MessagePack bytes as this client writes them, or the canonical
    string another client may send); None if it is neither."""
    if isinstance(value, UUID):
        return value.bytes
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value) if len(value) == 16 else None
    if isinstance(value, str):
        try:
            return UUID(value).bytes
        except ValueError:
            return None
    return None


def uuid7_millis(value: UUID) -> int:
    """The millisecond timestamp embedded in a UUIDv7."""
    return value.int >> 80


#: Every 10-bit number as its two characters: a record id is six lookups,
#: not twelve steps of a loop (minted with every recorded event).
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


def record_id(rand: bytes) -> str:
    """A short record id (goal, milestone, task, …) from 8 random bytes:
    their first 60 bits in base32, most significant first."""
    if len(rand) < 8:
        raise ValueError("record_id needs 8 random bytes")
    n = int.from_bytes(rand[:8], "big") >> 4  # keep 60 bits
    pairs = _PAIRS
    return (
        pairs[n >> 50]
        + pairs[(n >> 40) & 1023]
        + pairs[(n >> 30) & 1023]
        + pairs[(n >> 20) & 1023]
        + pairs[(n >> 10) & 1023]
        + pairs[n & 1023]
    )


def is_record_id(text: str) -> bool:
    return len(text) == RECORD_ID_LENGTH and all(c in _ALPHABET_SET for c in text)
