"""docs/protocol.md's close-code table, as the client reads it: reconnect, refresh the token, or stop."""

from __future__ import annotations

import pytest

from sockjet.client.closes import CloseAction, after_close, resubscribes

RECONNECT = [1001, 1005, 1006, 1011, 1012, 1013, 1014, 3000, 3410, 3999, 4500, 4999, 1004, 1015, 2000, 5000]
STOP = [1000, 1002, 1003, 1007, 1008, 1009, 4000, 4002, 4003, 4403, 4499]


@pytest.mark.parametrize("code", RECONNECT)
@pytest.mark.parametrize("can_refresh", [False, True])
def test_codes_after_which_the_client_reconnects(code: int, can_refresh: bool) -> None:
    assert after_close(code, can_refresh=can_refresh) is CloseAction.RECONNECT


@pytest.mark.parametrize("code", STOP)
@pytest.mark.parametrize("can_refresh", [False, True])
def test_codes_after_which_it_stops_even_with_a_token_provider(code: int, can_refresh: bool) -> None:
    assert after_close(code, can_refresh=can_refresh) is CloseAction.STOP


def test_token_expired_asks_the_provider_or_stops_without_one() -> None:
    assert after_close(4001, can_refresh=True) is CloseAction.REFRESH
    assert after_close(4001, can_refresh=False) is CloseAction.STOP


@pytest.mark.parametrize(("code", "again"), [(3410, True), (3000, True), (3999, True), (4403, False), (4000, False)])
def test_unsubscribed_codes(code: int, again: bool) -> None:
    assert resubscribes(code) is again
