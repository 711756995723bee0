"""URL, Headers, QueryParams, State, cookies: the small values a connection exposes."""

from __future__ import annotations

import re

import pytest

from sockjet.datastructures import (
    URL,
    Address,
    Headers,
    ImmutableMultiDict,
    MultiDict,
    MutableHeaders,
    QueryParams,
    State,
    parse_cookies,
)


def test_url_is_a_str_with_components() -> None:
    url = URL("wss://user:pw@example.com:8443/ws/chat?room=a#frag")
    assert isinstance(url, str)
    assert url == "wss://user:pw@example.com:8443/ws/chat?room=a#frag"
    assert (url.scheme, url.netloc, url.path, url.query, url.fragment) == (
        "wss",
        "user:pw@example.com:8443",
        "/ws/chat",
        "room=a",
        "frag",
    )
    assert (url.username, url.password, url.hostname, url.port, url.is_secure) == (
        "user",
        "pw",
        "example.com",
        8443,
        True,
    )
    assert repr(url) == "URL('wss://user:********@example.com:8443/ws/chat?room=a#frag')"
    assert url.components.scheme == "wss"


def test_url_replace_keywords_and_str_replace() -> None:
    url = URL("http://example.com:8000/a?x=1")
    assert url.replace(scheme="https") == "https://example.com:8000/a?x=1"
    assert url.replace(port=9000) == "http://example.com:9000/a?x=1"
    assert url.replace(hostname="other.org") == "http://other.org:8000/a?x=1"
    assert url.replace(username="u", password="p") == "http://u:p@example.com:8000/a?x=1"
    assert URL("http://[::1]:80/").replace(port=81) == "http://[::1]:81/"
    assert url.replace("example", "sample") == "http://sample.com:8000/a?x=1"  # str.replace
    assert isinstance(url.replace(path="/b"), URL)


def test_url_query_helpers() -> None:
    url = URL("http://h/p?a=1&b=2")
    assert url.include_query_params(c=3) == "http://h/p?a=1&b=2&c=3"
    assert url.replace_query_params(z=9) == "http://h/p?z=9"
    assert url.remove_query_params("a") == "http://h/p?b=2"
    assert url.remove_query_params(["a", "b"]) == "http://h/p"


def test_url_from_scope_and_components() -> None:
    scope = {"scheme": "ws", "server": ("::1", 8000), "path": "/ws", "query_string": b"a=1", "headers": []}
    assert URL(scope=scope) == "ws://[::1]:8000/ws?a=1"
    assert URL(scope={"scheme": "wss", "server": ("h", 443), "path": "/", "headers": []}) == "wss://h/"
    assert URL(scope={"path": "/p", "query_string": b"q=1", "headers": []}) == "/p?q=1"
    assert URL(scope={"path": "/p", "headers": []}) == "/p"
    assert URL(scheme="https", netloc="h", path="/x") == "https://h/x"
    with pytest.raises(TypeError, match=re.escape('Cannot set both "url" and "scope"')):
        URL("http://h", scope=scope)
    with pytest.raises(TypeError, match=re.escape('Cannot set both "url" and "**components".')):
        URL("http://h", path="/x")


def test_headers_are_case_insensitive_multi_dict() -> None:
    headers = Headers(raw=[(b"a", b"1"), (b"b", b"2"), (b"a", b"3")])
    assert headers["A"] == "1"
    assert headers.getlist("a") == ["1", "3"]
    assert "B" in headers
    assert 1 not in headers  # type: ignore[comparison-overlap]  # a non-str key is simply absent
    assert headers.keys() == ["a", "b", "a"]
    assert headers.values() == ["1", "2", "3"]
    assert headers.items() == [("a", "1"), ("b", "2"), ("a", "3")]
    assert list(headers) == ["a", "b", "a"]
    assert len(headers) == 3
    assert headers.get("missing") is None
    with pytest.raises(KeyError):
        headers["missing"]
    assert headers == Headers(raw=[(b"a", b"3"), (b"b", b"2"), (b"a", b"1")])
    assert headers != {"a": "1"}
    assert repr(headers) == "Headers(raw=[(b'a', b'1'), (b'b', b'2'), (b'a', b'3')])"
    assert repr(Headers({"X-A": "1"})) == "Headers({'x-a': '1'})"
    assert Headers().raw == []


def test_headers_constructor_conflicts() -> None:
    with pytest.raises(TypeError, match=re.escape('Cannot set "headers" together with "raw" or "scope".')):
        Headers({"a": "1"}, raw=[])
    with pytest.raises(TypeError, match=re.escape('Cannot set both "raw" and "scope".')):
        Headers(raw=[], scope={"headers": []})
    scope = {"headers": ((b"a", b"1"),)}
    assert Headers(scope=scope)["a"] == "1"


def test_mutable_headers() -> None:
    headers = MutableHeaders(raw=[(b"a", b"1"), (b"a", b"2")])
    headers["A"] = "3"
    assert headers.raw == [(b"a", b"3")]
    headers["b"] = "4"
    headers.append("c", "5")
    assert headers.setdefault("c", "x") == "5"
    assert headers.setdefault("d", "6") == "6"
    headers.update({"b": "7"})
    del headers["c"]
    headers.add_vary_header("Origin")
    headers.add_vary_header("Cookie")
    assert headers.items() == [("a", "3"), ("b", "7"), ("d", "6"), ("vary", "Origin, Cookie")]
    assert Headers(raw=[(b"x", b"1")]).mutablecopy().raw == [(b"x", b"1")]


def test_query_params() -> None:
    params = QueryParams("a=1&a=2&b=&c=%20x")
    assert params["a"] == "2"
    assert params.getlist("a") == ["1", "2"]
    assert params["b"] == ""
    assert params["c"] == " x"
    assert str(params) == "a=1&a=2&b=&c=+x"
    assert QueryParams(b"x=1")["x"] == "1"
    assert QueryParams({"k": "v"}).multi_items() == [("k", "v")]
    assert QueryParams([("k", "v")], z="1").multi_items() == [("k", "v"), ("z", "1")]
    assert QueryParams() == QueryParams("")
    assert repr(QueryParams("a=1")) == "QueryParams([('a', '1')])"


def test_multi_dicts() -> None:
    immutable = ImmutableMultiDict([("a", 1), ("a", 2)])
    assert (list(immutable.keys()), list(immutable.values()), list(immutable.items())) == (["a"], [2], [("a", 2)])
    assert len(immutable) == 1
    assert "a" in immutable
    assert immutable != {"a": 2}
    assert ImmutableMultiDict(immutable) == immutable
    with pytest.raises(TypeError, match=re.escape("Too many arguments.")):
        ImmutableMultiDict({}, {})
    mutable = MultiDict([("a", 1)])
    mutable["b"] = 2
    mutable.append("a", 3)
    assert mutable.getlist("a") == [1, 3]
    mutable.setlist("a", [])
    assert "a" not in mutable
    mutable.update({"b": 5}, c=6)
    assert mutable.multi_items() == [("b", 5), ("c", 6)]
    assert mutable.pop("c") == 6
    del mutable["b"]
    assert len(mutable) == 0


def test_state_attribute_access() -> None:
    state = State({"a": 1})
    state.b = 2
    assert (state.a, state.b, len(state), sorted(state), "a" in state) == (1, 2, 2, ["a", "b"], True)
    del state.a
    with pytest.raises(AttributeError, match=re.escape("'State' object has no attribute 'a'")):
        _ = state.a
    with pytest.raises(AttributeError, match=re.escape("'State' object has no attribute 'zz'")):
        del state.zz
    assert repr(state) == "State({'b': 2})"


def test_parse_cookies() -> None:
    assert parse_cookies('a=1; b="two"; c; =x; a=3') == {"a": "3", "b": "two", "": "x"}
    assert parse_cookies("") == {}


def test_address() -> None:
    assert Address("h", 1) == ("h", 1)
    assert Address("h", 1).host == "h"
