"""Pending commands: ids unique among those pending, and what a dropped link does to each op."""

from __future__ import annotations

import re

import pytest

from sockjet.client.pending import MAX_ID, Fate, PendingCommands, fate_on_drop


def test_ids_are_positive_and_unique_among_pending_commands() -> None:
    pending: PendingCommands[str] = PendingCommands()
    ids = [pending.add(f"c{n}") for n in range(5)]
    assert ids == [1, 2, 3, 4, 5] and len(pending) == 5
    assert pending.pop(3) == "c2" and pending.pop(3) is None
    assert pending.add("c5") == 6


def test_ids_wrap_around_and_skip_those_still_pending() -> None:
    pending: PendingCommands[str] = PendingCommands()
    first = pending.add("old")
    pending._last = MAX_ID - 1
    assert pending.add("a") == MAX_ID
    assert pending.add("b") == first + 1  # 1 is still pending: skipped


def test_drain_gives_every_pending_entry_oldest_first() -> None:
    pending: PendingCommands[str] = PendingCommands()
    for name in ("a", "b", "c"):
        pending.add(name)
    pending.pop(2)
    assert pending.drain() == ["a", "c"]
    assert len(pending) == 0 and pending.pop(1) is None


@pytest.mark.parametrize(
    ("op", "fate"),
    [
        ("presence", Fate.RESEND),
        ("history", Fate.RESEND),
        ("publish", Fate.FAIL),
        ("call", Fate.FAIL),
        ("subscribe", Fate.REDO),
        ("unsubscribe", Fate.REDO),
    ],
)
def test_what_a_drop_does_to_each_command(op: str, fate: Fate) -> None:
    assert fate_on_drop(op) is fate


def test_an_unknown_op_is_a_bug() -> None:
    with pytest.raises(ValueError, match=re.escape("Not a protocol v1 command: 'ping'.")):
        fate_on_drop("ping")
