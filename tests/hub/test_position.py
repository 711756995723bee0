"""Position, Publication and StreamSlice: values with no I/O (no event loop)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sockjet.hub.position import (
    KIND_BYTES,
    KIND_JSON,
    KIND_TEXT,
    IncomparablePositions,
    Position,
    Publication,
    StreamSlice,
    as_position,
    kind_of,
)

epochs = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=64)


@given(epochs, st.integers(min_value=0, max_value=2**63 - 1))
def test_str_and_parse_are_inverses(epoch: str, offset: int) -> None:
    position = Position(epoch, offset)
    token = str(position)
    assert Position.parse(token) == position
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)  # URL-safe as it is


def test_token_is_compact() -> None:
    assert str(Position("f3a9c2e1", 42)) == "f3a9c2e1.42"


@pytest.mark.parametrize(
    "text", ["", "abc", "abc.", ".3", "a.b.3", "abc.-1", "abc.01", "abc. 3", "ab c.3", "abc.3x", "a" * 65 + ".1"]
)
def test_parse_refuses_anything_else_with_a_clear_message(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape("Expected '<epoch>.<offset>' as made by str(Position)")):
        Position.parse(text)


def test_parse_refuses_a_non_string_and_a_huge_offset() -> None:
    with pytest.raises(ValueError, match="Not a sockjet position: 42"):
        Position.parse(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape("Its offset is above 2**63-1")):
        Position.parse("abc.9999999999999999999")


def test_parse_shortens_a_long_garbage_token_in_its_message() -> None:
    with pytest.raises(ValueError, match=r"'xxxxx+\.\.\.'"):
        Position.parse("x" * 500)


@pytest.mark.parametrize(
    ("epoch", "offset", "message"),
    [
        ("", 1, "epoch is 1 to 64 characters"),
        ("a.b", 1, "epoch is 1 to 64 characters"),
        (7, 1, "epoch is 1 to 64 characters"),
        ("e", -1, "offset is an int from 0 to 2**63-1"),
        ("e", True, "offset is an int from 0 to 2**63-1"),
        ("e", 1.0, "offset is an int from 0 to 2**63-1"),
        ("e", 2**63, "offset is an int from 0 to 2**63-1"),
    ],
)
def test_position_checks_its_fields(epoch: object, offset: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Position(epoch, offset)  # type: ignore[arg-type]


def test_positions_are_immutable_and_hashable() -> None:
    position = Position("e", 1)
    with pytest.raises(AttributeError):
        position.offset = 2  # type: ignore[misc]
    assert {position, Position("e", 1)} == {position}


def test_positions_compare_by_offset_within_one_epoch() -> None:
    a, b = Position("e", 1), Position("e", 2)
    assert a < b and a <= b and b > a and b >= a and a <= Position("e", 1) and a >= Position("e", 1)
    assert not (b < a) and a != b
    assert max(Position("e", 5), Position("e", 9), Position("e", 7)) == Position("e", 9)


def test_positions_of_two_epochs_have_no_order() -> None:
    a, b = Position("e1", 1), Position("e2", 2)
    assert a != b
    for compare in (a.__lt__, a.__le__, a.__gt__, a.__ge__):
        with pytest.raises(IncomparablePositions, match="they are of different epochs"):
            compare(b)
    with pytest.raises(TypeError):
        _ = a < b
    with pytest.raises(ValueError):
        _ = a >= b


def test_positions_do_not_compare_with_other_types() -> None:
    position = Position("e", 1)
    for compare in (position.__lt__, position.__le__, position.__gt__, position.__ge__):
        assert compare(1) is NotImplemented
    with pytest.raises(TypeError):
        _ = position < 1


def test_as_position_takes_a_position_its_token_or_none() -> None:
    assert as_position(None) is None
    assert as_position(Position("e", 3)) == Position("e", 3)
    assert as_position("e.3") == Position("e", 3)
    with pytest.raises(ValueError, match="Not a sockjet position: 'garbage'"):
        as_position("garbage")
    with pytest.raises(TypeError, match="since must be a Position, its str\\(\\) token, or None; got int"):
        as_position(3)  # type: ignore[arg-type]


def test_publication_gives_data_back_as_published() -> None:
    position = Position("e", 1)
    assert kind_of("x") == KIND_TEXT and kind_of(b"x") == KIND_BYTES and kind_of(bytearray(b"x")) == KIND_BYTES
    assert kind_of({"a": 1}) == KIND_JSON and kind_of(None) == KIND_JSON
    cases: list[tuple[str | bytes, str, object]] = [
        ("héllo", KIND_TEXT, "héllo"),
        (b"\x00\xff", KIND_BYTES, b"\x00\xff"),
        ('{"a":[1,2]}', KIND_JSON, {"a": [1, 2]}),
        ("null", KIND_JSON, None),
    ]
    for payload, kind, data in cases:
        publication = Publication("r", position, payload, kind)
        assert publication.data == data
        assert publication.offset == 1
        again = Publication.from_wire("r", position, publication.to_wire())
        assert again == publication


def test_publication_from_wire_refuses_unknown_bytes() -> None:
    with pytest.raises(ValueError, match="Not a hub publication \\(kind byte 'x'\\) in room 'r'"):
        Publication.from_wire("r", Position("e", 1), b"xhello")


def _pubs(epoch: str, *offsets: int) -> tuple[Publication, ...]:
    return tuple(Publication("r", Position(epoch, o), f"m{o}") for o in offsets)


def test_stream_slice_continues_only_an_unbroken_stream() -> None:
    read = StreamSlice("e", 5, _pubs("e", 3, 4, 5))
    assert read.top_position == Position("e", 5)
    assert read.continues(Position("e", 2))  # 3, 4, 5 all there
    assert read.continues(Position("e", 5))  # nothing missed
    assert not read.continues(Position("e", 1))  # 2 was trimmed
    assert not read.continues(Position("e", 6))  # beyond the top
    assert not read.continues(Position("other", 2))  # another epoch
    assert StreamSlice("e", 5, _pubs("e", 3)).continues(Position("e", 2))  # a limited read
    assert not StreamSlice("e", 5, ()).continues(Position("e", 2))  # everything expired
    empty = StreamSlice(None, 0, ())
    assert empty.top_position is None
    assert not empty.continues(Position("e", 0))
