"""ClientScript: sockjet.js and sockjet.d.ts served from the installed package, cached by ETag."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import pytest

from sockjet import App, WebSocketDisconnect
from sockjet.channels import ClientScript
from sockjet.testclient import TestClient

SHIPPED = resources.files("sockjet").joinpath("js")


def client(script: ClientScript | None = None) -> TestClient:
    app = App()
    app.mount("/_sockjet", script or ClientScript())
    return TestClient(app)


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("sockjet.js", "text/javascript; charset=utf-8"), ("sockjet.d.ts", "application/typescript; charset=utf-8")],
)
def test_serves_the_shipped_files_with_type_etag_and_caching(name: str, content_type: str) -> None:
    body = SHIPPED.joinpath(name).read_bytes()
    response = client().get(f"/_sockjet/{name}")
    assert response.status_code == 200
    assert response.content == body
    assert response.headers["content-type"] == content_type
    assert response.headers["content-length"] == str(len(body))
    assert response.headers["etag"] == f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["access-control-allow-origin"] == "*"


def test_the_module_is_the_client_with_its_public_names() -> None:
    text = client().get("/_sockjet/sockjet.js").text
    for name in ("Client", "Subscription", "SockjetError", "backoff", "isNewer", "applyPresence", "closeAction"):
        assert re.search(rf"^export (?:class|function|const) {name}\b", text, re.MULTILINE), name
    types = client().get("/_sockjet/sockjet.d.ts").text
    assert "export declare class Client" in types


def test_a_matching_if_none_match_is_answered_304_without_a_body() -> None:
    http = client()
    etag = http.get("/_sockjet/sockjet.js").headers["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = http.get("/_sockjet/sockjet.js", headers={"if-none-match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == "no-cache"
    stale = http.get("/_sockjet/sockjet.js", headers={"if-none-match": '"stale"'})
    assert stale.status_code == 200
    assert stale.content == SHIPPED.joinpath("sockjet.js").read_bytes()


def test_each_file_has_its_own_etag() -> None:
    http = client()
    js = http.get("/_sockjet/sockjet.js").headers["etag"]
    ts = http.get("/_sockjet/sockjet.d.ts").headers["etag"]
    assert js != ts
    assert http.get("/_sockjet/sockjet.d.ts", headers={"if-none-match": js}).status_code == 200


def test_head_sends_the_headers_and_no_body() -> None:
    response = client().head("/_sockjet/sockjet.js")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(SHIPPED.joinpath("sockjet.js").read_bytes()))


def test_max_age_sets_public_caching() -> None:
    response = client(ClientScript(max_age=3600)).get("/_sockjet/sockjet.js")
    assert response.headers["cache-control"] == "public, max-age=3600"


@pytest.mark.parametrize("bad", [-1, 1.5, True, "60"])
def test_max_age_must_be_whole_seconds(bad: object) -> None:
    with pytest.raises(ValueError, match=re.escape(f"max_age is a number of seconds >= 0, got {bad!r}.")):
        ClientScript(max_age=bad)  # type: ignore[arg-type]


def test_other_paths_are_404_and_other_methods_405() -> None:
    http = client()
    for path in ("/_sockjet/", "/_sockjet/app.js", "/_sockjet/../pyproject.toml", "/_sockjet/js/sockjet.js"):
        response = http.get(path)
        assert response.status_code == 404, path
        assert response.text == "Not Found"
    response = http.post("/_sockjet/sockjet.js")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_a_websocket_to_the_mount_is_refused() -> None:
    with pytest.raises(WebSocketDisconnect) as info, client().websocket_connect("/_sockjet/sockjet.js"):
        pass
    assert (info.value.code, info.value.reason) == (1008, "sockjet.js is served over HTTP")


async def test_lifespan_and_other_scopes_are_ignored() -> None:
    sent: list[object] = []

    async def receive() -> dict[str, object]:
        raise AssertionError("not read")

    async def send(message: object) -> None:
        sent.append(message)

    await ClientScript()({"type": "lifespan"}, receive, send)
    assert sent == []
