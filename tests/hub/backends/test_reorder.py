"""The NATS live feed back in offset order (backends/reorder.py): pure, no server, no event loop."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sockjet.hub.backends.reorder import MAX_HELD, ReorderWindow
from sockjet.hub.position import Position, Publication


def pub(offset: int, epoch: str = "e1", room: str = "r") -> Publication:
    return Publication(room, Position(epoch, offset), f"m{offset}")


def offsets(publications: list[Publication]) -> list[int]:
    return [p.position.offset for p in publications]


def test_in_order_arrivals_pass_straight_through() -> None:
    window = ReorderWindow()
    assert [offsets(window.arrive(pub(n))) for n in (1, 2, 3)] == [[1], [2], [3]]
    assert not window.waiting("r")


def test_a_swapped_pair_is_released_in_order_when_the_earlier_one_comes() -> None:
    window = ReorderWindow()
    window.arrive(pub(115))
    assert window.arrive(pub(117)) == [] and window.waiting("r")
    assert offsets(window.arrive(pub(116))) == [116, 117]
    assert not window.waiting("r")


def test_giving_up_on_a_real_hole_releases_what_is_held_in_order_and_moves_on() -> None:
    window = ReorderWindow()
    window.arrive(pub(1))
    window.arrive(pub(4))
    window.arrive(pub(3))
    assert offsets(window.give_up("r")) == [3, 4]
    assert offsets(window.arrive(pub(5))) == [5]
    assert offsets(window.arrive(pub(2))) == [2]  # late and older: the hub drops or gap-fills it
    assert window.give_up("r") == []


def test_a_new_epoch_releases_the_old_ones_held_and_starts_over() -> None:
    window = ReorderWindow()
    window.arrive(pub(1))
    window.arrive(pub(3))
    assert offsets(window.arrive(pub(1, epoch="e2"))) == [3, 1]
    assert offsets(window.arrive(pub(2, epoch="e2"))) == [2]


def test_an_epoch_marker_sets_where_the_room_stands() -> None:
    window = ReorderWindow()
    assert window.baseline("r", "e1", 0) == []
    assert window.arrive(pub(2)) == []  # offset 1 is still to come
    assert offsets(window.arrive(pub(1))) == [1, 2]
    assert window.baseline("r", "e1", 0) == []  # the same epoch: nothing changes
    window.arrive(pub(5))
    assert offsets(window.baseline("r", "e2", 0)) == [5]


def test_rooms_are_kept_apart_and_forgotten() -> None:
    window = ReorderWindow()
    window.arrive(pub(1, room="a"))
    window.arrive(pub(1, room="b"))
    assert window.arrive(pub(3, room="a")) == []
    assert offsets(window.arrive(pub(2, room="b"))) == [2]
    assert offsets(window.forget("a")) == [3]
    assert offsets(window.arrive(pub(9, room="a"))) == [9]  # a new baseline after forget


def test_a_room_holds_at_most_max_held() -> None:
    window = ReorderWindow()
    window.arrive(pub(1))
    for n in range(3, 3 + MAX_HELD):
        assert window.arrive(pub(n)) == []
    released = window.arrive(pub(3 + MAX_HELD))
    assert offsets(released) == list(range(3, 4 + MAX_HELD)) and not window.waiting("r")


@given(st.permutations(list(range(2, 40))), st.integers(min_value=0, max_value=8))
def test_any_local_swap_comes_out_in_order_once(order: list[int], swaps: int) -> None:
    # Arrivals displaced by at most a few places, as racing publishers produce: all out, in order.
    arrivals = sorted(range(2, 40), key=lambda n: n + (order.index(n) % (swaps + 1)))
    window = ReorderWindow()
    out = offsets(window.arrive(pub(1)))
    for n in arrivals:
        out += offsets(window.arrive(pub(n)))
    out += offsets(window.give_up("r"))
    assert out == list(range(1, 40))


async def test_the_nats_feed_holds_an_early_publication_for_hold_seconds_at_most() -> None:
    import asyncio

    from sockjet.hub.backends.nats import NatsBackend
    from sockjet.hub.backends.reorder import HOLD

    backend = NatsBackend("nats://127.0.0.1:1")  # never started: the feed's ordering alone
    delivered: list[Publication] = []

    class Local:
        def deliver_publication(self, publication: Publication) -> None:
            delivered.append(publication)

    backend._local = Local()  # type: ignore[assignment]
    backend._release("r", backend._order.arrive(pub(1)))
    backend._release("r", backend._order.arrive(pub(3)))  # 2 is missing: 3 waits
    assert offsets(delivered) == [1]
    await asyncio.sleep(HOLD / 4)
    backend._release("r", backend._order.arrive(pub(2)))  # 2 came: both go, the timer is off
    assert offsets(delivered) == [1, 2, 3] and not backend._order_timers
    backend._release("r", backend._order.arrive(pub(5)))  # 4 never comes
    await asyncio.sleep(HOLD * 1.5)
    assert offsets(delivered) == [1, 2, 3, 5] and not backend._order_timers
