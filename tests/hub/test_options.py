"""``hub.options``: every option checked once when the hub is made, then frozen (hub/options.py)."""

from __future__ import annotations

import dataclasses

import pytest

from sockjet import Hub
from sockjet._checks import check_at_least_zero, check_int, check_positive, is_int, is_number
from sockjet.exceptions import ConfigurationError
from sockjet.hub.options import HubOptions


def test_the_options_are_one_frozen_value_and_the_attributes_read_it() -> None:
    hub = Hub(max_queue=8, history_size=5, history_by_prefix={"audit:": 50}, presence_interval=0)
    assert hub.options == HubOptions(max_queue=8, history_size=5, history_by_prefix={"audit:": 50}, presence_interval=0)
    assert (hub.max_queue, hub.history_size, hub.history_by_prefix, hub.presence_interval) == (8, 5, {"audit:": 50}, 0)
    assert Hub().history_by_prefix == {}  # None is normalised
    with pytest.raises(dataclasses.FrozenInstanceError):
        hub.options.max_queue = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value"), [("max_queue", 10), ("history_size", 3), ("frame", None), ("presence_interval", 1.0)]
)
def test_assigning_an_option_after_the_fact_is_an_error_not_a_silent_no_op(name: str, value: object) -> None:
    hub = Hub()
    with pytest.raises(AttributeError) as raised:
        setattr(hub, name, value)
    assert str(raised.value) == f"Hub.{name} is fixed when the hub is made: pass it as Hub(..., {name}={value!r})."


def test_drain_on_signal_may_change_until_the_lifespan_starts() -> None:
    hub = Hub()
    hub.drain_on_signal = False
    assert hub.drain_on_signal is False


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_payload": True}, "max_payload must be an int >= 1, got True."),
        ({"max_presence_info": 1}, "max_presence_info must be an int >= 2, got 1."),
        ({"presence_interval": -1}, "presence_interval must be a number >= 0, got -1."),
        ({"close_timeout": 0}, "close_timeout must be a number > 0, got 0."),
        ({"history_size": -1}, "history_size must be an int >= 0 (0: no history), got -1."),
        ({"history_size": 1, "history_ttl": 10, "history_meta_ttl": 5}, "history_meta_ttl (5) must be >= history_ttl"),
        ({"history_by_prefix": {"": 3}}, "history_by_prefix must be a dict of non-empty room-name prefixes"),
        ({"frame": "json"}, "frame must be a callable (Publication) -> str | bytes, or None; got 'json'."),
    ],
)
def test_a_bad_option_names_itself_when_the_hub_is_made(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Hub(**options)  # type: ignore[arg-type]
    assert str(raised.value).startswith(message)


def test_the_number_checks_refuse_bools() -> None:
    assert is_int(3) and not is_int(True) and not is_int(3.0)
    assert is_number(0.5) and is_number(2) and not is_number(False) and not is_number("1")
    check_int("n", 0, 0)
    check_positive("t", 0.1)
    check_at_least_zero("i", 0)
    with pytest.raises(ConfigurationError, match="got True"):
        check_int("x", True, 0)
    with pytest.raises(ConfigurationError, match="got True"):
        check_positive("x", True)
    with pytest.raises(ConfigurationError, match="got False"):
        check_at_least_zero("x", False)
