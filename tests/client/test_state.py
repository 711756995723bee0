"""The client's state machine: every transition the table allows, and a clear error for the rest."""

from __future__ import annotations

import itertools
import re

import pytest

from sockjet.client.state import ClientEvent, ClientState, next_state

S, E = ClientState, ClientEvent

ALLOWED = {
    (S.CONNECTING, E.OPENED): S.CONNECTED,
    (S.CONNECTING, E.FAILED): S.CLOSED,
    (S.CONNECTING, E.CLOSE): S.CLOSED,
    (S.CONNECTED, E.DROPPED): S.RECONNECTING,
    (S.CONNECTED, E.FAILED): S.CLOSED,
    (S.CONNECTED, E.CLOSE): S.CLOSED,
    (S.RECONNECTING, E.DROPPED): S.RECONNECTING,
    (S.RECONNECTING, E.OPENED): S.CONNECTED,
    (S.RECONNECTING, E.FAILED): S.CLOSED,
    (S.RECONNECTING, E.CLOSE): S.CLOSED,
}


@pytest.mark.parametrize(("state", "event"), list(ALLOWED))
def test_allowed_transitions(state: ClientState, event: ClientEvent) -> None:
    assert next_state(state, event) is ALLOWED[state, event]


@pytest.mark.parametrize(
    ("state", "event"), [pair for pair in itertools.product(ClientState, ClientEvent) if pair not in ALLOWED]
)
def test_every_other_transition_is_a_bug(state: ClientState, event: ClientEvent) -> None:
    with pytest.raises(RuntimeError, match=re.escape(f"cannot take {event.name} in state {state.name}.")):
        next_state(state, event)


def test_a_drop_then_a_reconnect_that_fails_then_one_that_works() -> None:
    state = S.CONNECTING
    for event in (E.OPENED, E.DROPPED, E.DROPPED, E.OPENED, E.FAILED):
        state = next_state(state, event)
    assert state is S.CLOSED
