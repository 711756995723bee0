"""The rules around a publish that need no broker: argument checks, the room-name limit, the
idempotency-key memory (``RecentKeys``) and the cap on client-supplied values in log lines."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

import sockjet
import sockjet.hub
from sockjet import Hub
from sockjet.exceptions import ConfigurationError, HubError, PublishError, PublishOutcomeUnknown, SockjetError
from sockjet.hub import MAX_ROOM_NAME_BYTES
from sockjet.hub.backends.recent_keys import RecentKeys
from sockjet.hub.loggable import MAX_LOGGED_CHARS, loggable
from sockjet.hub.room_names import check_room


def test_publish_outcome_unknown_is_a_publish_error_exported_with_it() -> None:
    assert issubclass(PublishOutcomeUnknown, PublishError) and issubclass(PublishError, HubError)
    assert issubclass(HubError, SockjetError)
    for module in (sockjet, sockjet.hub):
        assert module.PublishOutcomeUnknown is PublishOutcomeUnknown and module.PublishError is PublishError
        assert {"PublishError", "PublishOutcomeUnknown"} <= set(module.__all__)
    assert "PublishOutcomeUnknown" in (sockjet.exceptions.__doc__ or "")  # drawn in the tree


@pytest.mark.parametrize("ttl", ["300", None, True, [1]])
def test_idempotency_ttl_must_be_a_number(ttl: object) -> None:
    with pytest.raises(
        TypeError, match=re.escape(f"idempotency_ttl must be a number of seconds (int or float), got {ttl!r}.")
    ):
        Hub(idempotency_ttl=ttl)  # type: ignore[arg-type]


@pytest.mark.parametrize("ttl", [0, -1, 0.0, math.inf, math.nan])
def test_idempotency_ttl_must_be_positive_and_finite(ttl: float) -> None:
    with pytest.raises(
        ConfigurationError, match=re.escape(f"idempotency_ttl must be a finite number of seconds > 0, got {ttl!r}.")
    ):
        Hub(idempotency_ttl=ttl)


def test_idempotency_ttl_defaults_to_five_minutes() -> None:
    assert Hub().idempotency_ttl == 300.0
    assert Hub(idempotency_ttl=2).idempotency_ttl == 2


async def test_idempotency_key_checks() -> None:
    async with Hub() as hub:
        with pytest.raises(TypeError, match=re.escape("idempotency_key must be a str or None, got 5.")):
            await hub.publish("r", "x", idempotency_key=5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=re.escape("idempotency_key must be a str or None, got b'k'.")):
            await hub.publish("r", "x", idempotency_key=b"k")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=re.escape("idempotency_key must be a non-empty str, got ''.")):
            await hub.publish("r", "x", idempotency_key="")
        with pytest.raises(ValueError, match=re.escape("idempotency_key is at most 256 bytes of UTF-8, got 258 bytes")):
            await hub.publish("r", "x", idempotency_key="é" * 129)
        with pytest.raises(
            ValueError, match=re.escape("idempotency_key must be valid UTF-8 text (no lone surrogates)")
        ):
            await hub.publish("r", "x", idempotency_key="\ud800")
        assert await hub.publish("r", "x", idempotency_key="k" * 256) is None


def test_room_name_checks() -> None:
    check_room("a" * MAX_ROOM_NAME_BYTES)
    check_room("日" * (MAX_ROOM_NAME_BYTES // 3))
    with pytest.raises(
        ValueError,
        match=re.escape("A room name is at most 1024 bytes of UTF-8 (MAX_ROOM_NAME_BYTES); got 1025 bytes: 'aaa"),
    ):
        check_room("a" * 1025)
    with pytest.raises(ValueError, match=re.escape("got 1026 bytes")):
        check_room("日" * 342)
    with pytest.raises(
        ValueError, match=re.escape("A room name must be valid UTF-8 text (no lone surrogates), got 'a\\udc80'.")
    ):
        check_room("a\udc80")
    with pytest.raises(TypeError, match=re.escape("A room is a non-empty str, got ''.")):
        check_room("")
    with pytest.raises(TypeError, match=re.escape("A room is a non-empty str, got None.")):
        check_room(None)
    with pytest.raises(ValueError) as caught:
        check_room("x" * 1_000_000)
    assert len(str(caught.value)) < MAX_LOGGED_CHARS + 200


def test_a_join_with_a_room_over_the_limit_is_refused_before_anything_starts() -> None:
    hub = Hub()
    with pytest.raises(ValueError, match=re.escape("A room name is at most 1024 bytes")):
        hub.join("x" * 2000, object())  # type: ignore[arg-type]
    assert not hub.running


def test_loggable_cuts_long_values_and_says_how_long_they_were() -> None:
    assert loggable("room") == "'room'"
    assert loggable(["a", "b"]) == "['a', 'b']"
    assert loggable(ValueError("bad")) == "ValueError: bad"
    assert loggable(TimeoutError()) == "TimeoutError"
    long = loggable("x" * 1_000_000)
    assert long == "'" + "x" * (MAX_LOGGED_CHARS - 1) + "... (1000002 characters)"
    assert len(loggable(RuntimeError("y" * 5000))) < MAX_LOGGED_CHARS + 30
    assert loggable("abcdef", limit=3) == "'ab... (8 characters)"


def test_recent_keys_remember_for_ttl_per_room() -> None:
    keys: RecentKeys[int | None] = RecentKeys(10.0)
    assert keys.seen("r", "k", 0.0) == (False, None)
    keys.remember("r", "k", 1, 0.0)
    keys.remember("r", "k", 2, 1.0)  # a key keeps its first value
    keys.remember("s", "k", None, 5.0)
    assert keys.seen("r", "k", 9.9) == (True, 1)
    assert keys.seen("s", "k", 9.9) == (True, None)
    assert keys.seen("r", "other", 9.9) == (False, None)
    assert keys.seen("r", "k", 10.0) == (False, None)  # forgotten ttl after it was remembered
    assert len(keys) == 1
    assert keys.seen("s", "k", 15.0) == (False, None)
    assert len(keys) == 0


def test_recent_keys_forget_the_oldest_past_max_keys() -> None:
    keys: RecentKeys[None] = RecentKeys(60.0, max_keys=3)
    for i in range(5):
        keys.remember("r", str(i), None, float(i))
    assert len(keys) == 3
    assert [keys.seen("r", str(i), 5.0)[0] for i in range(5)] == [False, False, True, True, True]


async def test_the_safe_retry_loop_of_docs_hub_md_runs() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "hub.md").read_text(encoding="utf-8")
    section = doc[doc.index("**Safe retries.**") :]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "docs/hub.md", "exec"), namespace)
    async with Hub(history_size=10) as hub:
        first = await namespace["publish_once"](hub, "r", "hello", "message-1")
        again = await namespace["publish_once"](hub, "r", "hello", "message-1")
        assert first == again and [m.data for m in (await hub.history("r")).messages] == ["hello"]
