"""Routing: path compilation, convertors, Mount, url_path_for, the Router without an App."""

from __future__ import annotations

import re
import uuid

import pytest

from sockjet.convertors import Convertor, register_url_convertor
from sockjet.datastructures import URLPath
from sockjet.requests import Request
from sockjet.responses import PlainTextResponse, Response
from sockjet.routing import Match, Mount, NoMatchFound, Route, Router, WebSocketRoute, compile_path
from sockjet.testclient import TestClient
from sockjet.types import Receive, Scope, Send
from sockjet.websockets import WebSocket, WebSocketDisconnect
from tests.asgi import Channel, http_scope, websocket_scope


async def params_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({k: [type(v).__name__, str(v)] for k, v in websocket.path_params.items()})
    await websocket.close()


def homepage(request: Request) -> Response:
    return PlainTextResponse(f"home {request.path_params}")


router = Router(
    routes=[
        WebSocketRoute("/ws/str/{value}", params_endpoint, name="str"),
        WebSocketRoute("/ws/int/{value:int}", params_endpoint, name="int"),
        WebSocketRoute("/ws/float/{value:float}", params_endpoint, name="float"),
        WebSocketRoute("/ws/path/{value:path}", params_endpoint, name="path"),
        WebSocketRoute("/ws/uuid/{value:uuid}", params_endpoint, name="uuid"),
        Route("/", homepage, name="home"),
        Mount("/users/{team}", routes=[WebSocketRoute("/ws/{user}", params_endpoint, name="user")], name="users"),
        Mount("/static", app=PlainTextResponse("static"), name="static"),
    ]
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ws/str/abc", {"value": ["str", "abc"]}),
        ("/ws/int/42", {"value": ["int", "42"]}),
        ("/ws/float/1.5", {"value": ["float", "1.5"]}),
        ("/ws/path/a/b/c", {"value": ["str", "a/b/c"]}),
        (
            "/ws/uuid/12345678-1234-5678-1234-567812345678",
            {"value": ["UUID", "12345678-1234-5678-1234-567812345678"]},
        ),
        ("/users/red/ws/ann", {"team": ["str", "red"], "user": ["str", "ann"]}),
    ],
)
def test_path_params_are_converted(path: str, expected: dict[str, list[str]]) -> None:
    with TestClient(router).websocket_connect(path) as ws:
        assert ws.receive_json() == expected


def test_convertor_mismatch_is_not_found() -> None:
    with pytest.raises(WebSocketDisconnect) as info, TestClient(router).websocket_connect("/ws/int/abc"):
        pass
    assert info.value.code == 1000
    assert TestClient(router).get("/nothing").status_code == 404
    assert TestClient(router).get("/").text == "home {}"
    assert TestClient(router).get("/static/x").text == "static"


def test_url_path_for() -> None:
    assert router.url_path_for("int", value=5) == "/ws/int/5"
    assert router.url_path_for("float", value=1.25) == "/ws/float/1.25"
    assert router.url_path_for("path", value="a/b") == "/ws/path/a/b"
    uid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert router.url_path_for("uuid", value=uid) == f"/ws/uuid/{uid}"
    assert router.url_path_for("users:user", team="red", user="ann") == "/users/red/ws/ann"
    assert router.url_path_for("static", path="/css/a.css") == "/static/css/a.css"
    url = router.url_path_for("str", value="x")
    assert url.protocol == "websocket"
    assert url.make_absolute_url("https://example.com/base/") == "wss://example.com/base/ws/str/x"
    assert router.url_path_for("home").make_absolute_url("http://h") == "http://h/"


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("nope", {}, 'No route exists for name "nope" and params "".'),
        ("int", {"value": 1, "extra": 2}, 'No route exists for name "int" and params "value, extra".'),
        ("users:nope", {"team": "a"}, 'No route exists for name "users:nope" and params "team".'),
    ],
)
def test_url_path_for_no_match(name: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(NoMatchFound, match=re.escape(message)):
        router.url_path_for(name, **params)


@pytest.mark.parametrize(
    ("value", "convertor", "message"),
    [
        ("a/b", "str", "May not contain path separators"),
        ("", "str", "Must not be empty"),
        (-1, "int", "Negative integers are not supported"),
        (-1.0, "float", "Negative floats are not supported"),
        (float("nan"), "float", "NaN and infinite values are not supported"),
    ],
)
def test_convertor_to_string_rejects(value: object, convertor: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        router.url_path_for(convertor, value=value)


def test_compile_path_errors() -> None:
    with pytest.raises(ValueError, match=re.escape("Unknown path convertor 'nope'")):
        compile_path("/{x:nope}")
    with pytest.raises(ValueError, match=re.escape("Duplicated param name x at path /{x}/{x}")):
        compile_path("/{x}/{x}")
    with pytest.raises(ValueError, match=re.escape("Duplicated param names x, y at path /{x}/{y}/{x}/{y}")):
        compile_path("/{x}/{y}/{x}/{y}")
    regex, fmt, convertors = compile_path("/a/{b:int}")
    assert (regex.pattern, fmt, list(convertors)) == ("^/a/(?P<b>[0-9]+)$", "/a/{b}", ["b"])
    host_regex, _, _ = compile_path("{sub}.example.com")
    assert host_regex.match("api.example.com") is not None


def test_route_constructor_errors() -> None:
    with pytest.raises(ValueError, match=re.escape("Routed paths must start with '/'")):
        WebSocketRoute("ws", params_endpoint)
    with pytest.raises(ValueError, match=re.escape("Routed paths must start with '/'")):
        Route("x", homepage)
    with pytest.raises(ValueError, match=re.escape("Routed paths must start with '/'")):
        Mount("x", app=PlainTextResponse("x"))
    with pytest.raises(ValueError, match=re.escape("Either 'app=...', or 'routes=' must be specified")):
        Mount("/x")


def test_custom_convertor() -> None:
    class Upper(Convertor):
        regex = "[a-z]+"

        def convert(self, value: str) -> str:
            return value.upper()

        def to_string(self, value: object) -> str:
            return str(value).lower()

    register_url_convertor("upper", Upper())
    route = WebSocketRoute("/u/{name:upper}", params_endpoint, name="upper")
    match, child = route.matches(websocket_scope("/u/abc"))
    assert (match, child["path_params"]) == (Match.FULL, {"name": "ABC"})
    assert route.url_path_for("upper", name="ABC") == "/u/abc"


def test_matches_by_scope_type_and_method() -> None:
    route = Route("/r", homepage, methods=["post"])
    assert route.matches(websocket_scope("/r"))[0] is Match.NONE
    assert route.matches(http_scope("/r", method="GET"))[0] is Match.PARTIAL
    assert route.matches(http_scope("/r", method="POST"))[0] is Match.FULL
    ws_route = WebSocketRoute("/r", params_endpoint)
    assert ws_route.matches(http_scope("/r"))[0] is Match.NONE
    assert Mount("/m", app=PlainTextResponse("m")).matches({"type": "lifespan"})[0] is Match.NONE
    assert repr(route) == "Route(path='/r', name='homepage', methods=['POST'])"
    assert repr(ws_route) == "WebSocketRoute(path='/r', name='params_endpoint')"
    assert repr(Mount("/m", app=PlainTextResponse("m"), name="m")).startswith("Mount(path='/m', name='m', app=")


async def test_routes_as_standalone_asgi_apps() -> None:
    channel = Channel()
    await WebSocketRoute("/ws", params_endpoint)(websocket_scope("/other"), channel.receive, channel.send)
    assert channel.sent == [{"type": "websocket.close", "code": 1000, "reason": ""}]
    channel = Channel()
    await Route("/", homepage)(http_scope("/other"), channel.receive, channel.send)
    assert channel.sent[0]["status"] == 404
    channel = Channel([{"type": "http.request", "body": b""}])
    await Route("/", homepage, methods=["POST"])(http_scope("/"), channel.receive, channel.send)
    assert channel.sent[0]["status"] == 405
    assert (b"allow", b"POST") in channel.sent[0]["headers"]


def test_asgi_class_endpoint_and_default_app() -> None:
    class Raw:
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await PlainTextResponse("raw")(scope, receive, send)

    async def fallback(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("fallback", status_code=418)(scope, receive, send)

    custom = Router(routes=[Route("/raw", Raw())], default=fallback)
    custom.add_route("/added", homepage)
    custom.add_websocket_route("/ws", params_endpoint)
    custom.mount("/sub", Router(routes=[Route("/x", homepage)]))
    client = TestClient(custom)
    assert client.get("/raw").text == "raw"
    assert client.post("/raw").text == "raw"  # an ASGI app route takes every method
    assert client.get("/added").text == "home {}"
    assert client.get("/sub/x").text == "home {}"
    assert client.get("/zzz").status_code == 418


def test_url_path_strs() -> None:
    assert URLPath("/a", protocol="http").protocol == "http"
    with pytest.raises(ValueError, match=re.escape('protocol must be "http", "websocket" or "", got \'ftp\'')):
        URLPath("/a", protocol="ftp")
    assert URLPath("/a", host="other.org").make_absolute_url("http://h/") == "http://other.org/a"
