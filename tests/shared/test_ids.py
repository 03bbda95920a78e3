from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careerlog.shared.ids import RECORD_ID_LENGTH, is_record_id, record_id, uuid7, uuid7_millis


@given(st.integers(min_value=0, max_value=(1 << 48) - 1), st.binary(min_size=10, max_size=10))
def test_uuid7_has_version_variant_and_timestamp(ms: int, rand: bytes) -> None:
    value = uuid7(ms, rand)
    assert value.version == 7
    assert value.variant == "specified in RFC 4122"
    assert uuid7_millis(value) == ms


def test_uuid7_sorts_by_time() -> None:
    earlier = uuid7(1_000, b"\xff" * 10)
    later = uuid7(1_001, b"\x00" * 10)
    assert str(earlier) < str(later)


@given(st.binary(min_size=8, max_size=8))
def test_record_ids_are_short_lowercase_base32(rand: bytes) -> None:
    rid = record_id(rand)
    assert len(rid) == RECORD_ID_LENGTH
    assert is_record_id(rid)


@given(st.binary(min_size=8, max_size=8))
def test_a_record_id_is_the_first_60_bits_in_base32_most_significant_first(rand: bytes) -> None:
    bits = format(int.from_bytes(rand, "big"), "064b")[:60]
    expected = "".join(
        "0123456789abcdefghjkmnpqrstvwxyz"[int(bits[i : i + 5], 2)] for i in range(0, 60, 5)
    )
    assert record_id(rand) == expected


def test_record_id_depends_on_its_random_input() -> None:
    assert record_id(b"\x00" * 8) != record_id(b"\x01" + b"\x00" * 7)


def test_short_random_input_is_refused() -> None:
    with pytest.raises(ValueError, match="8 random bytes"):
        record_id(b"abc")
    with pytest.raises(ValueError, match="10 random bytes"):
        uuid7(1, b"abc")
